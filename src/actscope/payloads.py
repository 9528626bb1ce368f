"""Engine results → wire blobs for the front end (the widget's only data format).

Each blob is tagged in its ``meta`` with what it answers (layer, input), so the front end
never draws data for a selection other than the current one.
"""

from __future__ import annotations

from typing import Any

import torch

from . import wire
from .inputs import InputSet
from .layers import LayerInfo
from .ranking import top_units, unit_stats

DEFAULT_MAX_VALUES = 2_000_000  # 4 MB of float16 per view message
DEFAULT_TOP_K = 50


def unit_axis_of(kind: str) -> int:
    """Where the units are in a view's canonical layout (see ``layers.canonical``)."""
    return 1 if kind == "sequence" else 0


def layer_view(
    info: LayerInfo,
    act: torch.Tensor,
    *,
    input_index: int,
    inputs: InputSet,
    top_k: int = DEFAULT_TOP_K,
    max_values: int = DEFAULT_MAX_VALUES,
    precision: wire.Precision = "f16",
) -> bytes:
    """The blob for one layer of one input: the activation (trimmed if huge) and its ranking.

    ``precision`` applies to the activation; rankings always travel as float16.
    """
    axis = unit_axis_of(info.kind)
    stats = unit_stats(act, axis)
    by_max = top_units(stats, top_k, "max")
    by_mean = top_units(stats, top_k, "mean")
    shown, trimmed = trim(act, info.kind, max_values)
    summary = _summary(act)
    meta: dict[str, Any] = {
        "layer": info.name,
        "input": input_index,
        "kind": info.kind,
        "shape": list(act.shape),
        "layer_shape": list(info.shape or ()),
        "unit_axis": info.unit_axis,
        "n_units": int(act.shape[axis]) if act.ndim else 1,
        **summary,
        "trimmed": trimmed,
    }
    tokens = inputs.tokens(input_index)
    if tokens is not None:
        meta["tokens"] = tokens
    arrays: dict[str, Any] = {
        "act": shown,
        "top_max_units": by_max.units,
        "top_max_values": by_max.max,
        "top_max_pos": by_max.argmax,
        "top_max_means": by_max.mean,
        "top_mean_units": by_mean.units,
        "top_mean_values": by_mean.mean,
        "top_mean_max": by_mean.max,
        "top_mean_pos": by_mean.argmax,
    }
    image = inputs.image(input_index)
    if image is not None:
        arrays["image"] = image
    return wire.encode(arrays, meta, precisions={"act": precision})


def error_view(layer: str, input_index: int, message: str) -> bytes:
    """A blob that answers a selection with an error message instead of data."""
    return wire.encode({}, {"layer": layer, "input": input_index, "error": message})


def trim(
    act: torch.Tensor, kind: str, max_values: int
) -> tuple[torch.Tensor, dict[str, Any] | None]:
    """At most ``max_values`` values of ``act``, cut along positions or units, with a note."""
    total = act.numel()
    if total <= max_values or act.ndim == 0:
        return act, None
    if kind == "sequence":
        keep = max(1, max_values // act.shape[1])
        what = f"the first {keep} of {act.shape[0]} positions"
    else:
        per_unit = max(1, total // act.shape[0])
        keep = max(1, max_values // per_unit)
        what = f"the first {keep} of {act.shape[0]} units"
    shown = act[:keep]
    return shown, {
        "shown": list(shown.shape),
        "note": f"Showing {what}: the full view ({total:,} values) is over the "
        f"{max_values:,}-value limit of one message. Rankings cover every unit.",
    }


def _summary(act: torch.Tensor) -> dict[str, Any]:
    """Counts of NaN/±Inf and the finite range, in one host sync."""
    x = act.float()
    finite = torch.isfinite(x)
    big = torch.finfo(torch.float32).max
    stats = torch.stack(
        [
            torch.isnan(x).sum().float(),
            torch.isposinf(x).sum().float(),
            torch.isneginf(x).sum().float(),
            finite.sum().float(),
            torch.where(finite, x, big).amin() if x.numel() else x.new_zeros(()),
            torch.where(finite, x, -big).amax() if x.numel() else x.new_zeros(()),
        ]
    ).tolist()
    nan, posinf, neginf, n_finite, lo, hi = stats
    if n_finite == 0:
        lo = hi = 0.0
    return {"nan": int(nan), "posinf": int(posinf), "neginf": int(neginf), "min": lo, "max": hi}


def thumbnails(inputs: InputSet, limit: int = 256) -> bytes:
    """RGB thumbnails of the first ``limit`` image inputs (empty for other inputs)."""
    if inputs.kind != "image":
        return b""
    images = [inputs.image(i) for i in range(min(len(inputs), limit))]
    arrays = {f"t{i}": img for i, img in enumerate(images) if img is not None}
    return wire.encode(arrays, {"count": len(arrays), "total": len(inputs)})


def inputs_info(inputs: InputSet, snippet: int = 160) -> list[dict[str, Any]]:
    """Small JSON descriptions of every input for the input strip."""
    infos = []
    for i in range(len(inputs)):
        info = inputs.describe(i)
        if "text" in info:
            info["text"] = str(info["text"])[:snippet]
        infos.append(info)
    return infos


def saliency_key(input_index: int, method: str, target: str) -> str:
    """What a saliency view answers: input, method and target (``unit:<layer>:<unit>``...)."""
    return f"{input_index}|{method}|{target}"


def saliency_view(
    scores: torch.Tensor,
    *,
    key: str,
    inputs: InputSet,
    input_index: int,
    method: str,
    target_label: str,
    delta: float | None = None,
) -> bytes:
    """The blob of one saliency map: per pixel for images (channels summed, signed), per
    token for text, flattened otherwise."""
    s = scores.detach()[0].float()
    meta: dict[str, Any] = {
        "key": key,
        "input": input_index,
        "method": method,
        "target": target_label,
        "delta": delta,
    }
    arrays: dict[str, Any] = {}
    tokens = inputs.tokens(input_index)
    image = inputs.image(input_index)
    if image is not None and s.ndim in (2, 3):
        meta["kind"] = "image"
        arrays["map"] = s.sum(0) if s.ndim == 3 else s
        arrays["image"] = image
    elif tokens is not None:
        meta["kind"] = "tokens"
        meta["tokens"] = tokens
        arrays["map"] = s.reshape(-1)[: len(tokens)]
    else:
        meta["kind"] = "vector"
        arrays["map"] = s.reshape(-1)
    meta.update(_summary(arrays["map"]))
    return wire.encode(arrays, meta)


def saliency_error(key: str, message: str) -> bytes:
    return wire.encode({}, {"key": key, "error": message})
