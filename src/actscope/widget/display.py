"""What the widget shows of a model and its inputs, outside any panel: the header, the
input strip (descriptions and RGB thumbnails) and the value summaries every view carries.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..engine.inputs import InputSet, model_float_dtype
from . import wire
from .contract import InputInfo, ModelInfo, ThumbsMeta, ValueSummary


def describe_model(model: nn.Module, device: torch.device) -> ModelInfo:
    """What the widget's header says about the model."""
    n_params = sum(p.numel() for p in model.parameters())
    dtype = model_float_dtype(model)
    return {
        "name": model.__class__.__name__,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch.") if dtype else "",
        "n_params": n_params,
        "training": bool(model.training),
    }


def thumbnails(inputs: InputSet, limit: int = 256) -> bytes:
    """RGB thumbnails of the first ``limit`` image inputs (empty for other inputs)."""
    if inputs.modality != "image":
        return b""
    images = [inputs.image(i) for i in range(min(len(inputs), limit))]
    arrays = {f"t{i}": img for i, img in enumerate(images) if img is not None}
    meta: ThumbsMeta = {"count": len(arrays), "total": len(inputs)}
    return wire.encode(arrays, meta)


def inputs_info(inputs: InputSet, snippet: int = 160) -> list[InputInfo]:
    """Small descriptions of every input for the input strip."""
    infos: list[InputInfo] = []
    for i in range(len(inputs)):
        info: Any = inputs.describe(i)
        if "text" in info:
            info["text"] = str(info["text"])[:snippet]
        infos.append(info)
    return infos


def value_summary(values: torch.Tensor) -> ValueSummary:
    """Counts of NaN/±Inf and the finite range, in one host sync."""
    x = values.float()
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


def message(exc: BaseException) -> str:
    """What the widget shows of an error: actscope's own messages as they are."""
    from ..engine.errors import ActscopeError

    if isinstance(exc, ActscopeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
