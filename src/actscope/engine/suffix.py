"""Running blocks on the later positions only: the suffix of a patched run, reused.

In a causal language model a patch at position ``p`` changes nothing before ``p``: every
block computes for the earlier positions what the corrupted run computed. So a patched run
of blocks ``b`` onwards (:class:`~actscope.engine.prefix.Prefix`) can also start at a
position ``a <= p``: the blocks run on positions ``a`` onwards only, and their attention reads
the keys and values of the positions before ``a`` from the corrupted run's, recorded once.
The work of a patched batch then shrinks with ``T - a``; patching sweeps group their patches
by position so that most groups start late (:func:`groups`).

It needs blocks that take a cache and a mask, as Hugging Face's decoder blocks do: a cache
argument (``cache``, ``past_key_values``, ``layer_past``), whose ``update(keys, values,
layer_idx)`` the attention calls, and an ``attention_mask``. :class:`Suffix` passes its own
cache (the recorded keys and values before ``a``, then the new ones), a causal mask of the
later positions over all of them, and the positional arguments (position ids, rotary
embeddings, cache positions) cut to the later positions. Whether that reproduces the model
is not assumed but checked, as for the prefix: a replay from the middle position must give
the full replay's logits there, or :meth:`Suffix.build` returns ``None`` and patched runs
start at position 0.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch

from .batch import first_tensor, map_tensors
from .prefix import Prefix, _hidden

CACHE_NAMES = ("cache", "past_key_values", "past_key_value", "layer_past")
KeyValues = dict[int, tuple[torch.Tensor, torch.Tensor]]


class _Keys:
    """The cache a block's attention is given (duck-typed as Hugging Face's ``Cache``): it
    records each layer's keys and values (``before=None``), or puts the recorded ones of
    the earlier positions before the new ones."""

    def __init__(self, before: KeyValues | None = None) -> None:
        self.before = before
        self.seen: KeyValues = {}

    def update(
        self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *_: Any, **__: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.before is None:
            self.seen[layer_idx] = (key, value)
            return key, value
        k, v = self.before[layer_idx]
        return torch.cat([k, key], dim=-2), torch.cat([v, value], dim=-2)


@dataclass
class _Block:
    signature: inspect.Signature
    hidden: str
    cache: str
    mask: str


@dataclass
class Suffix:
    """Blocks ``start`` onwards of a :class:`Prefix`, run from a position on."""

    prefix: Prefix
    blocks: dict[int, _Block]
    keys: KeyValues
    """Each attention layer's keys and values on the corrupted batch (``n`` rows)."""
    length: int
    logits: torch.Tensor
    """The corrupted run's logits, ``(n, T, vocab)``: those of the positions before ``a``."""
    _calls: dict[tuple[int, int, int], dict[int, inspect.BoundArguments]] = field(
        default_factory=dict
    )

    @classmethod
    def build(cls, prefix: Prefix, start: int, logits: torch.Tensor) -> Suffix | None:
        """The suffix of ``prefix`` from block ``start`` (``logits``: the corrupted run's,
        ``(n, T, vocab)``), if a replay from the middle position reproduces it."""
        calls = prefix.calls
        h = _hidden(calls[start])
        if h is None or h.ndim != 3 or logits.ndim != 3 or h.shape[1] < 2:
            return None
        blocks: dict[int, _Block] = {}
        for i in range(start, len(prefix.blocks)):
            try:
                signature = inspect.signature(prefix.blocks[i].forward)
            except (TypeError, ValueError):
                return None
            names = signature.parameters
            cache = next((c for c in CACHE_NAMES if c in names), None)
            if cache is None or "attention_mask" not in names:
                return None
            blocks[i] = _Block(signature, next(iter(names)), cache, "attention_mask")
        suffix = cls(prefix, blocks, {}, int(h.shape[1]), logits)
        try:
            recorder = _Keys()
            whole = prefix._logits(suffix._run(start, 1, 0, recorder))
            suffix.keys = recorder.seen
            middle = suffix.length // 2
            replayed = suffix.run(start, 2, middle)
        except Exception:  # a block that does not take what Hugging Face's take
            return None
        full = logits.repeat(2, *([1] * (logits.ndim - 1)))
        atol = 1e-5 * (1.0 + float(full.abs().max()))
        same = suffix.keys and torch.allclose(whole, logits, 1e-4, atol)
        if not same or not torch.allclose(replayed[:, middle:], full[:, middle:], 1e-4, atol):
            return None
        return suffix

    def run(self, start: int, copies: int, a: int, at: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of ``copies`` copies of the corrupted batch run from block ``start`` on,
        for positions ``a`` onwards (hooks fire on tensors of ``T - a`` positions); the
        earlier positions' are the corrupted run's. With ``at`` (one position per example,
        each ``>= a``) only those positions are unembedded, the others left 0."""
        before = {i: (k[..., :a, :], v[..., :a, :]) for i, (k, v) in self.keys.items()}
        index = torch.arange(copies * self.prefix.n) % self.prefix.n
        cache = _Keys({i: (k[index], v[index]) for i, (k, v) in before.items()})
        h = self._run(start, copies, a, cache)
        rows = h.shape[0]
        if at is None:
            out = self.logits[index.to(self.logits.device)].clone()
            out[:, a:] = self.prefix._logits(h)
            return out
        row = torch.arange(rows, device=h.device)
        where = at.to(h.device).repeat(copies) % self.length
        picked = self.prefix._logits(h[row, where - a])
        out = picked.new_zeros(rows, self.length, picked.shape[-1])
        out[row, where] = picked
        return out

    def _run(self, start: int, copies: int, a: int, cache: _Keys) -> torch.Tensor:
        calls = self._cut(start, copies, a)
        h: torch.Tensor | None = calls[start].arguments[self.blocks[start].hidden]
        for i in range(start, len(self.prefix.blocks)):
            block, bound = self.blocks[i], calls[i]
            bound.arguments[block.hidden] = h
            bound.arguments[block.cache] = cache
            out = self.prefix.blocks[i](*bound.args, **bound.kwargs)
            h = out if isinstance(out, torch.Tensor) else first_tensor(out)
        assert h is not None
        return h

    def _cut(self, start: int, copies: int, a: int) -> dict[int, inspect.BoundArguments]:
        """The recorded calls of blocks ``start`` onwards for ``copies`` copies (batched
        tensors repeated), cut to positions ``a`` onwards: every tensor with a position axis
        (axis 0 of a vector, else axis 1) cut, the mask made that of the later positions
        over all of them, and only block ``start``'s residual stream kept."""
        if (start, copies, a) in self._calls:
            return self._calls[(start, copies, a)]
        t_len, batched = self.length, self.prefix.batched
        index = torch.arange(copies * self.prefix.n) % self.prefix.n

        def cut(t: torch.Tensor) -> torch.Tensor:
            if id(t) in batched:
                t = t.index_select(0, index.to(t.device))
            if t.ndim == 1 and t.shape[0] == t_len:
                return t[a:]
            if t.ndim >= 2 and t.shape[1] == t_len:
                return t[:, a:]
            return t

        out = {}
        for i in range(start, len(self.prefix.blocks)):
            block = self.blocks[i]
            args, kwargs = self.prefix.calls[i]
            bound = block.signature.bind(*args, **kwargs)
            mask = bound.arguments.get(block.mask)
            if isinstance(mask, torch.Tensor) and id(mask) in batched:
                mask = mask.index_select(0, index.to(mask.device))
            if i > start:
                bound.arguments[block.hidden] = None  # the block before gives it
            bound.arguments = {
                k: (v if k == block.mask else map_tensors(cut, v))
                for k, v in bound.arguments.items()
            }
            bound.arguments[block.mask] = self._mask(mask, a)
            out[i] = bound
        self._calls = {(start, copies, a): out}  # one geometry at a time: groups run in order
        return out

    def _mask(self, mask: Any, a: int) -> torch.Tensor:
        """The attention mask of positions ``a`` onwards over every position: the recorded
        one's rows when there is one, else causal (0 where a position may attend, the
        lowest float where not)."""
        t_len = self.length
        if isinstance(mask, torch.Tensor):
            if mask.ndim != 4 or mask.shape[-2] != t_len or mask.shape[-1] != t_len:
                raise ValueError(f"a mask of shape {tuple(mask.shape)}")
            return mask[:, :, a:, :]
        if mask is not None:
            raise ValueError(f"a mask of type {type(mask).__name__}")
        h = _hidden(self.prefix.calls[min(self.blocks)])
        assert h is not None
        query = torch.arange(a, t_len, device=h.device)[:, None]
        key = torch.arange(t_len, device=h.device)[None, :]
        low = torch.finfo(h.dtype).min
        return torch.where(key <= query, 0.0, low).to(h.dtype)[None, None]


def geometry(prefix: Prefix, start: int) -> tuple[int, int]:
    """The positions of the residual stream into block ``start``, and what one more pass
    costs beyond its rows, in rows (copies × positions): a pass's calls cost about the same
    at any width, a row's work grows with the width squared (measured on a 2-core CPU:
    about 24 rows at width 256)."""
    h = _hidden(prefix.calls[start])
    if h is None or h.ndim != 3:
        return 0, 0
    return int(h.shape[1]), max(4, min(1024, round(24 * (256 / int(h.shape[-1])) ** 2)))


def cost(split: list[list[Any]], length: int, fixed: int) -> int:
    """The rows that runs of these groups compute, ``fixed`` more for each run."""
    return sum(len(g) * (length - _start(g)) + fixed for g in split)


def groups(chunk: list[Any], length: int, fixed: int) -> list[list[Any]]:
    """``chunk`` (patches in position order) split into runs that each start at their
    first patch's position, as many (up to 16) as make the :func:`cost` the least."""
    best, best_cost = [chunk], cost([chunk], length, fixed)
    for parts in range(2, min(16, len(chunk)) + 1):
        size = -(-len(chunk) // parts)
        split = [chunk[i : i + size] for i in range(0, len(chunk), size)]
        if cost(split, length, fixed) < best_cost:
            best, best_cost = split, cost(split, length, fixed)
    return best


def _start(group: list[Any]) -> int:
    positions = [p for p, _ in group]
    return 0 if any(p is None for p in positions) else min(positions)
