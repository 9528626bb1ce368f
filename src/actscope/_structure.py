"""Walking a module's output: tuples, dicts, ``ModelOutput``s and nests of them.

A module may return a tensor, a tuple (LSTM: ``(output, (h_n, c_n))``), a dict or a Hugging
Face ``ModelOutput``. Each tensor inside has a *path*: the keys and indices that reach it,
joined by dots (``""`` for a bare tensor, ``"0"``, ``"1.0"``, ``"last_hidden_state"``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeAlias

import torch

from .errors import LayerOutputError

# How a user picks the tensor of a layer's output: a path, or a function of the output.
OutputSelector: TypeAlias = str | int | Callable[[Any], torch.Tensor]


def tensor_paths(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor inside ``obj`` with its path, depth first, in the output's own order."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from tensor_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, tuple | list):
        for i, value in enumerate(obj):
            yield from tensor_paths(value, f"{prefix}.{i}" if prefix else str(i))


def first_tensor_path(obj: Any) -> str | None:
    """The path of the tensor shown by default: the first one in the output."""
    for path, _ in tensor_paths(obj):
        return path
    return None


def select(obj: Any, selector: OutputSelector | None, layer: str) -> torch.Tensor:
    """The tensor that ``selector`` picks out of a layer's output ``obj``."""
    if callable(selector):
        picked = selector(obj)
        if not isinstance(picked, torch.Tensor):
            raise LayerOutputError(
                f"The output selector for layer {layer!r} returned {type(picked).__name__}, "
                "not a tensor."
            )
        return picked
    if selector is None:
        path = first_tensor_path(obj)
        if path is None:
            raise LayerOutputError(
                f"Layer {layer!r} returned {describe(obj)}, which holds no tensor. "
                "Pick a layer that returns a tensor (actscope.list_layers shows each "
                "layer's output)."
            )
        selector = path
    current = obj
    for part in str(selector).split(".") if str(selector) else []:
        try:
            if isinstance(current, Mapping):
                current = current[part]
            elif isinstance(current, tuple | list):
                current = current[int(part)]
            else:
                raise KeyError(part)
        except (KeyError, IndexError, ValueError):
            paths = [p for p, _ in tensor_paths(obj)]
            raise LayerOutputError(
                f"Layer {layer!r} has no output {selector!r}; its tensors are at "
                f"{paths or 'no path (it returned ' + describe(obj) + ')'}."
            ) from None
    if not isinstance(current, torch.Tensor):
        raise LayerOutputError(
            f"Output {selector!r} of layer {layer!r} is {describe(current)}, not a tensor."
        )
    return current


def describe(obj: Any) -> str:
    """A short description of an output, for error messages."""
    if isinstance(obj, torch.Tensor):
        return f"a tensor of shape {tuple(obj.shape)} ({str(obj.dtype).removeprefix('torch.')})"
    if obj is None:
        return "None"
    if isinstance(obj, tuple | list):
        return f"a {type(obj).__name__} of {len(obj)}"
    return f"a {type(obj).__name__}"


def detach(obj: Any) -> Any:
    """The same structure with every tensor detached (no copy of the data)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach()
    if isinstance(obj, Mapping):
        return {k: detach(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple, e.g. PackedSequence
        return type(obj)(*(detach(v) for v in obj))
    if isinstance(obj, tuple | list):
        return type(obj)(detach(v) for v in obj)
    return obj
