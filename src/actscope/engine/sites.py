"""Patch sites: where a layer's activation is read on the clean run and written on patched runs.

A :class:`Site` is one call of one module, and which of its tensors is patched: its output
(the first tensor of a tuple or dict, as ``capture`` shows it), its first positional input,
or its attention heads: the per-head slice of the input of the attention's output projection
(``c_proj``, ``o_proj``, ``out_proj``, ``dense``, ``o``), or an output that is already
``(N, T, heads, d_head)`` (TransformerLens' ``hook_z``).

A *patch* is ``(position, head)``, either ``None`` for all. :func:`patcher` makes the edit for
a batch of ``k`` copies of the corrupted inputs: copy ``j`` gets the clean activation at patch
``j``, written into a clone of the tensor, in one indexed copy for the whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .batch import map_tensors
from .errors import InputError
from .hooks import Hooks
from .names import resolve_modules, split_call
from .outputs import select
from .selection import Layout

OUT_PROJECTIONS = ("c_proj", "o_proj", "out_proj", "dense", "o")
HEAD_COUNTS = ("num_heads", "n_head", "n_heads", "num_attention_heads")
Patch = tuple[int | None, int | None]
"""(flat position or ``None`` for all, head or ``None``)."""


@dataclass
class Site:
    """One call of one module, the tensor of it that is patched, and its clean value."""

    layer: str
    module: nn.Module
    call: int
    input: bool
    heads: int = 0
    """Heads split from the last axis (an out-projection's input); 0: none."""
    head_axis: bool = False
    """The tensor is already ``(N, T, H, D)``."""
    clean: torch.Tensor | None = None
    block: int | None = None

    def hook(self, hooks: Hooks, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> None:
        """``fn`` on this site's tensor at its call (a tensor it returns replaces it)."""
        seen = [0]

        def at_call() -> bool:
            k = seen[0]
            seen[0] += 1
            return k == self.call

        if self.input:

            def pre(_m: nn.Module, args: tuple[Any, ...]) -> Any:
                if not at_call():
                    return None
                if not args or not isinstance(args[0], torch.Tensor):
                    raise InputError(
                        f"{self.layer!r} gets no tensor as its first positional input; "
                        "patch the output of the module before it instead."
                    )
                new = fn(args[0])
                return None if new is None else (new, *args[1:])

            hooks.pre(self.module, pre)
            return

        def post(_m: nn.Module, _args: Any, output: Any) -> Any:
            if not at_call():
                return None
            tensor = select(output, None, self.layer)
            new = fn(tensor)
            if new is None or output is tensor:
                return new
            return map_tensors(lambda t: new if t is tensor else t, output)

        hooks.forward(self.module, post)

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as ``(rows, T, H, D)`` for heads, else with units last."""
        if self.heads:
            return x.view(*x.shape[:-1], self.heads, x.shape[-1] // self.heads)
        if self.head_axis:
            return x
        return Layout.of(self.layer, x).units_last(x)

    def grid(self) -> tuple[int, ...]:
        assert self.clean is not None
        if self.heads or self.head_axis:
            return tuple(self.clean.shape[1:2])
        return Layout.of(self.layer, self.clean).grid

    def n_heads(self) -> int:
        assert self.clean is not None
        return self.heads or (int(self.clean.shape[2]) if self.head_axis else 0)


def site_of(model: nn.Module, name: str, site: str, heads: bool) -> Site:
    base, call = split_call(name)
    module = resolve_modules(model, [base])[base]
    if not heads:
        return Site(name, module, call, input=site == "input")
    for attr in OUT_PROJECTIONS:
        child = getattr(module, attr, None)
        if isinstance(child, nn.Module):
            count = head_count(module)
            if count:
                return Site(name, child, call, input=True, heads=count)
    return Site(name, module, call, input=False, head_axis=True)


def head_count(module: nn.Module) -> int:
    config = getattr(module, "config", None)
    for owner in (module, config):
        for attr in HEAD_COUNTS:
            value = getattr(owner, attr, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return 0


def patches(s: Site, positions: Any, heads: bool) -> list[Patch]:
    grid = s.grid()
    total = math.prod(grid)
    shape = tuple(s.clean.shape) if s.clean is not None else ()
    if isinstance(positions, str):
        if positions not in ("each", "all"):
            raise InputError(
                f"positions is 'each', 'all' or a list of positions, not {positions!r}."
            )
        chosen: list[int | None] = list(range(total)) if positions == "each" else [None]
    else:
        chosen = []
        for p in positions:
            flat = int(p) + total if int(p) < 0 else int(p)
            if not 0 <= flat < total:
                raise InputError(
                    f"position {p} is out of range for {s.layer!r}, which has {total} positions "
                    f"(0 to {total - 1}); its activation has shape {shape}."
                )
            chosen.append(flat)
        if not chosen:
            raise InputError("positions is an empty list: pass 'each', 'all' or some positions.")
    head_list: list[int | None] = list(range(s.n_heads())) if heads else [None]
    return [(p, h) for p in chosen for h in head_list]


def patcher(
    s: Site, patches: list[Patch], n: int, offset: int = 0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The hook's edit: copy ``j`` of the batch gets the clean activation at patch ``j``.
    With ``offset``, the run holds positions ``offset`` onwards of a ``(N, T, ...)`` site
    (:mod:`.suffix`), and every patch's position is at or after it."""
    assert s.clean is not None
    clean = s.clean[:, offset:] if offset else s.clean
    grid = (clean.shape[1],) if offset else s.grid()

    def patch(x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != tuple(clean.shape[1:]) or x.shape[0] != n * len(patches):
            raise InputError(
                f"The clean run's activation at {s.layer!r} has shape {tuple(clean.shape)} but "
                f"the corrupted run's is {tuple(x.shape[1:])} per example: clean and "
                "corrupted inputs must have the same shape."
            )
        result = x.clone()
        view_of = s.view if not offset or s.heads or s.head_axis else (lambda t: t)
        view, source = view_of(result), view_of(clean.to(x.device, x.dtype))
        row = torch.arange(x.shape[0], device=x.device)
        ex, copy = row % n, row // n
        pos = [p for p, _ in patches]
        head = [h for _, h in patches]
        if pos[0] is None:
            if head[0] is None:
                view.copy_(source[ex])
            else:
                h = torch.tensor(head, device=x.device)[copy]
                view[row, :, h] = source[ex, :, h]
            return result
        p = torch.tensor(pos, device=x.device)[copy] - offset
        if head[0] is not None:
            h = torch.tensor(head, device=x.device)[copy]
            view[row, p, h] = source[ex, p, h]
            return result
        coords = torch.unravel_index(p, grid)
        view[(row, *coords)] = source[(ex, *coords)]
        return result

    return patch
