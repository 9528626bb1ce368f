"""Picking the tensor of a module's output: tuples, dicts, ``ModelOutput``s and nests of them.

A module may return a tensor, a tuple (LSTM: ``(output, (h_n, c_n))``), a dict or a Hugging
Face ``ModelOutput``. Each tensor inside has a *path* (see :mod:`.batch`): the keys and
indices that reach it, joined by dots (``""`` for a bare tensor, ``"0"``, ``"1.0"``,
``"last_hidden_state"``). A layer shows one tensor of its output: the first by default, or
the one an :data:`OutputSelector` picks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import torch

from .batch import children, tensor_paths
from .errors import LayerOutputError

# How a user picks the tensor of a layer's output: a path, or a function of the output.
OutputSelector: TypeAlias = str | int | Callable[[Any], torch.Tensor]


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
        found = {str(k): v for k, v in children(current) or ()}
        if part not in found:
            paths = [p for p, _ in tensor_paths(obj)]
            raise LayerOutputError(
                f"Layer {layer!r} has no output {selector!r}; its tensors are at "
                f"{paths or 'no path (it returned ' + describe(obj) + ')'}."
            )
        current = found[part]
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
