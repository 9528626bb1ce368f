"""The layer view: one layer's activation for the selected input, and its unit ranking.

Twin of ``js/src/panels/layer_view.ts``. The ``layer_view`` trait holds the blob of the
current ``(input_index, layer)``, tagged with :func:`~actscope.widget.contract.layer_view_key`
so the front end never draws another selection's data. While a kernel is live the front
end prefetches other layers and inputs with ``fetch`` messages, answered with the same
blob as a message buffer.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import traitlets

from ...engine.inputs import InputSet
from ...engine.layers import LayerInfo
from ...engine.lenses import lens_module
from ...engine.ranking import Ranking, by_count, descending, top_units, unit_stats
from .. import wire
from ..contract import (
    ErrorMeta,
    FetchRequest,
    LayerViewMeta,
    LayerViewReply,
    layer_view_key,
    snapshot_key,
)
from ..display import message, value_summary
from ..sparse import sparse_arrays
from ..window import further_windows, trim, windowed
from .base import Panel, SnapshotPlan

DEFAULT_MAX_VALUES = 2_000_000  # 4 MB of float16 per view message
DEFAULT_TOP_K = 50
DEFAULT_STORE_BYTES = 96 << 20
"""The front end's store of decoded views (``store_bytes``)."""


def unit_axis_of(kind: str) -> int:
    """Where the units are in a view's layout (see ``engine.layers.view_layout``)."""
    return 1 if kind == "sequence" else 0


def layer_view_blob(
    info: LayerInfo,
    act: torch.Tensor,
    *,
    layer: str,
    input_index: int,
    inputs: InputSet,
    top_k: int = DEFAULT_TOP_K,
    max_values: int = DEFAULT_MAX_VALUES,
    precision: wire.Precision = "f16",
    explained: float | None = None,
    start: int = 0,
    unit: int | None = None,
) -> bytes:
    """The blob for one layer of one input: the activation (trimmed if huge) and its ranking.

    ``layer`` is the name the view answers (the selection, an alias of ``info.name`` maybe);
    ``precision`` applies to the activation; rankings always travel as float16. A sequence
    view over ``max_values`` travels as a window of positions (a spatial one, of channels)
    from ``start`` with the whole layer's overview: see ``widget/window.py``.
    """
    axis = unit_axis_of(info.kind)
    stats = unit_stats(act, axis)
    arrays: dict[str, Any] = {}
    sparse = sparse_arrays(act, info, max_values)
    long = sparse is None and info.kind in ("sequence", "spatial")
    window = windowed(act, max_values, start, unit, stats, info.kind) if long else None
    if sparse is not None:
        arrays, trimmed, sparse_meta = sparse
    elif window is not None:
        arrays, trimmed, window_meta, overview_meta = window
    else:
        shown, trimmed = trim(act, info.kind, max_values)
        arrays["act"] = shown
    meta: LayerViewMeta = {
        **value_summary(act),  # type: ignore[typeddict-item]  # mypy: NotRequired + **
        "key": layer_view_key(input_index, layer),
        "layer": layer,
        "input_index": input_index,
        "kind": info.kind,
        "shape": list(act.shape),
        "layer_shape": list(info.shape or ()),
        "unit_axis": info.unit_axis,
        "n_units": int(act.shape[axis]) if act.ndim else 1,
        "trimmed": trimmed,
    }
    if sparse is not None:
        meta["sparse"] = sparse_meta
    elif window is not None:
        meta["window"], meta["overview"] = window_meta, overview_meta
    if explained is not None and math.isfinite(explained):
        meta["explained"] = round(explained, 4)
    tokens = inputs.tokens(input_index)
    if tokens is not None:
        meta["tokens"] = tokens
    for by in ("max", "mean", "count"):
        arrays.update(_ranking_arrays(top_units(stats, top_k, by), by))
    image = inputs.image(input_index)
    if image is not None:
        arrays["image"] = image
    return wire.encode(
        arrays,
        meta,
        precisions={"act": precision, "overview": precision, "sp_vals": "u8", **EXACT},
    )


