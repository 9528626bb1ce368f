"""A unit's top dataset examples, histogram and quantile bands → one wire blob for the widget.

The blob answers ``(layer, unit, band)``: the unit's summary figures, a histogram of its
per-example maxima (equal-width bins for drawing), its quantile bands, its top examples
and, when ``band`` is chosen, that band's sampled examples. With the mined dataset at hand,
examples come in context (re-run on demand): text as a token window with the unit's value
at every token and the peak marked; images with the peak's location boxed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import wire

HIST_BINS = 40
BANDS = 10


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


def examples_key(layer: str, unit: int, band: int) -> str:
    return f"{layer}|{unit}|{band}"


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
    meta: dict[str, Any] = {
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
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
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
            row.update(kind="text", tokens=list(tokens), peak=int(ctx.peak), start=int(ctx.start))
            arrays[name] = ctx.values.float()
        elif getattr(ctx, "rgb", None) is not None:
            row.update(kind="image", box=[int(v) for v in ctx.box], peak=list(ctx.peak))
            arrays[name] = np.ascontiguousarray(ctx.rgb)
        else:
            row.update(kind="plain", peak=int(ctx.peak))
            arrays[name] = ctx.values.float()
    return rows


def missing_blob(
    layer: str, unit: int, band: int, *, can_mine: bool, mined: Sequence[str]
) -> bytes:
    """The answer for a unit of a layer no index covers."""
    return wire.encode(
        {},
        {
            "key": examples_key(layer, unit, band),
            "layer": layer,
            "unit": unit,
            "missing": True,
            "can_mine": can_mine,
            "mined": list(mined),
        },
    )


def error_blob(layer: str, unit: int, band: int, message: str) -> bytes:
    return wire.encode(
        {}, {"key": examples_key(layer, unit, band), "layer": layer, "unit": unit, "error": message}
    )


def _finite(v: float) -> float | None:
    """JSON has no NaN or Inf: they travel as null."""
    v = float(v)
    return v if math.isfinite(v) else None
