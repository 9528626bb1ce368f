"""The units most specific to a group of inputs: "which features fire here and not there?".

Twin of ``js/src/panels/specific.ts``. The ``contrast_group`` trait holds the group (input
indices; empty: nothing is computed); ``specific_view`` the layer's units ranked by how
much higher their per-input maximum is, on average, over the group than over the
explorer's other inputs (:func:`actscope.contrast` of the two groups' maxima, as
:func:`actscope.specific_units` does from inputs). Each input's maxima are kept per layer
(``(units,)`` floats, by edits), so changing the group costs no forward pass.
A snapshot holds, for each saved input and lens, the group of that input alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import traitlets

from ...engine.errors import InputError
from ...engine.ranking import Ranking, contrast, unit_stats
from .. import wire
from ..contract import SpecificViewMeta, snapshot_key, specific_key
from ..jobs import Progress
from .base import Panel, SnapshotPlan
from .layer_view import unit_axis_of
from .outputs import unavailable_blob

SPECIFIC_K = 20


def specific_blob(found: Ranking, *, layer: str, group: list[int], others: int) -> bytes:
    meta: SpecificViewMeta = {
        "key": specific_key(layer, group),
        "layer": layer,
        "group": sorted(set(group)),
        "others": others,
    }
    arrays = {
        "units": found.units.to(torch.int32),
        "difference": found.mean.float(),
        "group_mean": found.max.float(),
        "others_mean": (found.max - found.mean).float(),
    }
    return wire.encode(arrays, meta, precision="f16")


class SpecificPanel(Panel):
    """The selected layer's units most specific to ``contrast_group``."""

    contrast_group = traitlets.List(traitlets.Int(), []).tag(sync=True)
    """Type: list of input indices. Default: empty (nothing computed). The group whose
    units to contrast with the explorer's other inputs: ``ex.contrast_group = [0, 3]``."""
    specific_view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob (``SpecificViewMeta``, or ``UnavailableMeta``) of the current layer
    and group. Default: empty while the group is."""

    @traitlets.validate("contrast_group")
    def _check_group(self, proposal: Any) -> list[int]:
        value = list(proposal["value"])

        def test() -> None:
            n = len(self.session.inputs) if self._ready() else None
            for i in value:
                if n is not None and not 0 <= i < n:
                    raise InputError(
                        f"contrast_group: input {i} is out of range; the explorer has {n} "
                        f"inputs (0 to {n - 1})."
                    )

        return sorted(set(self._checked(value, test)))

    @traitlets.observe("layer", "contrast_group")
    def _on_specific(self, _change: Any) -> None:
        self._refresh_specific()

    def _input_maxima(self, layer: str, index: int) -> torch.Tensor:
        """Input ``index``'s maximum of each unit of ``layer`` (with the active edits)."""
        cache: dict[tuple[str, int, str], torch.Tensor] = self.__dict__.setdefault("_maxima", {})
        key = (layer, index, self._edit_tag())
        if key not in cache:
            if len(cache) > 4096:
                cache.clear()
            act = self.session.activation(layer, index)
            axis = unit_axis_of(self.session.info(layer).kind)
            cache[key] = unit_stats(act, axis).max.float().cpu()
        return cache[key]

    def _specific(
        self,
        layer: str,
        group: list[int],
        k: int = SPECIFIC_K,
        check: Callable[[], None] = lambda: None,
    ) -> tuple[Ranking, int]:
        """The units most specific to ``group`` (against every other input), and how many
        other inputs there are; ``check`` runs before each input's pass (a job's Cancel)."""
        n = len(self.session.inputs)
        chosen = sorted(set(group))
        others = [i for i in range(n) if i not in chosen]
        if not chosen or not others:
            raise InputError(
                f"A contrast needs inputs in the group and outside it: the group is "
                f"{chosen or 'empty'} of the explorer's {n} inputs. Add inputs with "
                "ex.add_input(...) or change ex.contrast_group."
            )

        def maxima(i: int) -> torch.Tensor:
            check()
            return self._input_maxima(layer, i)

        a = torch.stack([maxima(i) for i in chosen])
        b = torch.stack([maxima(i) for i in others])
        return contrast(a, b, unit_axis=0, k=k), len(others)

    def _specific_blob(
        self, layer: str, group: list[int], check: Callable[[], None] = lambda: None
    ) -> bytes:
        key = specific_key(layer, group)
        try:
            found, others = self._specific(layer, group, check=check)
        except InputError as exc:
            return self._tagged(unavailable_blob(key, str(exc)), self._edit_tag())
        blob = specific_blob(found, layer=layer, group=group, others=others)
        return self._tagged(blob, self._edit_tag())

    def _refresh_specific(self) -> None:
        if not self._ready() or not self.contrast_group:
            return
        layer, group = self.layer, list(self.contrast_group)
        tag = self._edit_tag()

        def work(progress: Progress) -> bytes:
            return self._specific_blob(layer, group, progress.check)

        def done(blob: bytes) -> None:
            # an answer for a layer, group or edits no longer asked for is not shown
            if (self.layer, list(self.contrast_group), self._edit_tag()) == (layer, group, tag):
                self.specific_view = blob

        def failed(exc: BaseException) -> None:
            why = f"{type(exc).__name__}: {exc}"
            blob = unavailable_blob(specific_key(layer, group), why)
            self.specific_view = self._tagged(blob, tag)

        self._jobs.start("specific", work, done, failed, quiet=True)

    def snapshot_entries(self, plan: SnapshotPlan) -> list[tuple[str, bytes]]:
        """Each saved input alone against the others, for the saved lenses' features (a
        contrast needs a pass of every input: other layers' are computed live only)."""
        entries = super().snapshot_entries(plan)
        if len(self.session.inputs) < 2:
            return entries
        asked = plan.asked_layers if plan.asked_layers is not None else [self.layer]
        for name in [n for n in asked if self.session.info(n).features_of]:
            for i in plan.inputs:
                blob = self._specific_blob(name, [i])
                entries.append((snapshot_key("specific", specific_key(name, [i])), blob))
        return entries

    def _figure_specific(
        self, layer: str | None = None, group: list[int] | None = None, *, k: int = SPECIFIC_K
    ) -> Any:
        """``ex.figure(view="specific")``: the units most specific to a group of inputs, as
        bars of the difference of the group's mean maximum and the others' (the widget's
        list under the ranking).

        Args:
            layer: defaults to the current layer.
            group: input indices; defaults to ``contrast_group``, or the current input.
            k: units at most.
        """
        from .. import figures

        name = self.layer if layer is None else layer
        chosen = list(group if group is not None else self.contrast_group or [self.input_index])
        found, others = self._specific(name, chosen, k)
        info = self.session.info(name)
        word = "feature" if info.features_of else "unit"
        labels = self.session.inputs.labels
        title = (
            f"The {word}s most specific to {', '.join(labels[i] for i in sorted(set(chosen)))} "
            f"(against the other {others} inputs) · {name}"
        )
        return figures.units_at_figure(
            found, word, title=title, values=found.mean, axis="mean maximum: group − others"
        )