EXACT: dict[str, wire.Precision] = dict.fromkeys(("column", "unit_max", "unit_mean"), "f32")
"""A long view's arrays that travel exact (``widget/window.py``)."""


def _ranking_arrays(ranking: Ranking, by: str) -> dict[Any, torch.Tensor]:
    arrays = {
        f"rank_{by}_units": _compact(ranking.units),
        f"rank_{by}_max": ranking.max,
        f"rank_{by}_mean": ranking.mean,
        f"rank_{by}_argmax": _compact(ranking.argmax),
    }
    if ranking.count is not None:
        arrays[f"rank_{by}_count"] = _compact(ranking.count)
    return arrays


def _compact(indices: torch.Tensor) -> torch.Tensor:
    """Indices (or counts) as two bytes each when they fit (the wire's ``u16``), else four."""
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) > 0xFFFF):
        return indices
    return indices.to(torch.uint16)


def error_blob(layer: str, input_index: int, text: str) -> bytes:
    """A blob that answers a selection with an error message instead of data."""
    meta: ErrorMeta = {"key": layer_view_key(input_index, layer), "error": text}
    return wire.encode({}, {**meta, "layer": layer, "input_index": input_index})


class LayerViewPanel(Panel):
    """The selected layer's activation for the selected input, with its ranking."""

    messages: ClassVar[dict[str, str]] = {"fetch": "_answer_fetch"}

    layer_view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob (``LayerViewMeta``) of the current (input_index, layer), tagged.
    Default: the first selection's view, computed when the explorer is made."""
    prefetch = traitlets.Bool(True).tag(sync=True)
    """Type: bool. Default: True. While a kernel is live, fetch the current input's other
    layers in the background so that moving between layers needs no round trip."""
    store_bytes = traitlets.Int(DEFAULT_STORE_BYTES).tag(sync=True)
    """Type: int. Default: 96 MiB. The most bytes of decoded views the front end keeps
    (the least recently drawn go first; prefetching stops short of it), within what the
    browser says it can hold (a quarter of Chromium's JS heap limit, a sixteenth of
    ``navigator.deviceMemory``). A snapshot's views are kept whatever it says, but count
    against it. At least 1 MiB."""

    @traitlets.validate("store_bytes")
    def _check_store_bytes(self, proposal: Any) -> int:
        value = proposal["value"]

        def test() -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 << 20:
                from ...engine.errors import InputError

                raise InputError(
                    f"store_bytes must be an integer of at least 1 MiB (1048576), not {value!r}."
                )

        return int(self._checked(value, test))

    _top_k: int = DEFAULT_TOP_K
    _max_values: int = DEFAULT_MAX_VALUES

    @traitlets.observe("layer", "input_index")
    def _on_layer_view_selection(self, _change: Any) -> None:
        if self._ready():
            self._refresh_layer_view(raise_errors=not self._from_front)

    def _refresh_layer_view(self, *, raise_errors: bool) -> None:
        """Recompute ``layer_view`` for the current selection."""
        layer, index = self.layer, self.input_index
        try:
            self.layer_view = self._layer_view_blob(layer, index, unit=self.unit)
        except Exception as exc:
            blob = error_blob(layer, index, message(exc))
            self.layer_view = self._tagged(blob, self._edit_tag(with_view=True))
            self._show_error(exc, "view")
            if raise_errors:
                raise
            return
        self._view_ok()

    def _view_ok(self) -> None:
        """A view drew: clear the error banner (subclasses say what "ready" shows)."""

    def _layer_view_blob(
        self,
        layer: str,
        input_index: int,
        precision: wire.Precision = "f16",
        *,
        start: int = 0,
        unit: int | None = None,
    ) -> bytes:
        tag = self._edit_tag(with_view=True)
        view = self.edit_view if tag else "edited"
        info = self.session.info(layer)
        act = self._shown_activation(layer, input_index, view)
        blob = layer_view_blob(
            info,
            act,
            explained=self._explained(info, act, input_index, view),
            layer=layer,
            input_index=input_index,
            inputs=self.session.inputs,
            top_k=self._top_k,
            max_values=self._max_values,
            precision=precision,
            start=start,
            unit=unit,
        )
        return self._tagged(blob, tag)

    def _explained(
        self, info: LayerInfo, features: torch.Tensor, input_index: int, view: str
    ) -> float | None:
        """For a lens with a decoder, the fraction of the variance of the layer it
        reconstructs (its own, or a transcoder's into layer) on this input that the features'
        reconstruction explains (``None`` otherwise, and for a difference)."""
        bound = lens_module(self.session.model, info.name) if info.features_of else None
        if bound is None or bound.lens.decode is None or view == "difference":
            return None
        try:  # what the decoder reconstructs: the layer, or a transcoder's into layer
            base = self._shown_activation(bound.into_name, input_index, view).float()
        except Exception:  # that layer is not among the explorer's (layers=)
            return None
        with torch.no_grad():
            recon = bound.lens.decode(features.to(base.device)).float()
        if recon.shape != base.shape:
            return None
        total = float(((base - base.mean(0)) ** 2).sum())
        return 1.0 - float(((recon - base) ** 2).sum()) / total if total > 0 else None

    def _shown_activation(self, layer: str, input_index: int, view: str) -> torch.Tensor:
        """The activation the view shows: edited (or clean, with no edits), clean, or
        edited minus clean."""
        session = self.session
        if view == "clean":
            return session.activation(layer, input_index, edited=False)
        act = session.activation(layer, input_index)
        if view == "difference":
            return act - session.activation(layer, input_index, edited=False)
        return act

    def _answer_fetch(self, content: FetchRequest, _buffers: Any) -> None:
        layer, index = str(content["layer"]), int(content["input_index"])
        reply: LayerViewReply = {
            "type": "layer_view",
            "id": int(content["id"]),
            "key": layer_view_key(index, layer),
        }
        start, unit = int(content.get("start", 0)), content.get("unit")
        try:
            blob = self._layer_view_blob(
                layer, index, start=start, unit=None if unit is None else int(unit)
            )
        except Exception as exc:
            self.send({**reply, "error": message(exc)})
            return
        self.send(reply, [blob])

    def snapshot_entries(self, plan: SnapshotPlan) -> list[tuple[str, bytes]]:
        entries = super().snapshot_entries(plan)
        for i in plan.inputs:
            if len(plan.layers) > 1:
                self.session.activations(i)  # one pass for all the layers
            for name in plan.layers:
                blob = self._layer_view_blob(name, i, precision=plan.precision)  # type: ignore[arg-type]
                entries.append((snapshot_key("layer_view", layer_view_key(i, name)), blob))

        def blob_at(layer: str, i: int, start: int) -> bytes:
            return self._layer_view_blob(layer, i, plan.precision, start=start)  # type: ignore[arg-type]

        return entries + further_windows(entries, plan.window_bytes, blob_at)

    def _figure_at(
        self,
        position: int | None = None,
        layer: str | None = None,
        input_index: int | None = None,
        *,
        k: int = 12,
    ) -> Any:
        """``ex.figure(view="at")``: the units (a lens's features) most active at one token
        of a sequence layer, as bars: the list under a clicked token in the widget.

        Args:
            position: the token (default: the selected ``position``).
            layer, input_index: default to the current selection.
            k: units at most.
        """
        from ...engine.errors import InputError
        from ...engine.search import top_at
        from .. import figures

        name = layer if layer is not None else self.layer
        index = input_index if input_index is not None else self.input_index
        where = position if position is not None else self.position
        info = self.session.info(name)
        if info.kind != "sequence" or where is None:
            raise InputError(
                "The units at a token need a sequence layer and a position: select a token "
                "(ex.position = ...) or pass position=."
            )
        act = self._shown_activation(name, index, self.edit_view if self.edits else "edited")
        found = top_at(act, where, k, name)
        tokens = self.session.inputs.tokens(index) or []
        token = tokens[where] if 0 <= where < len(tokens) else str(where)
        word = "feature" if info.features_of else "neuron"
        return figures.units_at_figure(
            found, word, title=f"The {word}s most active at {token!r} (position {where}) · {name}"
        )

    def _figure_overview(
        self, layer: str | None = None, input_index: int | None = None, *, tiles: int = 512
    ) -> Any:
        """``ex.figure(view="overview")``: a sequence layer whole, as tiles of its value of
        largest magnitude (the overview the widget draws beside a long input's window).

        Args:
            layer, input_index: default to the current selection.
            tiles: the most tiles along each axis.
        """
        from ..window import overview_figure

        name = layer if layer is not None else self.layer
        index = input_index if input_index is not None else self.input_index
        act = self._shown_activation(name, index, self.edit_view if self.edits else "edited")
        title = f"{name} · input {self.session.inputs.labels[index]} · overview"
        return overview_figure(act, self.session.info(name).kind, tiles, title=title)

    def _figure_layer(
        self,
        layer: str | None = None,
        input_index: int | None = None,
        unit: int | None = None,
        *,
        sort: str = "index",
        clip: bool = True,
    ) -> Any:
        """``ex.figure(view="layer")``: the layer view as the widget draws it.

        Args:
            layer, input_index: default to the current selection.
            unit: a unit of the layer: for sequences, the tokens coloured by it; for
                spatial layers, its map over the input. Without it, the whole layer.
            sort: ``"index"``, ``"max"``, ``"mean"`` or ``"count"`` (active positions, the
                larger max first among equal counts): the order of units (as in the widget).
            clip: clip the colour range at the 99.9th percentile of |values|.
        """
        from .. import figures
        from ..contract import Kind

        name = layer if layer is not None else self.layer
        index = input_index if input_index is not None else self.input_index
        info = self.session.info(name)
        view = self.edit_view if self.edits else "edited"
        act = self._shown_activation(name, index, view).float().cpu()
        title = f"{name} ({info.type}) · input {self.session.inputs.labels[index]}"
        if self.edits:
            title += f" · {view}"
        tokens = self.session.inputs.tokens(index)
        kind: Kind = info.kind
        word = "feature" if info.features_of else "neuron"
        axis = unit_axis_of(kind)
        order = None
        if sort not in ("index", "max", "mean", "count"):
            from ...engine.errors import InputError

            raise InputError(
                f"sort={sort!r} is not an order of units: use 'index', 'max', 'mean' or 'count'."
            )
        if sort != "index":
            stats = unit_stats(act, axis)
            if sort == "count":
                assert stats.count is not None
                order = by_count(stats.count, stats.max)
            else:
                order = descending(stats.max if sort == "max" else stats.mean)
        if unit is not None:
            from ...engine.errors import InputError

            if not 0 <= unit < act.shape[axis]:
                raise InputError(
                    f"unit {unit} is out of range for {name!r} ({act.shape[axis]} units)."
                )
            if kind == "sequence":
                values = act[:, unit]
                labels = tokens or [str(t) for t in range(len(values))]
                return figures.tokens_figure(values, labels, title=f"{title} · {word} {unit}")
            if kind == "spatial":
                image = self.session.inputs.image(index)
                return figures.channel_figure(act[unit], image, title=f"{title} · channel {unit}")
        if kind == "spatial":
            return figures.spatial_figure(act, title=title, order=order, clip=clip)
        if kind == "vector":
            return figures.vector_figure(act, title=title, clip=clip)
        if kind == "sequence":
            return figures.sequence_figure(
                act, tokens, title=title, order=order, clip=clip, word=word
            )
        # other layouts: (units, positions) drawn as positions × units
        return figures.sequence_figure(act.T, None, title=title, order=order, clip=clip)
