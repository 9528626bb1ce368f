"""Datasets in every form ``mine`` accepts, as a stream of batches with global example ids.

=========================================== =============================================
what the user passes                        how it is read
=========================================== =============================================
list of strings (+ ``tokenizer``)           tokenized per batch, padded, truncated
list of tensors                             one example each
list of dicts / tuples / ``BatchEncoding``  one example each (dicts of unequal lengths are
                                            padded with ``tokenizer.pad``), or ready
                                            batches when the model reads the first item
                                            only as a batch (``batches=`` says which)
a batch tensor ``(N, ...)``                 rows are examples
a dict of batched tensors (``BatchEncoding``) rows are examples
``torch.utils.data.Dataset`` (map-style)    ``dataset[i]`` collated per batch
Hugging Face ``datasets.Dataset``           rows collated per batch; a text column is
                                            tokenized when a tokenizer is given
``torch.utils.data.IterableDataset``        its examples, collated per batch; or its
                                            items as ready batches when the model reads
                                            them only as batches (``batches=``)
``DataLoader`` or any iterable of batches   as it yields them (a ``DataLoader`` must not
                                            shuffle: ids are positions in its order);
                                            with ``batch_size=None`` its items are batches
=========================================== =============================================

An example's id is its position in the dataset (plus ``id_offset``), whatever the batch
size or the number of processes. Random-access forms are split into contiguous runs of
whole batches, one run per distributed rank; streams are dealt out batch by batch (every
rank reads every batch and runs the model on its own). Inputs have the batch on axis 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils import data as tud

from ..batch import rows, tensor_paths
from ..errors import InputError
from ..forward import Batch
from ..inputs import InputSet, text_limit
from .collate import check_shapes, collate_items, row, stack, tokenize
from .ready import Probe, grouped, items_are_batches, len_or_none, peek


@dataclass(frozen=True)
class Chunk:
    """One batch of the dataset: ``size`` examples with ids ``start ... start + size - 1``."""

    number: int
    start: int
    size: int
    batch: Batch
    mask: torch.Tensor | None


class LoadError(Exception):
    """Reading batch ``number`` (examples from ``start``) raised; the cause is chained."""

    def __init__(self, number: int, start: int) -> None:
        super().__init__(f"batch {number}")
        self.number = number
        self.start = start


def attention_mask(batch: Batch) -> torch.Tensor | None:
    """The batch's ``attention_mask`` ``(B, T)`` if it has one."""
    if isinstance(batch, Mapping):
        mask = batch.get("attention_mask")
        if isinstance(mask, torch.Tensor) and mask.ndim == 2:
            return mask
    return None


def batch_size_of(batch: Batch) -> int:
    """Examples in a batch: axis 0 of its first tensor (``input_ids`` for a dict)."""
    if isinstance(batch, Mapping) and isinstance(batch.get("input_ids"), torch.Tensor):
        ids: torch.Tensor = batch["input_ids"]
        if ids.ndim:
            return int(ids.shape[0])
    for _, tensor in tensor_paths(batch):
        if tensor.ndim == 0:
            break
        return int(tensor.shape[0])
    raise InputError(
        f"A batch of type {type(batch).__name__} holds no tensor with a batch axis: each batch "
        "must be a tensor (N, ...), a dict of tensors or a tuple of tensors."
    )


def head(batch: Batch, n: int) -> Batch:
    """The first ``n`` examples of a batch (every tensor sliced on axis 0)."""
    return rows(batch, slice(0, n))


class Source:
    """A dataset as batches. Subclasses set ``size`` (``None`` when unknown)."""

    size: int | None = None
    tokenizer: Any = None
    description: str = ""
    batches: bool | None = None
    """Whether the dataset's items were read as ready batches (``None``: not a question
    for this form)."""

    def first(self) -> Batch:
        """The first batch of the whole dataset (for discovering layer shapes)."""
        raise NotImplementedError

    def chunks(self, rank: int = 0, world: int = 1) -> Iterator[Chunk]:
        """This rank's batches, in order."""
        raise NotImplementedError

    def local_size(self, rank: int, world: int) -> int | None:
        """How many examples this rank will see (``None`` when unknown)."""
        if self.size is None:
            return None
        return self.size if world == 1 else (self.size + world - 1 - rank) // world

    def fetch(self, ids: Sequence[int]) -> Batch:
        """The examples ``ids`` as one batch, in that order."""
        raise NotImplementedError


