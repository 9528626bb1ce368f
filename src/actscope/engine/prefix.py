"""Running a language model from one of its blocks on: the prefix of a patched run, reused.

In activation patching, every patched run of a layer inside block ``b`` computes exactly what
the corrupted run computed before block ``b``. When the model is a simple stack of blocks (a
Hugging Face GPT-2 or Llama, a TransformerLens model: one ``nn.ModuleList`` of blocks, then a
final norm and an unembedding, :func:`~actscope.engine.lm.lm_parts`), :class:`Prefix` runs the
corrupted batch once, records what each block was called with (the residual stream and the
keyword arguments: masks, position embeddings), and then runs only blocks ``b`` onwards, the
final norm and the unembedding for each patched batch.

Whether a model is such a stack is not assumed but checked: the recorded run is replayed
from the first block needed, and the replay's logits must match the model's own; otherwise
(or for a model without blocks) :meth:`Prefix.build` returns ``None`` and patching runs whole
forward passes. Caches in the recorded arguments (Hugging Face's ``DynamicCache``) are
dropped, so that replays never attend to keys left by other runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .batch import first_tensor, map_tensors, rows
from .forward import Batch, ForwardFn, run_forward
from .hooks import Hooks
from .lm import lm_parts, logits_of
from .names import canonical_names, resolve_modules

Call = tuple[tuple[Any, ...], dict[str, Any]]


def block_of(model: nn.Module, module: nn.Module, blocks: list[str]) -> int | None:
    """The index of the block that is or contains ``module`` (``None``: outside them)."""
    name = canonical_names(model).get(id(module))
    if name is None:
        return None
    for i, block in enumerate(blocks):
        if name == block or name.startswith(block + "."):
            return i
    return None


def find_blocks(model: nn.Module) -> list[str]:
    """The model's blocks as :func:`lm_parts` finds them, or ``[]``."""
    try:
        return lm_parts(model).blocks
    except Exception:  # not a language model actscope recognises: no prefix to reuse
        return []


def _is_cache(value: Any) -> bool:
    return any(kind.__name__.endswith("Cache") for kind in type(value).__mro__)


def _clean(call: Call) -> Call:
    args, kwargs = call
    args = tuple(None if _is_cache(a) else a for a in args)
    kwargs = {k: (None if _is_cache(v) else v) for k, v in kwargs.items()}
    if "use_cache" in kwargs:
        kwargs["use_cache"] = False
    return args, kwargs


def _pre_with_kwargs(
    hooks: Hooks,
    module: nn.Module,
    fn: Callable[[nn.Module, tuple[Any, ...], dict[str, Any]], None],
) -> None:
    """A pre-hook that also sees keyword arguments, kept by ``hooks`` like its own (Hooks.pre
    takes no ``with_kwargs``): thread-bound, removed when the block ends."""
    handle = module.register_forward_pre_hook(hooks._bind(fn), with_kwargs=True)
    hooks.keep(handle)


