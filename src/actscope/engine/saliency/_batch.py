"""Saliency's view of a batch: which tensor to attribute to, its rows, and replacing it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..batch import children, map_tensors, rebuild, rows
from ..errors import InputError
from ..forward import Batch
from ..inputs import InputSet

NONE = object()


def pick(batch: Batch, key: Any) -> torch.Tensor:
    """The tensor at ``key`` of a batch (the batch itself for ``None``)."""
    value = batch if key is None else batch[key]
    assert isinstance(value, torch.Tensor)
    return value


def replace_input(batch: Batch, key: str | int | None, value: torch.Tensor) -> Batch:
    """The batch with the tensor at ``key`` (one of its own items) replaced."""
    if key is None:
        return value
    items = children(batch) or []
    return rebuild(batch, [value if k == key else v for k, v in items])


def gather(batch: Batch, ex: torch.Tensor, n: int) -> Batch:
    """Rows ``ex`` of every tensor whose first axis is the batch (``n`` long)."""
    return rows(batch, ex, n)


def as_batch(inputs: Any, tokenizer: Any) -> Batch:
    if isinstance(inputs, torch.Tensor):
        if inputs.ndim == 0:
            raise InputError(
                "Got a scalar tensor: pass a batch (N, ...) with the batch axis first."
            )
        return inputs
    if isinstance(inputs, Mapping):  # a ready batch, e.g. tokenizer(texts, padding=True, ...)
        return dict(inputs)
    iset = InputSet.from_user(inputs, tokenizer=tokenizer)
    try:
        return iset.batch(range(len(iset)))
    except InputError as exc:
        raise InputError(
            f"{exc} saliency runs all inputs as one batch: pass inputs of one shape (texts as "
            "strings with tokenizer=... are padded), or call it once per input."
        ) from None


def not_inference(batch: Batch) -> Batch:
    """Copies of tensors made under ``torch.inference_mode`` (autograd cannot save them)."""
    return map_tensors(lambda t: t.clone() if t.is_inference() else t, batch)


def batch_size(batch: Batch) -> int:
    tensors = own_tensors(batch)
    if not tensors:
        raise InputError("The inputs hold no tensor.")
    first = tensors[0][1]
    if first.ndim == 0:
        raise InputError("The input tensors need a batch axis first.")
    return int(first.shape[0])


def own_tensors(batch: Batch) -> list[tuple[Any, torch.Tensor]]:
    """The batch's own tensors (not nested ones) with their keys."""
    if isinstance(batch, torch.Tensor):
        return [(None, batch)]
    return [(k, v) for k, v in children(batch) or () if isinstance(v, torch.Tensor)]


def find_input(batch: Batch, input_key: str | int | None, *, floating_only: bool) -> Any:
    """The key of the tensor to attribute to (``NONE`` if ``floating_only`` and none is)."""
    tensors = own_tensors(batch)
    if input_key is not None:
        found = dict(tensors)
        if input_key not in found:
            raise InputError(
                f"input_key={input_key!r} is not in the batch; its tensors are at "
                f"{[k for k, _ in tensors]}."
            )
        if floating_only and not found[input_key].is_floating_point():
            return NONE
        return input_key
    floats = [k for k, t in tensors if t.is_floating_point()]
    if floating_only:
        return floats[0] if len(floats) == 1 else NONE
    if isinstance(batch, Mapping):
        ids = batch.get("input_ids")
        if isinstance(ids, torch.Tensor) and not ids.is_floating_point():
            return "input_ids"
    if len(floats) == 1:
        return floats[0]
    if len(floats) > 1:
        raise InputError(
            f"The batch holds several floating-point tensors ({floats}): say which one to "
            "attribute to with input_key=..."
        )
    return tensors[0][0]


def ids_key(batch: Batch, input_key: str | int | None) -> str | int | None:
    if input_key is not None:
        return input_key
    if isinstance(batch, Mapping) and "input_ids" in batch:
        return "input_ids"
    ints = [k for k, t in own_tensors(batch) if not t.is_floating_point()]
    return ints[0] if ints else None