class IndexedSource(Source):
    """Random access: ``get(indices)`` builds a batch of any examples."""

    def __init__(
        self,
        get: Callable[[list[int]], Batch],
        size: int,
        batch_size: int,
        *,
        tokenizer: Any = None,
        description: str = "",
    ) -> None:
        self._get = get
        self.size = size
        self.batch_size = batch_size
        self.tokenizer = tokenizer
        self.description = description

    def _own(self, rank: int, world: int) -> range:
        n_batches = math.ceil((self.size or 0) / self.batch_size)
        return range(rank * n_batches // world, (rank + 1) * n_batches // world)

    def first(self) -> Batch:
        return self._get(list(range(min(self.batch_size, self.size or 0))))

    def chunks(self, rank: int = 0, world: int = 1) -> Iterator[Chunk]:
        size = self.size or 0
        for number in self._own(rank, world):
            start = number * self.batch_size
            indices = list(range(start, min(start + self.batch_size, size)))
            try:
                batch = self._get(indices)
            except Exception as exc:
                raise LoadError(number, start) from exc
            yield Chunk(number, start, len(indices), batch, attention_mask(batch))

    def local_size(self, rank: int, world: int) -> int | None:
        own = self._own(rank, world)
        if not own:
            return 0
        return min(own.stop * self.batch_size, self.size or 0) - own.start * self.batch_size

    def fetch(self, ids: Sequence[int]) -> Batch:
        size = self.size or 0
        bad = [i for i in ids if not 0 <= i < size]
        if bad:
            raise InputError(f"Example id {bad[0]} is not in the dataset ({size} examples).")
        return self._get(list(ids))


class StreamSource(Source):
    """An iterable of ready batches (a ``DataLoader``, a generator...)."""

    def __init__(self, batches: Iterable[Batch], *, size: int | None, description: str) -> None:
        self._batches = batches
        self._iterator: Iterator[Batch] | None = None
        self._head: list[Batch] = []
        self.size = size
        self.description = description
        self.one_shot = iter(batches) is batches

    def first(self) -> Batch:
        if not self._head:
            self._iterator = iter(self._batches)
            self._head = [next(self._iterator)]  # StopIteration: empty
        return self._head[0]

    def _all(self) -> Iterator[Batch]:
        if self._iterator is not None:
            iterator, self._iterator = self._iterator, None
            yield from itertools.chain(self._head, iterator)
        elif self.one_shot and self._head:
            raise InputError(
                "This dataset is a one-shot iterator that was already read: pass a list, a "
                "Dataset or a DataLoader to read it again."
            )
        else:
            yield from self._batches

    def chunks(self, rank: int = 0, world: int = 1) -> Iterator[Chunk]:
        start = 0
        number = 0
        iterator = self._all()
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except InputError:
                raise
            except Exception as exc:
                raise LoadError(number, start) from exc
            size = batch_size_of(batch)
            if number % world == rank:
                yield Chunk(number, start, size, batch, attention_mask(batch))
            start += size
            number += 1

    def fetch(self, ids: Sequence[int]) -> Batch:
        """Scans the stream once for ``ids`` (slow for a long stream)."""
        wanted = {int(i): None for i in ids}
        found: dict[int, Batch] = {}
        for chunk in self.chunks():
            for i in range(chunk.size):
                if chunk.start + i in wanted and chunk.start + i not in found:
                    found[chunk.start + i] = row(chunk.batch, i)
            if len(found) == len(wanted):
                break
        missing = [i for i in wanted if i not in found]
        if missing:
            raise InputError(f"Example id {missing[0]} is not in the dataset.")
        return stack([found[int(i)] for i in ids], self.tokenizer)


# -- building a source from what the user passed -------------------------------------------------


"""Runs the model on a batch: ``None`` if it ran, else what went wrong."""


def make_source(
    dataset: Any,
    *,
    batch_size: int,
    tokenizer: Any = None,
    max_length: int = 512,
    batches: bool | None = None,
    probe: Probe | None = None,
) -> Source:
    """The :class:`Source` for any accepted dataset form (see the module docstring).

    ``batches`` says whether the items of an ``IterableDataset``, a ``DataLoader`` without
    automatic batching or a list are ready batches (``True``) or single examples
    (``False``). ``None`` decides as PyTorch means it (a ``batch_size=None`` loader yields
    batches) and, where the form does not say, by ``probe``: items the model runs on as
    they are, but not with a batch axis added, are batches.
    """
    if isinstance(dataset, Source):
        return dataset
    name = type(dataset).__name__
    if isinstance(dataset, tud.DataLoader):
        return _loader_source(dataset, tokenizer, batches, batch_size, max_length)
    if isinstance(dataset, tud.IterableDataset):
        if batches is None:
            batches = items_are_batches(peek(dataset), probe, tokenizer, max_length, "ask")
        items = dataset if batches else grouped(dataset, batch_size, tokenizer, max_length)
        size = None if batches else len_or_none(dataset)
        source = StreamSource(items, size=size, description=f"IterableDataset {name}")
        source.one_shot = False
        source.tokenizer = tokenizer
        source.batches = batches
        return source
    if isinstance(dataset, str):
        dataset = [dataset]
    if isinstance(dataset, torch.Tensor):
        if dataset.ndim == 0:
            raise InputError("Got a scalar tensor: pass a batch (N, ...) with examples on axis 0.")
        tensor = dataset
        return IndexedSource(
            lambda idx: tensor[idx], int(tensor.shape[0]), batch_size, description=f"tensor {name}"
        )
    if isinstance(dataset, Mapping):
        return _columns_source(dataset, batch_size, tokenizer)
    if isinstance(dataset, list | tuple) and not hasattr(dataset, "_fields"):
        items = list(dataset)
        if batches is None and items and not isinstance(items[0], str | torch.Tensor):
            # Containers (dicts, tuples) may be ready batches; tensors are examples unless
            # batches=True says otherwise (a list of tensors has always meant examples).
            batches = items_are_batches(items[0], probe, tokenizer, max_length, "examples")
        if batches:
            source = StreamSource(items, size=None, description="list of batches")
            source.size = sum(batch_size_of(b) for b in items)
            source.tokenizer, source.batches = tokenizer, True
            return source
        return _list_source(items, batch_size, tokenizer, max_length)
    if isinstance(dataset, tud.Dataset) or (
        hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")
    ):
        return _dataset_source(dataset, batch_size, tokenizer, max_length)  # HF Dataset too
    if isinstance(dataset, Iterable):
        source = StreamSource(dataset, size=None, description=f"iterable {name}")
        source.tokenizer = tokenizer
        return source
    raise InputError(
        f"Cannot mine a dataset of type {name}: pass a list of inputs, a batch tensor, a torch "
        "Dataset or DataLoader, or any iterable of batches."
    )


def _list_source(items: list[Any], batch_size: int, tokenizer: Any, max_length: int) -> Source:
    if items and all(isinstance(x, str) for x in items):
        if tokenizer is None:
            raise InputError(
                "The dataset holds strings but no tokenizer was given: pass tokenizer=... "
                "(for example transformers.AutoTokenizer.from_pretrained(path))."
            )
        limit = text_limit(tokenizer, max_length)
        return IndexedSource(
            lambda idx: tokenize([items[i] for i in idx], tokenizer, limit),
            len(items),
            batch_size,
            tokenizer=tokenizer,
            description="list of strings",
        )
    if not items:
        return IndexedSource(lambda _idx: None, 0, batch_size, description="empty list")
    inputs = InputSet.from_user(items, tokenizer=tokenizer, max_length=max_length)
    padded = inputs.modality == "dict" and tokenizer is not None
    if batch_size > 1 and not padded:
        check_shapes(inputs.examples)
    if padded:
        return IndexedSource(
            lambda idx: stack([inputs.example(i) for i in idx], tokenizer),
            len(inputs),
            batch_size,
            tokenizer=tokenizer,
            description="list of dicts",
        )
    return IndexedSource(
        inputs.batch,
        len(inputs),
        batch_size,
        tokenizer=tokenizer,
        description=f"list of {inputs.modality}",
    )


def _columns_source(columns: Mapping[str, Any], batch_size: int, tokenizer: Any) -> Source:
    tensors = {k: v for k, v in columns.items() if isinstance(v, torch.Tensor) and v.ndim > 0}
    sizes = {int(v.shape[0]) for v in tensors.values()}
    if not tensors or len(sizes) != 1:
        raise InputError(
            "A dict dataset must hold tensors with the examples on axis 0, all of one length "
            f"(got { ({k: tuple(v.shape) for k, v in tensors.items()}) }). For one dict per "
            "example, pass a list of dicts."
        )

    def get(idx: list[int]) -> Batch:
        return {k: (v[idx] if k in tensors else v) for k, v in columns.items()}

    return IndexedSource(
        get, sizes.pop(), batch_size, tokenizer=tokenizer, description="dict of tensors"
    )


def _dataset_source(dataset: Any, batch_size: int, tokenizer: Any, max_length: int) -> Source:
    limit = text_limit(tokenizer, max_length) if tokenizer is not None else max_length

    def get(idx: list[int]) -> Batch:
        return collate_items([dataset[i] for i in idx], idx[0] if idx else 0, tokenizer, limit)

    return IndexedSource(
        get, len(dataset), batch_size, tokenizer=tokenizer, description=type(dataset).__name__
    )


def _loader_source(
    loader: tud.DataLoader[Any],
    tokenizer: Any,
    batches: bool | None,
    batch_size: int,
    max_length: int,
) -> Source:
    automatic = not (loader.batch_size is None and loader.batch_sampler is None)
    sampler = loader.sampler
    if not isinstance(loader.dataset, tud.IterableDataset) and not isinstance(
        sampler, tud.SequentialSampler
    ):
        raise InputError(
            f"The DataLoader draws examples with a {type(sampler).__name__}, so an example's "
            "position differs from run to run and ids would not name it. Use "
            "DataLoader(dataset, shuffle=False, ...) or pass the dataset itself."
        )
    if not automatic and batches is False:
        # batch_size=None yields the dataset's items as they are; here, single examples.
        items = grouped(loader, batch_size, tokenizer, max_length)
        source = StreamSource(items, size=len_or_none(loader.dataset), description="DataLoader")
        source.one_shot, source.tokenizer, source.batches = False, tokenizer, False
        return source
    # With batch_size=None a DataLoader yields what its dataset yields: ready batches, as
    # PyTorch means it (batches=False says they are single examples).
    size = len_or_none(loader.dataset) if automatic else None
    source = StreamSource(loader, size=size, description="DataLoader")
    source.tokenizer, source.batches = tokenizer, True
    return source
