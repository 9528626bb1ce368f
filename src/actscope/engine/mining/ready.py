"""Whether a dataset's items are ready batches or single examples, and single examples
grouped into batches: the part of ``sources`` that reads a dataset's first item."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch

from ..batch import describe, tensor_paths
from ..errors import InputError
from ..forward import Batch
from ..inputs import text_limit
from .collate import collate_items

Probe = Callable[[Batch], "str | None"]
"""Runs the model on a batch; returns ``None`` when it runs, else what went wrong."""


def peek(dataset: Iterable[Any]) -> Any:
    for item in dataset:
        return item
    return None


def items_are_batches(
    item: Any, probe: Probe | None, tokenizer: Any, max_length: int, both: str
) -> bool:
    """Whether a dataset's items are ready batches, by running the model on the first one
    as it is and with a batch axis added (two probe passes, only for forms that do not say).

    ``both`` says what a model that runs either way means: ``"ask"`` (an error naming
    ``batches=``) or ``"examples"``.
    """
    if item is None or isinstance(item, str) or probe is None:
        return False
    found = [t for _, t in tensor_paths(item)]
    if not found:
        return False
    if isinstance(item, Mapping) and all(t.ndim >= 2 and t.shape[0] == 1 for t in found):
        return False  # a tokenizer's return_tensors="pt": one example, as a batch of one
    try:
        as_example = collate_items([item], 0, tokenizer, max_length)
    except InputError:
        as_example = None
    example_error = probe(as_example) if as_example is not None else "it cannot be collated"
    batch_error = probe(item)
    if batch_error is None and example_error is not None:
        return True
    if batch_error is None and example_error is None:
        # Both readings run. By PyTorch's convention an item is one example, unless every
        # tensor in it has a leading axis of one shared length > 1 over at least two axes:
        # that is how a batch looks, and the two readings give different layer shapes.
        leading = {t.shape[0] for t in found if t.ndim >= 2}
        looks_batched = (
            not isinstance(item, torch.Tensor)  # a tensor (C, H, W) is one image
            and len(leading) == 1
            and min(leading) > 1
            and all(t.ndim >= 2 for t in found)
        )
        if both == "examples" or not looks_batched:
            return False
        raise InputError(
            "The model runs on the dataset's first item both as a ready batch and as one "
            f"example ({describe(item)}), so it is not clear which the items are: pass "
            "batches=True (each item is a batch) or batches=False (each item is one example)."
        )
    if batch_error is not None and example_error is not None:
        raise InputError(
            f"The model runs on the dataset's first item ({describe(item)}) neither as one "
            f"example ({example_error}) nor as a ready batch ({batch_error}). Check the data, "
            "or say how a batch is fed with forward=... (batches=True/False says which the "
            "items are)."
        )
    return False


def len_or_none(obj: Any) -> int | None:
    try:
        return len(obj)
    except TypeError:
        return None


def grouped(
    dataset: Iterable[Any], batch_size: int, tokenizer: Any, max_length: int
) -> Iterable[Batch]:
    limit = text_limit(tokenizer, max_length) if tokenizer is not None else max_length

    class Grouped:
        def __iter__(self) -> Iterator[Batch]:
            iterator = iter(dataset)
            start = 0
            while True:
                items = list(itertools.islice(iterator, batch_size))
                if not items:
                    return
                yield collate_items(items, start, tokenizer, limit)
                start += len(items)

    return Grouped()
