"""The edits: ablate, set or steer units from the widget, and see the views downstream change.

Twin of ``js/src/panels/edits.ts``. The ``edits`` trait lists the active edits (each an
``EditSpec``: layer, units, positions, op and amount), validated against the layers the
explorer shows; the session then runs every pass inside :func:`actscope.intervene` with them
(the clean run stays cached beside). The layer view, the outputs, the attention, the logit
lens and the saliency map show the edited run, each blob tagged with the edits it answers
(``edits_tag``) so that the front end never shows a clean view as an edited one, or the
reverse; the ``edit_view`` trait turns the layer view to the clean run or the difference.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, get_args

import torch
import traitlets

from ...engine.errors import InputError
from ...engine.interventions import Edit
from ..contract import EditOp, EditSpec, EditView
from .base import Panel

if TYPE_CHECKING:
    from ...engine.layers import LayerInfo

OPS: tuple[str, ...] = get_args(EditOp)
VIEWS: tuple[str, ...] = get_args(EditView)
MAX_AMOUNT = 1e6
"""Amounts are kept within ±1e6 and rounded to 4 decimals: the tag then reads the same in
Python and JavaScript (which write other numbers differently)."""


def normalised_amount(value: Any) -> float | int:
    """``value`` as the ``edits`` trait keeps it: finite, within ±1e6, 4 decimals, an
    integer when it has no fraction."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise InputError(f"An edit's amount must be a number, not {value!r}.") from None
    if not math.isfinite(amount) or abs(amount) > MAX_AMOUNT:
        raise InputError(f"An edit's amount must be finite and within ±{MAX_AMOUNT:g}: {value!r}.")
    amount = round(amount, 4) + 0.0  # no -0.0
    return int(amount) if amount.is_integer() else amount


def _indices(value: Any, count: int, what: str, layer: str) -> list[int] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, int) else list(value)
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float) or int(item) != item:
            raise InputError(f"Edit of {layer!r}: {what} must be integers, not {item!r}.")
        i = int(item)
        if not -count <= i < count:
            raise InputError(
                f"Edit of {layer!r}: {what[:-1]} {i} is out of range; the layer has {count} "
                f"{what} (0 to {count - 1})."
            )
        out.append(i % count)
    if not out:
        raise InputError(f"Edit of {layer!r}: no {what} chosen (None means all).")
    return sorted(set(out))


def normalised(spec: Any, info_of: Any) -> EditSpec:
    """One ``edits`` entry checked against the layer (``info_of(name)`` gives its
    ``LayerInfo``, raising for an unknown name) and normalised: units and positions as
    sorted lists (or None: all), the amount as :func:`normalised_amount`."""
    if not isinstance(spec, dict):
        raise InputError(
            f"Each edit must be a dict with layer, units, op and amount, not {spec!r}."
        )
    unknown = set(spec) - {"layer", "units", "positions", "op", "amount"}
    if unknown:
        raise InputError(
            f"Unknown keys {sorted(unknown)} in edit {spec!r}: an edit has layer, units, "
            "positions, op and amount."
        )
    layer = spec.get("layer")
    if not isinstance(layer, str):
        raise InputError(f"An edit needs the name of its layer: {spec!r}.")
    info: LayerInfo = info_of(layer)
    op = spec.get("op", "scale")
    if op not in OPS:
        raise InputError(f"Edit of {layer!r}: op {op!r} is not one of {', '.join(OPS)}.")
    if info.kind == "none":
        raise InputError(f"Edit of {layer!r}: the layer returned no tensor, so nothing to edit.")
    return {
        "layer": layer,
        "units": _indices(spec.get("units"), max(info.n_units, 1), "units", layer),
        "positions": _indices(spec.get("positions"), max(info.n_positions, 1), "positions", layer),
        "op": op,
        "amount": normalised_amount(spec.get("amount", 0)),
    }


def to_edit(spec: EditSpec) -> Edit:
    """The engine's :class:`~actscope.Edit` for one ``edits`` entry."""
    units, amount = spec["units"], float(spec["amount"])
    common: dict[str, Any] = {"units": units, "positions": spec["positions"]}
    if spec["op"] == "scale":
        return Edit(spec["layer"], scale=amount, **common)
    if spec["op"] == "value":
        return Edit(spec["layer"], value=amount, **common)
    if units is None:
        raise InputError(
            f"Edit of {spec['layer']!r}: steering ('add') needs the units to add to; "
            "for a direction over every unit use actscope.Edit(add=...) in Python."
        )
    return Edit(spec["layer"], add=torch.ones(len(units)), coef=amount, **common)


def describe(spec: EditSpec) -> str:
    """How the widget names an edit: ``"transformer.h.1.mlp.act · unit 3 · × 0"``."""
    units = spec["units"]
    what = (
        "every unit"
        if units is None
        else f"unit{'s' if len(units) > 1 else ''} " + ", ".join(map(str, units))
    )
    op = {"scale": "×", "value": "=", "add": "+"}[spec["op"]]
    where = "" if spec["positions"] is None else f" at {', '.join(map(str, spec['positions']))}"
    return f"{spec['layer']} · {what}{where} · {op} {spec['amount']}"


