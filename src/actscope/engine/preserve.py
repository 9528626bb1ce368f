"""Leaving a model's buffers as found, whatever a forward pass does to them.

A forward pass in training mode updates BatchNorm's ``running_mean``, ``running_var`` and
``num_batches_tracked`` in place; other model code may keep counters or caches in buffers.
Every forward pass actscope runs (discovery, the explorer's views, mining, saliency...)
goes through :func:`buffers_kept`, which keeps a copy of the buffers of modules in training
mode (small: statistics, counters) and puts them back afterwards, on every path (values
and tensor objects: batch norm's kernel updates its statistics without moving their
version counters, so nothing is assumed unchanged). Buffers of modules in eval mode are
not copied (a large model's buffers can be large); their version counters are compared
instead, and one that moved is named in a warning.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .hooks import live_hook_ids


@dataclass
class _Kept:
    module: nn.Module
    name: str
    path: str
    tensor: torch.Tensor
    version: int | None
    copy: torch.Tensor | None


def _version(tensor: torch.Tensor) -> int | None:
    try:
        return int(tensor._version)
    except RuntimeError:  # an inference tensor has no version counter (and cannot change)
        return None


def _record(model: nn.Module) -> list[_Kept]:
    kept = []
    for path, module in model.named_modules():
        for name, tensor in module._buffers.items():
            if tensor is None:
                continue
            copy = tensor.detach().clone() if module.training else None
            full = f"{path}.{name}" if path else name
            kept.append(_Kept(module, name, full, tensor, _version(tensor), copy))
    return kept


def _restore(kept: list[_Kept]) -> list[str]:
    """Put every copied buffer back; the names of changed buffers that had no copy."""
    lost = []
    with torch.no_grad():
        for k in kept:
            replaced = k.module._buffers.get(k.name) is not k.tensor
            if k.copy is not None:
                # Copied: put back unconditionally (native kernels such as batch norm's
                # update running statistics without moving the version counter).
                k.tensor.copy_(k.copy)
                k.module._buffers[k.name] = k.tensor
                continue
            if replaced:
                k.module._buffers[k.name] = k.tensor
            elif k.version is not None and _version(k.tensor) != k.version:
                lost.append(k.path)
    return lost


_active = threading.local()


@contextmanager
def buffers_kept(model: nn.Module) -> Iterator[None]:
    """Run the block, then restore ``model``'s buffers as they were before it.

    Buffers of modules in training mode are restored exactly (the tensor objects too);
    a buffer of a module in eval mode that the block changed in place is reported in a
    :class:`UserWarning` that names it. Nested blocks for the same model restore once, when
    the outermost ends: a gradient computed after the forward pass (saliency) still finds
    the buffers its graph saved.
    """
    held: set[int] = _active.__dict__.setdefault("models", set())
    if id(model) in held:
        yield
        return
    held.add(id(model))
    kept = _record(model)
    try:
        yield
    finally:
        held.discard(id(model))
        lost = _restore(kept)
        if lost:
            warnings.warn(
                f"The model changed buffer(s) {', '.join(lost[:5])} in place during a forward "
                "pass in eval mode; actscope could not restore them (it keeps copies only of "
                "buffers of modules in training mode).",
                UserWarning,
                stacklevel=3,
            )


HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks_with_kwargs",
)
# Hugging Face installs its output-capturing hooks once, and marks the model with this.
HF_HOOKS_FLAG = "_output_capturing_hooks_installed"


@contextmanager
def hooks_kept(model: nn.Module) -> Iterator[None]:
    """Remove, when the block ends, every module hook that code inside it added (and the
    flag Hugging Face sets when it installs its own), so that the model is left with
    exactly the hooks it had: the user's. Hooks that actscope's own ``Hooks`` blocks hold
    (in this thread or another: a view's capture while a job reads attention) are theirs to
    remove, and stay."""
    before = {
        id(m): (m, {d: set(getattr(m, d, {})) for d in HOOK_DICTS}, m.__dict__.get(HF_HOOKS_FLAG))
        for m in model.modules()
    }
    try:
        yield
    finally:
        for module, keys, flag in before.values():
            for d, had in keys.items():
                table = getattr(module, d, None)
                if table is None:
                    continue
                for key in set(table) - had - live_hook_ids():
                    table.pop(key, None)
            if flag is None:
                module.__dict__.pop(HF_HOOKS_FLAG, None)
            else:
                module.__dict__[HF_HOOKS_FLAG] = flag
