"""Collating dataset items into batches: tokenizing, padding, and errors that say which
examples differ."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils import data as tud

from ..batch import rows, shape_of, tensor_paths
from ..errors import InputError
from ..forward import Batch
from ..inputs import collate, text_column


def collate_items(items: list[Any], first_index: int, tokenizer: Any, max_length: int) -> Batch:
    """A batch from dataset items: strings are tokenized, dicts padded if a tokenizer is given.

    Dict items with a text column (a Hugging Face ``datasets.Dataset`` of raw text) are
    tokenized when a tokenizer is given: the column ``"text"``, or the only one holding
    strings; the batch is the tokenizer's output.
    """
    if all(isinstance(x, str) for x in items):
        if tokenizer is None:
            raise InputError(
                "The dataset yields strings but no tokenizer was given: pass tokenizer=..."
            )
        return tokenize(items, tokenizer, max_length)
    if all(isinstance(x, Mapping) for x in items):
        column = text_column(items[0]) if tokenizer is not None else None
        if column is not None:
            return tokenize([str(x[column]) for x in items], tokenizer, max_length)
        items = [unbatched(x) for x in items]
        if tokenizer is not None and not same_shapes(items):
            return dict(tokenizer.pad(items, return_tensors="pt"))
    try:
        return tud.default_collate(items)
    except (RuntimeError, TypeError, ValueError) as exc:  # ValueError: an int beyond int64
        shapes = [shape_of(x) for x in items]
        odd = next((i for i, s in enumerate(shapes) if s != shapes[0]), None)
        if odd is not None:
            raise InputError(
                f"Examples {first_index} and {first_index + odd} have shapes {shapes[0]} and "
                f"{shapes[odd]}: a batch needs one shape. Resize or pad them, pass tokenizer= "
                "to pad token ids, or use batch_size=1."
            ) from exc
        raise InputError(
            f"Cannot batch examples {first_index}–{first_index + len(items) - 1}: {exc}"
        ) from exc


def tokenize(texts: list[str], tokenizer: Any, max_length: int) -> Batch:
    return dict(
        tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    )


def unbatched(example: Mapping[str, Any]) -> dict[str, Any]:
    """A tokenizer's ``return_tensors="pt"`` output ``(1, T)`` → ``(T,)``."""
    tensors = [v for v in example.values() if isinstance(v, torch.Tensor)]
    batched = bool(tensors) and all(v.ndim >= 2 and v.shape[0] == 1 for v in tensors)
    return {k: (v[0] if batched and isinstance(v, torch.Tensor) else v) for k, v in example.items()}


def same_shapes(items: list[dict[str, Any]]) -> bool:
    return len({shape_of(x) for x in items}) == 1


def check_shapes(examples: list[Batch]) -> None:
    """Every example of a list must share one shape to be batched: say which one differs."""
    first = shape_of(examples[0])
    for i, example in enumerate(examples):
        if shape_of(example) != first:
            raise InputError(
                f"Inputs 0 and {i} have shapes {describe_shape(examples[0])} and "
                f"{describe_shape(example)}: a batch needs one shape. Resize or pad them, pass "
                "tokenizer= to pad token ids, or use batch_size=1."
            )


def describe_shape(example: Batch) -> str:
    if isinstance(example, torch.Tensor):
        return str(tuple(example.shape[1:]))
    return ", ".join(f"{p} {tuple(t.shape[1:])}" for p, t in tensor_paths(example))


def row(batch: Batch, i: int) -> Batch:
    """Example ``i`` of a batch, keeping a batch axis of 1."""
    return rows(batch, slice(i, i + 1))


def stack(rows: list[Batch], tokenizer: Any) -> Batch:
    """Batches of one → one batch; token dicts of unequal length are padded if possible."""
    if isinstance(rows[0], Mapping) and tokenizer is not None:
        items = [unbatched(r) for r in rows]
        if not same_shapes(items):
            return dict(tokenizer.pad(items, return_tensors="pt"))
    return collate(rows)
