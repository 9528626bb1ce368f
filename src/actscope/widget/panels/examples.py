"""The examples panel: a unit's top dataset examples, histogram and quantile bands.

Twin of ``js/src/panels/examples.ts``. The ``examples_view`` blob answers
``examples_key(layer, unit, band)``: the unit's summary figures, a histogram of its
per-example maxima (equal-width bins for drawing), its quantile bands, its top examples
and, when ``band`` is chosen, that band's sampled examples. With the mined dataset at hand,
examples come in context (re-run on demand): text as a token window with the unit's value
at every token and the peak marked; images with the peak's location boxed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import traitlets

from .. import wire
from ..contract import (
    EXAMPLE_BANDS,
    ErrorMeta,
    ExampleRow,
    ExamplesMissingMeta,
    ExamplesViewMeta,
    MiningInfo,
    OpenExampleRequest,
    examples_key,
    snapshot_key,
)
from ..display import message
from ..jobs import Progress
from .base import Panel, SnapshotPlan

HIST_BINS = 40
BANDS = EXAMPLE_BANDS


@dataclass(frozen=True)
class ContextOptions:
    """How to re-run examples for their context (from the explorer's settings)."""

    model: Any
    dataset: Any
    tokenizer: Any = None
    forward: Any = None
    outputs: Any = None
    max_length: int = 512
    image_mean: Sequence[float] | None = None
    image_std: Sequence[float] | None = None
    window: int = 8


def examples_blob(
    index: Any,
    layer: str,
    unit: int,
    band: int = -1,
    *,
    context: ContextOptions | None = None,
    n_top: int = 10,
    n_band: int = 5,
) -> bytes:
    """The blob for one unit (``band`` −1: no band opened)."""
    summary = index.summary(layer, unit)
    top = index.top(layer, unit, n=n_top)
    bands = index.quantile_samples(layer, unit, bands=BANDS, n=n_band)
    meta: ExamplesViewMeta = {
        "key": examples_key(layer, unit, band),
        "layer": layer,
        "unit": unit,
        "band": band,
        "summary": {
            "max": _finite(summary.max),
            "median": _finite(summary.median),
            "lowest": _finite(summary.lowest),
            "active_fraction": _finite(summary.active_fraction),
            "active_example_fraction": _finite(summary.active_example_fraction),
            "n_examples": summary.n_examples,
            "positions": summary.positions,
            "nan_examples": summary.nan_examples,
        },
        "bands": [
            {
                "lower_q": b.lower_q,
                "upper_q": b.upper_q,
                "lower": _finite(b.lower),
                "upper": _finite(b.upper),
                "sampled": b.sampled,
            }
            for b in bands
        ],
        "has_context": context is not None,
        "top": [],
    }
    arrays: dict[str, Any] = {}
    if summary.n_examples and math.isfinite(summary.lowest) and math.isfinite(summary.max):
        hist = index.histogram(layer, unit, bins=HIST_BINS)
        arrays["hist_edges"] = hist.edges.float()
        arrays["hist_counts"] = hist.counts.float()
    meta["top"] = _described(top, index, layer, unit, context, arrays, "top")
    if 0 <= band < len(bands):
        meta["band_rows"] = _described(
            bands[band].examples, index, layer, unit, context, arrays, "band"
        )
    return wire.encode(arrays, meta)


def _described(
    examples: Any,
    index: Any,
    layer: str,
    unit: int,
    context: ContextOptions | None,
    arrays: dict[str, Any],
    group: str,
) -> list[ExampleRow]:
    rows: list[ExampleRow] = [
        {"id": int(e.id), "value": _finite(e.value), "position": e.position} for e in examples
    ]
    if context is None or not rows:
        return rows
    found = index.contexts(
        context.model,
        context.dataset,
        layer,
        unit,
        [r["id"] for r in rows],
        tokenizer=context.tokenizer,
        forward=context.forward,
        outputs=context.outputs,
        window=context.window,
        max_length=context.max_length,
        image_mean=context.image_mean,
        image_std=context.image_std,
    )
    for n, (row, ctx) in enumerate(zip(rows, found, strict=True)):
        name = f"{group}{n}"
        tokens = getattr(ctx, "tokens", None)
        if tokens is not None:
            row["context"], row["tokens"] = "text", list(tokens)
            row["peak"], row["start"] = int(ctx.peak), int(ctx.start)
            arrays[name] = ctx.values.float()
        elif getattr(ctx, "rgb", None) is not None:
            row["context"], row["box"] = "image", [int(v) for v in ctx.box]
            row["peak"] = list(ctx.peak)
            arrays[name] = np.ascontiguousarray(ctx.rgb)
        else:
            row["context"], row["peak"] = "plain", int(ctx.peak)
            arrays[name] = ctx.values.float()
    return rows


def missing_blob(
    layer: str, unit: int, band: int, *, can_mine: bool, mined: Sequence[str]
) -> bytes:
    """The answer for a unit of a layer no index covers."""
    meta: ExamplesMissingMeta = {
        "key": examples_key(layer, unit, band),
        "layer": layer,
        "unit": unit,
        "missing": True,
        "can_mine": can_mine,
        "mined": list(mined),
    }
    return wire.encode({}, meta)


def error_blob(layer: str, unit: int, band: int, text: str) -> bytes:
    meta: ErrorMeta = {"key": examples_key(layer, unit, band), "error": text}
    return wire.encode({}, {**meta, "layer": layer, "unit": unit})


def _finite(v: float) -> float | None:
    """JSON has no NaN or Inf: they travel as null."""
    v = float(v)
    return v if math.isfinite(v) else None


class ExamplesPanel(Panel):
    """The selected unit's top dataset examples, from an index or mined on demand."""

    messages: ClassVar[dict[str, str]] = {
        "mine": "_mine_from_front",
        "open_example": "_open_example_from_front",
    }

    examples_view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob (``ExamplesViewMeta``) of the selected unit's top dataset examples,
    histogram and quantile bands, tagged with (layer, unit, band). Default: empty until a
    unit is selected."""
    examples_band = traitlets.Int(-1).tag(sync=True)
    """Type: int. Default: -1 (none). The quantile band whose sampled examples to show."""
    mining = traitlets.Dict({"has_dataset": False, "layers": []}).tag(sync=True)
    """Type: ``MiningInfo`` (has_dataset: bool, layers: the layers an index covers).
    Default: from ``dataset=`` and ``index=``; {"has_dataset": False, "layers": []} with
    neither."""

    dataset: Any = None
    indexes: list[Any]
    _tokenizer: Any = None
    _max_length: int = 512

    @traitlets.validate("examples_band")
    def _check_band(self, proposal: Any) -> int:
        value = int(proposal["value"])

        def test() -> None:
            from ...engine.errors import InputError

            if not -1 <= value < BANDS:
                raise InputError(
                    f"examples_band {value} is out of range: -1 (none) or a band 0 to {BANDS - 1}."
                )

        return int(self._checked(value, test))

    @traitlets.observe("unit", "examples_band")
    def _on_examples_settings(self, change: Any) -> None:
        if change["name"] == "unit" and self.examples_band != -1:
            self.examples_band = -1  # its observer refreshes
            return
        self._refresh_examples()

    def _index_for(self, layer: str) -> Any:
        return next((i for i in self.indexes if layer in i.layers), None)

    def _mining_info(self) -> MiningInfo:
        layers = sorted({name for i in self.indexes for name in i.layers})
        return {"has_dataset": self.dataset is not None, "layers": layers}

    def _refresh_examples(self) -> None:
        """Start computing the examples panel for the selected unit (in the background)."""
        if not self._ready() or self.unit is None:
            return
        layer, unit, band = self.layer, int(self.unit), self.examples_band
        index = self._index_for(layer)
        if index is None:
            self.examples_view = missing_blob(
                layer,
                unit,
                band,
                can_mine=self.dataset is not None,
                mined=self._mining_info()["layers"],
            )
            return
        context = self._context_options()

        def work(progress: Progress) -> bytes:
            progress.check()
            return examples_blob(index, layer, unit, band, context=context)

        def done(blob: bytes) -> None:
            self.examples_view = blob

        def failed(exc: BaseException) -> None:
            self.examples_view = error_blob(layer, unit, band, message(exc))

        self._jobs.start("examples", work, done, failed, quiet=True)

    def _context_options(self) -> ContextOptions | None:
        if self.dataset is None:
            return None
        inputs = self.session.inputs
        return ContextOptions(
            model=self.session.model,
            dataset=self.dataset,
            tokenizer=self._tokenizer,
            forward=self.session.forward,
            outputs=self.session.outputs or None,
            max_length=self._max_length,
            image_mean=inputs.image_mean,
            image_std=inputs.image_std,
        )

    def mine(
        self,
        layers: Sequence[str] | None = None,
        k: int = 20,
        *,
        batch_size: int = 32,
        background: bool | None = None,
        **options: Any,
    ) -> None:
        """Mine the dataset for ``layers`` (default: the current one) and show the results.

        This runs in the background with progress and a Cancel button in the widget
        (``background=False`` waits for it); the index is added to ``ex.indexes``.
        Options are those of :func:`actscope.mine`.
        """
        from ...engine.errors import InputError
        from ...engine.mining import MiningInterrupted, mine

        if self.dataset is None:
            raise InputError(
                "This explorer has no dataset to mine: pass Explorer(..., dataset=...) or a "
                "ready index with Explorer(..., index=actscope.mine(...))."
            )
        chosen = list(layers) if layers is not None else [self.layer]
        for name in chosen:
            self.session.info(name)  # unknown layers raise with suggestions
        session, dataset, tokenizer = self.session, self.dataset, self._tokenizer

        def work(progress: Progress) -> Any:
            def report(state: dict[str, Any]) -> None:
                seen = int(state.get("examples", 0))
                progress.update(seen, state.get("total"), f"{seen:,} examples")

            try:
                return mine(
                    session.model,
                    dataset,
                    chosen,
                    k,
                    batch_size=batch_size,
                    device=session.device,
                    tokenizer=tokenizer,
                    forward=session.forward,
                    outputs=session.outputs or None,
                    unit_axes=session.unit_axes or None,
                    max_length=self._max_length,
                    progress=False,
                    callback=report,
                    **options,
                )
            except MiningInterrupted as stopped:
                if not progress.cancelled:
                    raise
                return stopped.index  # Cancel keeps what was mined so far

        def done(index: Any) -> None:
            self.indexes.append(index)
            self.mining = dict(self._mining_info())
            self._refresh_examples()

        def failed(exc: BaseException) -> None:
            self._show_error(exc, "mining")

        self._jobs.start("mining", work, done, failed, background=background)

    def _mine_from_front(self, _content: Any, _buffers: Any) -> None:
        self.mine()

    def _open_example_from_front(self, content: OpenExampleRequest, _buffers: Any) -> None:
        self.open_example(int(content["id"]))

    def open_example(self, example_id: int) -> None:
        """Make dataset example ``example_id`` an input of the explorer, and select it."""
        from ...engine.mining.sources import make_source
        from ..display import inputs_info, thumbnails

        label = f"example {example_id}"
        inputs = self.session.inputs
        if label in inputs.labels:
            self.input_index = inputs.labels.index(label)
            return
        index = next(iter(self.indexes), None)
        source = make_source(
            self.dataset,
            batch_size=1,
            tokenizer=self._tokenizer,
            max_length=self._max_length,
            batches=index.settings.extra.get("batches") if index is not None else None,
        )
        batch = source.fetch([example_id])
        item = self.dataset[example_id] if isinstance(self.dataset, list) else None
        index = inputs.add(batch, label, item if isinstance(item, str) else None)
        self.inputs_info = inputs_info(inputs)
        self.thumbs = thumbnails(inputs)
        self.input_index = index

    def snapshot_entries(self, plan: SnapshotPlan) -> list[tuple[str, bytes]]:
        """Each of the plan's units of each indexed layer, every quantile band opened."""
        entries = super().snapshot_entries(plan)
        context = self._context_options()
        for name in plan.asked_layers if plan.asked_layers is not None else [self.layer]:
            index = self._index_for(name)
            if index is None:
                continue
            for unit in plan.units:
                for band in range(-1, BANDS):
                    blob = examples_blob(index, name, unit, band, context=context)
                    entries.append((snapshot_key("examples", examples_key(name, unit, band)), blob))
        return entries