@dataclass
class Prefix:
    """Blocks ``start`` onwards of a model, with what the corrupted run fed each of them.

    The calls are recorded on the corrupted batch doubled, kept at its own size ``n`` and
    repeated for ``k`` copies when a patched batch runs: a tensor is repeated when its first
    axis was the doubled batch's, and shared otherwise (position ids, cache positions).
    """

    blocks: list[nn.Module]
    calls: dict[int, Call]
    batched: set[int]
    """``id``s of the recorded tensors that have a batch axis."""
    final_norm: Callable[[torch.Tensor], torch.Tensor] | None
    unembed: Callable[[torch.Tensor], torch.Tensor]
    n: int
    base: torch.Tensor | None = None
    """The model's own logits on the corrupted batch (``n`` rows)."""
    _copies: dict[int, dict[int, Call]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        model: nn.Module,
        batch: Batch,
        forward: ForwardFn | None,
        start: int,
        names: list[str],
        n: int,
    ) -> Prefix | None:
        """Record blocks ``start`` onwards on ``batch`` (``n`` examples) doubled, keeping
        the first ``n`` rows of every tensor whose first axis is the doubled batch; the
        prefix if a replay of two copies from ``start`` gives the model's own logits (and
        unembedding the last position alone, its own last logits), else ``None``."""
        parts = lm_parts(model, blocks=names)
        modules = list(resolve_modules(model, names).values())
        twice, logits = _record(
            model, rows(batch, torch.arange(2 * n) % n, n), forward, modules, start
        )
        if twice is None:
            return None
        batched: set[int] = set()

        def first_half(t: torch.Tensor) -> torch.Tensor:
            if not t.ndim or t.shape[0] != 2 * n:
                return t  # shared by every example (position ids, cache positions)
            half = t[:n]
            batched.add(id(half))
            return half

        once = {i: map_tensors(first_half, c) for i, c in twice.items()}
        prefix = cls(modules, once, batched, parts.final_norm, parts.unembed, n, logits[:n])
        try:
            h = prefix.hidden(start, 2)
        except Exception:  # a call that does not repeat as the batch does
            return None
        replayed = prefix._logits(h)
        atol = 1e-5 * (1.0 + float(logits.abs().max()))
        if replayed.shape != logits.shape or not torch.allclose(replayed, logits, 1e-4, atol):
            return None
        if logits.ndim == 3:  # unembedding one position per example gives the same logits
            alone = prefix._logits(h[:, -1])
            if not torch.allclose(alone, logits[:, -1], 1e-4, atol):
                return None
        return prefix

    def calls_for(self, copies: int) -> dict[int, Call]:
        """The recorded calls with every batched tensor repeated ``copies`` times (row
        ``j * n + i`` is example ``i``)."""
        if copies not in self._copies:
            index = torch.arange(copies * self.n) % self.n

            def repeat(t: torch.Tensor) -> torch.Tensor:
                return t.index_select(0, index.to(t.device)) if id(t) in self.batched else t

            self._copies = {copies: {i: map_tensors(repeat, c) for i, c in self.calls.items()}}
        return self._copies[copies]

    def run(self, start: int, copies: int = 1, at: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of ``copies`` copies of the recorded batch, run from block ``start`` on
        (hooks on the blocks and inside them fire, and may patch). With ``at`` (one token
        position per example, ``(n,)``) only those positions are unembedded; the others
        are left 0."""
        h = self.hidden(start, copies)
        if at is None:
            return self._logits(h)
        row = torch.arange(h.shape[0], device=h.device)
        where = at.to(h.device).repeat(copies) % h.shape[1]
        picked = self._logits(h[row, where])
        out = picked.new_zeros(h.shape[0], h.shape[1], picked.shape[-1])
        out[row, where] = picked
        return out

    def hidden(self, start: int, copies: int) -> torch.Tensor:
        """The residual stream out of the last block for ``copies`` copies, run from block
        ``start`` on."""
        calls = self.calls_for(copies)
        h = _hidden(calls[start])
        for i in range(start, len(self.blocks)):
            args, kwargs = calls[i]
            if args and isinstance(args[0], torch.Tensor):
                out = self.blocks[i](h, *args[1:], **kwargs)
            else:
                out = self.blocks[i](*args, **{**kwargs, "hidden_states": h})
            h = out if isinstance(out, torch.Tensor) else first_tensor(out)
        assert h is not None
        return h

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        if self.final_norm is not None:
            h = self.final_norm(h)
        return self.unembed(h)


def _record(
    model: nn.Module, batch: Batch, forward: ForwardFn | None, modules: list[nn.Module], start: int
) -> tuple[dict[int, Call] | None, torch.Tensor]:
    """What blocks ``start`` onwards were called with (caches dropped), and the logits;
    ``None`` when a block ran twice or not at all, or got no residual stream."""
    calls: dict[int, Call] = {}
    twice: set[int] = set()

    def recorder(i: int) -> Callable[[nn.Module, tuple[Any, ...], dict[str, Any]], None]:
        def record(_m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if i in calls:
                twice.add(i)
            calls[i] = (args, dict(kwargs))

        return record

    with Hooks() as hooks:
        for i in range(start, len(modules)):
            _pre_with_kwargs(hooks, modules[i], recorder(i))
        logits = logits_of(run_forward(model, batch, forward, what="the corrupted inputs"))
    if (
        twice
        or len(calls) != len(modules) - start
        or any(_hidden(c) is None for c in calls.values())
    ):
        return None, logits
    return {i: _clean(c) for i, c in calls.items()}, logits


def _hidden(call: Call) -> torch.Tensor | None:
    args, kwargs = call
    if args and isinstance(args[0], torch.Tensor):
        return args[0]
    value = kwargs.get("hidden_states")
    return value if isinstance(value, torch.Tensor) else None