class EditsPanel(Panel):
    """Edits of the units of any layer, applied to every view downstream."""

    edits: traitlets.List[dict[str, Any]] = traitlets.List(traitlets.Dict()).tag(sync=True)
    """Type: list of ``EditSpec`` (layer, units: list | None, positions: list | None, op:
    "scale" | "value" | "add", amount). Default: [] (the clean model). Set from Python or
    from the widget's ablate / set / steer buttons; a bad edit raises (naming the layer,
    the range, or the closest layer names) and the list keeps its last good value."""
    edit_view = traitlets.Unicode("edited").tag(sync=True)
    """Type: "edited" | "clean" | "difference". Default: "edited". What the layer view shows
    while edits are active: the edited run, the clean run, or edited minus clean."""

    @traitlets.validate("edits")
    def _check_edits(self, proposal: Any) -> list[EditSpec]:
        value = proposal["value"]
        if not self._ready():
            return list(value)
        out: list[EditSpec] = []

        def test() -> None:
            if not isinstance(value, list | tuple):
                raise InputError(f"edits must be a list of edits, not {type(value).__name__}.")
            for spec in value:
                checked = normalised(spec, self.session.info)
                to_edit(checked)  # the engine's own checks
                out.append(checked)

        self._checked(value, test)
        return out

    @traitlets.validate("edit_view")
    def _check_edit_view(self, proposal: Any) -> str:
        value = proposal["value"]

        def test() -> None:
            if value not in VIEWS:
                raise InputError(f"edit_view {value!r} is not one of {', '.join(VIEWS)}.")

        return str(self._checked(value, test))

    @traitlets.observe("edits")
    def _on_edits(self, _change: Any) -> None:
        if not self._ready():
            return
        self.session.set_edits([to_edit(spec) for spec in self.edits])  # type: ignore[arg-type]
        self.__dict__.pop("_outputs_cache", None)
        self._refresh_edited_views()

    @traitlets.observe("edit_view")
    def _on_edit_view(self, _change: Any) -> None:
        if self._ready() and self.edits:
            self._refresh_layer_view(raise_errors=False)

    def _refresh_edited_views(self) -> None:
        """Every view that depends on the model's run, again (their observers' work). A
        quick model's outputs go first: what an edit did to the prediction is the answer
        the click asked for (a slow one's are a job, started after the layer view's pass
        so that the two do not run the model at once)."""
        quick = self._outputs_quick()
        if quick:
            self._refresh_outputs()
        self._refresh_layer_view(raise_errors=False)
        if not quick:
            self._refresh_outputs()
        self._refresh_attention()
        self._refresh_lens()
        self._refresh_saliency()
        self._refresh_specific()

    if TYPE_CHECKING:

        def _refresh_layer_view(self, *, raise_errors: bool) -> None: ...
        def _refresh_outputs(self) -> None: ...
        def _outputs_quick(self) -> bool: ...
        def _refresh_attention(self) -> None: ...
        def _refresh_lens(self) -> None: ...
        def _refresh_saliency(self) -> None: ...
        def _refresh_specific(self) -> None: ...

    def add_edit(
        self,
        op: str = "scale",
        amount: float = 0.0,
        *,
        layer: str | None = None,
        units: int | list[int] | None = None,
        positions: int | list[int] | None = None,
    ) -> None:
        """Add an edit, as the widget's buttons do: by default ablate (``scale`` by 0) the
        selected unit of the selected layer at every position.

        Example::

            ex.add_edit("value", 3.0, units=[12, 40])   # clamp two units of this layer
            ex.add_edit("add", 5.0, units=7, positions=4)
            ex.edits = []                               # back to the clean model
        """
        if units is None and self.unit is not None:
            units = [self.unit]
        spec = {
            "layer": layer if layer is not None else self.layer,
            "units": [units] if isinstance(units, int) else units,
            "positions": [positions] if isinstance(positions, int) else positions,
            "op": op,
            "amount": amount,
        }
        self.edits = [*self.edits, spec]

    def _figure_edits(self, input_index: int | None = None, *, k: int = 10) -> Any:
        """``ex.figure(view="edits")``: the top predictions of the edited run beside the
        clean run's (for a language model, at the selected position)."""
        from .. import figures

        index = self.input_index if input_index is None else input_index
        if not self.edits:
            raise InputError("No edits are active: add one (ex.add_edit(...)) to compare runs.")
        edited, clean = self._compare_predictions(index, k)  # type: ignore[attr-defined]
        edits = "; ".join(describe(spec) for spec in self.edits)  # type: ignore[arg-type]
        return figures.compare_figure(
            edited[0], edited[1], clean, title=f"edited vs clean · input {index} · {edits}"
        )
