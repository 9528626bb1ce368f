"""Walking batch trees: the one place that knows how tensors nest inside a batch or an output.

A *tree* is a tensor, or a container of trees: a ``dict`` or any ``Mapping`` (Hugging Face
``BatchEncoding`` and ``ModelOutput`` included), a ``list``, a ``tuple``, a namedtuple or a
dataclass instance. Anything else is a leaf kept as it is (``None``, numbers, strings).

Each tensor has a *path*: the keys, indices and field names that reach it, joined by dots
(``""`` for a bare tensor, ``"0"``, ``"1.0"``, ``"last_hidden_state"``); the fields of a
namedtuple are numbered like a tuple's, those of a dataclass named.

Every walk in actscope goes through :func:`children` and :func:`rebuild`, so that all of
them agree on what a container is: :func:`map_tensors` (move, detach, slice, cast...),
:func:`tensor_paths` (find, describe) and :func:`zip_tensors` (concatenate, compare).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

_Children = list[tuple[str | int, Any]]


def is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def children(obj: Any) -> _Children | None:
    """``obj``'s items as ``(key, child)`` pairs, or ``None`` when ``obj`` is a leaf."""
    if isinstance(obj, torch.Tensor):
        return None
    if isinstance(obj, Mapping):
        return list(obj.items())
    if isinstance(obj, tuple | list):  # namedtuples too: their paths are indices, as tuples
        return list(enumerate(obj))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init]
    return None


def rebuild(obj: Any, values: Sequence[Any]) -> Any:
    """A container like ``obj`` holding ``values`` in place of its children, in order."""
    if isinstance(obj, Mapping):
        items = dict(zip(obj.keys(), values, strict=True))
        if type(obj) is dict:
            return items
        kind: Any = type(obj)
        try:
            if hasattr(obj, "__dataclass_fields__"):  # ModelOutput(**fields)
                return kind(**items)
            return kind(items)  # BatchEncoding(data), OrderedDict(items)...
        except TypeError:
            return items
    if is_namedtuple(obj):
        return type(obj)(*values)
    if isinstance(obj, tuple):
        return tuple(values) if type(obj) is tuple else type(obj)(values)
    if isinstance(obj, list):
        return list(values) if type(obj) is list else type(obj)(values)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = [f.name for f in dataclasses.fields(obj) if f.init]
        return dataclasses.replace(obj, **dict(zip(names, values, strict=True)))
    raise TypeError(f"{type(obj).__name__} is not a container")


def map_tensors(fn: Callable[[torch.Tensor], Any], tree: Any) -> Any:
    """``tree`` with every tensor ``t`` replaced by ``fn(t)``; the containers rebuilt alike."""
    if isinstance(tree, torch.Tensor):
        return fn(tree)
    items = children(tree)
    if items is None:
        return tree
    return rebuild(tree, [map_tensors(fn, value) for _, value in items])


def tensor_paths(tree: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor inside ``tree`` with its path, depth first, in the tree's own order."""
    if isinstance(tree, torch.Tensor):
        yield prefix, tree
        return
    for key, value in children(tree) or ():
        yield from tensor_paths(value, f"{prefix}.{key}" if prefix else str(key))


def tensors(tree: Any) -> list[torch.Tensor]:
    """Every tensor inside ``tree``, in order."""
    return [t for _, t in tensor_paths(tree)]


def first_tensor(tree: Any) -> torch.Tensor | None:
    for _, tensor in tensor_paths(tree):
        return tensor
    return None


def zip_tensors(fn: Callable[[list[torch.Tensor]], Any], trees: Sequence[Any]) -> Any:
    """One tree from several of the same structure: ``fn`` of the tensors at each place.

    Leaves that are not tensors are taken from the first tree. A tree whose structure
    differs from the first raises :class:`ValueError` naming the path.
    """
    return _zip(fn, list(trees), "")


def _zip(fn: Callable[[list[torch.Tensor]], Any], trees: list[Any], path: str) -> Any:
    first = trees[0]
    if isinstance(first, torch.Tensor):
        if not all(isinstance(t, torch.Tensor) for t in trees):
            raise ValueError(f"at {path or 'the top'}: a tensor in one batch, not in another")
        return fn(trees)
    items = children(first)
    if items is None:
        return first
    others = [children(t) for t in trees[1:]]
    for other in others:
        if other is None or [k for k, _ in other] != [k for k, _ in items]:
            raise ValueError(f"at {path or 'the top'}: the batches have different structures")
    values = []
    for n, (key, value) in enumerate(items):
        sub = f"{path}.{key}" if path else str(key)
        column = [value] + [other[n][1] for other in others if other is not None]
        values.append(_zip(fn, column, sub))
    return rebuild(first, values)


def describe(tree: Any) -> str:
    """``"tensor (1, 3, 32, 32) float32"`` or ``"input_ids (1, 12) int64, ..."``."""
    if isinstance(tree, torch.Tensor):
        return f"tensor {tuple(tree.shape)} {str(tree.dtype).removeprefix('torch.')}"
    items = children(tree)
    if items is None:
        return type(tree).__name__
    if isinstance(tree, Mapping):
        return ", ".join(f"{k} {describe(v)}" for k, v in items)
    return "(" + ", ".join(describe(v) for _, v in items) + ")"


def move(tree: Any, device: torch.device, float_dtype: torch.dtype | None = None) -> Any:
    """The same tree on ``device``; floating tensors cast to ``float_dtype`` if given."""

    def to(t: torch.Tensor) -> torch.Tensor:
        if float_dtype is not None and t.is_floating_point() and t.dtype != float_dtype:
            return t.to(device=device, dtype=float_dtype, non_blocking=True)
        return t.to(device, non_blocking=True)

    return map_tensors(to, tree)


def detach(tree: Any) -> Any:
    """The same tree with every tensor detached (no copy of the data)."""
    return map_tensors(torch.Tensor.detach, tree)


def rows(tree: Any, index: torch.Tensor | slice, n: int | None = None) -> Any:
    """Rows ``index`` (a slice or a tensor of indices) of every tensor with a batch axis.

    With ``n``, only tensors whose axis 0 is ``n`` long are sliced (the others are shared by
    every example: kept whole); without, every tensor of at least one axis is.
    """

    def take(t: torch.Tensor) -> torch.Tensor:
        if t.ndim == 0 or (n is not None and t.shape[0] != n):
            return t
        return t[index] if isinstance(index, slice) else t.index_select(0, index.to(t.device))

    return map_tensors(take, tree)


def shape_of(tree: Any) -> Any:
    """A hashable outline of the tree: its structure with each tensor's shape."""
    if isinstance(tree, torch.Tensor):
        return tuple(tree.shape)
    items = children(tree)
    if items is None:
        return type(tree).__name__
    return tuple((k, shape_of(v)) for k, v in items)
