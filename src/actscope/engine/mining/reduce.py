"""One layer's output for one batch → per-example maxima, their positions, active counts.

This runs inside the forward hook, on the model's device, while the activation is fresh;
nothing of the activation is kept. The output is first viewed (without a copy where the
layout allows) as ``(B, P, U)`` ("units last", e.g. a transformer's ``(B, T, D)``) or
``(B, U, P)`` ("units first", e.g. a conv map ``(B, C, H·W)``), where P counts positions.

Two strategies give identical results:

- ``"full"`` (GPU): masked max with indices over every position. No host sync.
- ``"pruned"`` (CPU, where a max with indices is several times slower than one without):
  max without indices, then the position of the max only for the (example, unit) pairs
  that can still enter the unit's top-k (at or above its current k-th value and among the
  batch's k best), looked up one by one; after the first batches these are few. Text
  padding is dropped by reducing each example's tokens as one block (right padding) or
  by gathering the valid rows, a cache-sized chunk at a time, rather than masking every
  position. The candidate count is data-dependent, which costs nothing
  on the CPU but would sync a GPU.

Padding positions (``attention_mask == 0``) count for nothing: not for maxima, not for the
active fraction. Ties between positions go to the first position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import InputError
from . import keys as K

Strategy = Literal["auto", "full", "pruned"]
_NEG_INF = float("-inf")


@dataclass(frozen=True)
class Mask:
    """Which positions of a batch are real tokens: built once per batch, shared by layers.

    ``valid``: ``(B, T)`` bool on the device. For the CPU strategy also ``rows``, the flat
    indices of the valid ``(b, t)`` positions, with each one's example; and ``lengths``,
    each example's token count, when the padding is all at the end (right padding).
    """

    valid: torch.Tensor
    rows: torch.Tensor | None = None
    row_example: torch.Tensor | None = None
    lengths: torch.Tensor | None = None

    @classmethod
    def build(cls, mask: torch.Tensor, device: torch.device, rows: bool) -> Mask:
        valid = mask.to(torch.bool)
        if not rows:
            return cls(valid.to(device, non_blocking=True))
        flat = valid.reshape(-1).nonzero().squeeze(1)  # the mask is on the CPU here
        example = torch.div(flat, valid.shape[1], rounding_mode="floor")
        lengths = valid.sum(1)
        prefix = torch.arange(valid.shape[1]) < lengths[:, None]
        right = bool(torch.equal(prefix, valid))
        return cls(
            valid.to(device), flat.to(device), example.to(device), lengths if right else None
        )

    @property
    def length(self) -> int:
        return int(self.valid.shape[1])


@dataclass(frozen=True)
class LayerBatch:
    """One layer's reduction of one batch.

    ``maxima``: ``(B, U)`` float32 per-example maxima (NaN → -inf); ``argmax``: ``(B, U)``
    int64 flat position of each maximum (``-1`` where it was not needed: the pair cannot
    enter the top-k); ``nan``: ``(B, U)`` bool; ``active``: ``(U,)`` int64 positive valid
    positions; ``positions``: valid positions in the batch (int, or 0-d device tensor);
    ``candidate``: ``(B, U)`` bool (``"pruned"`` only), the pairs that can enter the top-k:
    their sort key (:func:`.keys.top_keys`) beats the unit's k-th kept one and is among the
    batch's k best for the unit. Keys are unique, so ties (say, a dead unit whose every
    maximum is 0) never make more than k candidates per unit and batch.
    """

    maxima: torch.Tensor
    argmax: torch.Tensor
    nan: torch.Tensor
    active: torch.Tensor
    positions: int | torch.Tensor
    candidate: torch.Tensor | None = None


def as_units(
    tensor: torch.Tensor, batch_axis: int, unit_axis: int | None, n_units: int, name: str
) -> tuple[torch.Tensor, bool]:
    """``tensor`` as ``(B, P, U)`` (``True``) or ``(B, U, P)`` (``False``), a view if possible."""
    x = tensor.movedim(batch_axis, 0) if batch_axis else tensor
    if x.ndim == 1:
        return x.reshape(x.shape[0], 1, 1), True
    axis = 1 + (unit_axis or 0)
    if x.shape[axis] != n_units:
        raise InputError(
            f"Layer {name!r} has {x.shape[axis]} units in this batch (shape "
            f"{tuple(tensor.shape)}) but {n_units} in the first batch: every batch must give "
            "a layer the same number of units. Check the dataset's feature sizes."
        )
    batch = x.shape[0]
    if x.stride(axis) == 1 or x.ndim == 2:
        try:
            return x.movedim(axis, -1).view(batch, -1, n_units), True
        except RuntimeError:
            pass
    first = x.movedim(axis, 1)
    try:
        return first.view(batch, n_units, -1), False
    except RuntimeError:
        return first.reshape(batch, n_units, -1), False


def reduce(
    x: torch.Tensor,
    units_last: bool,
    mask: Mask | None,
    threshold: torch.Tensor | None,
    strategy: Literal["full", "pruned"],
    k: int = 0,
    ids: torch.Tensor | None = None,
) -> LayerBatch:
    """Reduce ``x`` (from :func:`as_units`) over positions.

    Args:
        x: ``(B, P, U)`` if ``units_last`` else ``(B, U, P)``.
        units_last: the layout of ``x``.
        mask: the batch's valid positions when they apply to this layer (P == T).
        threshold: ``(U,)`` int64 the unit's k-th kept sort key (``"pruned"`` only).
        strategy: ``"full"`` or ``"pruned"`` (see the module docstring).
        k: the top-k size: a pair below its unit's k-th key within this batch cannot enter
            the top-k either (``"pruned"`` only).
        ids: ``(B,)`` the examples' ids, for their sort keys (``"pruned"`` only).

    Returns:
        :class:`LayerBatch` with ``(B, U)`` maxima and their positions.
    """
    pdim = 1 if units_last else 2
    batch, n_units = x.shape[0], x.shape[2 if units_last else 1]
    masked: torch.Tensor | None = None

    def masked_x() -> torch.Tensor:
        nonlocal masked
        if masked is None:
            if mask is None:
                masked = x
            else:
                keep = mask.valid[:, :, None] if units_last else mask.valid[:, None, :]
                masked = x.masked_fill(~keep, _NEG_INF)
        return masked

    positions: int | torch.Tensor = batch * x.shape[pdim]
    if mask is not None:
        positions = mask.rows.numel() if mask.rows is not None else mask.valid.sum()

    if strategy == "full" or threshold is None or ids is None:
        xm = masked_x()
        raw, argmax = xm.max(dim=pdim)
        active = (xm > 0).sum(dim=(0, pdim), dtype=torch.int32)
        maxima, nan = _clean(raw)
        return LayerBatch(maxima, argmax, nan, active.to(torch.int64), positions)

    if mask is not None and units_last and mask.rows is not None:
        raw, active = _valid_rows(x, mask)
    else:
        xm = masked_x()
        raw = xm.amax(dim=pdim)
        active = count_positive(xm, units_last)
    maxima, nan = _clean(raw)
    if bool(nan.any()):  # host read: CPU only. Count NaN as inactive, whatever sign() does
        xm = masked_x()
        active = (xm > 0).sum(dim=(0, pdim), dtype=torch.int32)

    keys = K.top_keys(maxima, ids[:, None])
    candidate = narrow_candidates(keys > threshold[None, :], keys, k)
    argmax = torch.full((batch, n_units), -1, dtype=torch.int64, device=x.device)
    lookup = candidate
    zero = candidate & (maxima == 0)
    if int(zero.sum()) * _LOOK_UP_BYTES > zero.numel() and bool(x.min() >= 0):  # CPU only
        # Sparse non-negative units (a ReLU, an SAE's features): a maximum of 0 means the
        # row is all zeros, whose first maximum is the example's first valid position.
        first = mask.valid.to(torch.int8).argmax(1)[:, None] if mask is not None else 0
        argmax = torch.where(zero, first, argmax)
        lookup = candidate & ~zero
    _look_up(x, units_last, mask, lookup, argmax)
    return LayerBatch(maxima, argmax, nan, active.to(torch.int64), positions, candidate)


def narrow_candidates(candidate: torch.Tensor, keys: torch.Tensor, k: int) -> torch.Tensor:
    """``candidate`` (``(B, U)``) less the pairs below their unit's k-th best key in the
    batch, when there are more than k a unit (then they cannot enter the top-k either)."""
    batch, n_units = keys.shape
    if 0 < k < batch and int(torch.count_nonzero(candidate)) > k * n_units:  # host read
        kth = keys.kthvalue(batch - k + 1, dim=0).values  # the batch's k-th best key
        candidate &= keys >= kth[None, :]
    return candidate


def _look_up(
    x: torch.Tensor,
    units_last: bool,
    mask: Mask | None,
    candidate: torch.Tensor,
    argmax: torch.Tensor,
) -> None:
    """Fill ``argmax`` with the first position of the maximum of each candidate pair.

    Candidates are read example by example (about twice as fast as unit by unit). With
    right padding they are grouped by their example's length, and each group reads only up
    to its longest: padding is most of a batch of varied texts.
    """
    if mask is not None:  # an example with no real tokens has no position (-1)
        candidate = candidate & mask.valid.any(1)[:, None]
    b, u = candidate.nonzero(as_tuple=True)
    if not b.numel():
        return
    span = x.shape[1 if units_last else 2]
    groups: list[tuple[torch.Tensor, int]] = [(torch.ones_like(b, dtype=torch.bool), span)]
    if mask is not None and mask.lengths is not None and units_last:
        length = mask.lengths.to(b.device)[b]
        groups, lower = [], 0
        for upper in _LENGTH_BOUNDS:
            if lower >= span:
                break
            groups.append(((length > lower) & (length <= upper), min(upper, span)))
            lower = upper
    for chosen, width in groups:
        bb, uu = (b, u) if len(groups) == 1 else (b[chosen], u[chosen])
        if not bb.numel():
            continue
        source = x[:, :width].transpose(1, 2) if units_last else x
        picked = source[bb, uu]  # (candidates, width)
        if mask is not None:
            picked = picked.masked_fill(~mask.valid[bb, :width], _NEG_INF)
        argmax[bb, uu] = picked.argmax(dim=1)


_LOOK_UP_BYTES = 16
"""Looking a pair up reads a cache line (64 bytes) per position, ``x.min()`` four bytes
per value: under one pair in 16 (example, unit) pairs, looking up the zero maxima costs
less than proving the layer non-negative."""

_LENGTH_BOUNDS = (16, 32, 64, 128, 256, 512, 1 << 62)
"""Groups of example lengths read together when looking up positions."""


_CHUNK = 1 << 19
"""Elements per chunk of rows: about 2 MB of float32, which stays in a core's cache."""


def _valid_rows(x: torch.Tensor, mask: Mask) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example maxima ``(B, U)`` and positive counts ``(U,)`` over the valid rows.

    ``x`` is ``(B, T, U)``. The valid rows are gathered a cache-sized chunk at a time, and
    each chunk is reduced while it is in cache: one read of the activation from memory.
    """
    batch, _, n_units = x.shape
    if mask.lengths is not None and x.is_contiguous():
        return _valid_blocks(x, mask.lengths)
    assert mask.rows is not None
    assert mask.row_example is not None
    flat = x.reshape(-1, n_units)
    raw = torch.full((batch, n_units), _NEG_INF, dtype=x.dtype, device=x.device)
    active = torch.zeros(n_units, dtype=torch.int32, device=x.device)
    step = max(1, _CHUNK // n_units)
    for start in range(0, mask.rows.numel(), step):
        rows = flat.index_select(0, mask.rows[start : start + step])
        owner = mask.row_example[start : start + step]
        raw.scatter_reduce_(0, _expand(owner, n_units), rows, "amax")
        active += count_positive(rows, True)
    return raw, active


def _valid_blocks(x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_valid_rows` for right padding: each example's tokens are one contiguous
    ``(length, U)`` block of ``x``, reduced in place (no gather, no scatter): about half the
    time of gathering rows on a 64 × 64 × 16,384 batch."""
    batch, _, n_units = x.shape
    raw = torch.full((batch, n_units), _NEG_INF, dtype=x.dtype, device=x.device)
    active = torch.zeros(n_units, dtype=torch.int32, device=x.device)
    for b, length in enumerate(lengths.tolist()):
        if length:
            block = x[b, :length]
            torch.amax(block, 0, out=raw[b])
            active += count_positive(block, True)
    return raw, active


def count_positive(x: torch.Tensor, units_last: bool) -> torch.Tensor:
    """``(U,)`` int32: how many entries of each unit are > 0 (NaN aside: see the caller).

    ``x`` is ``(rows, U)``, ``(B, P, U)`` (``units_last``) or ``(B, U, P)``. ``sign``, clamped
    at 0 and summed in float32 (exact below 2**24 per chunk), is about twice as fast on the
    CPU as comparing into a bool tensor and summing that.
    """
    if not units_last:
        if x.shape[0] * x.shape[2] >= 1 << 24:  # beyond float32's exact integers
            return (x > 0).sum(dim=(0, 2), dtype=torch.int32)
        return x.sign().clamp_(min=0).sum(dim=(0, 2), dtype=torch.float32).to(torch.int32)
    rows = x.reshape(-1, x.shape[-1])
    step = max(1, _CHUNK // rows.shape[1])
    total = torch.zeros(rows.shape[1], dtype=torch.int32, device=x.device)
    for start in range(0, rows.shape[0], step):
        chunk = rows[start : start + step].sign().clamp_(min=0)
        total += chunk.sum(dim=0, dtype=torch.float32).to(torch.int32)
    return total


def _expand(index: torch.Tensor | None, width: int) -> torch.Tensor:
    assert index is not None
    return index[:, None].expand(-1, width)


def _clean(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 maxima with NaN → -inf and -0.0 → 0.0 (every path stores the same bits),
    and where the NaNs were."""
    maxima = raw.to(torch.float32)
    nan = torch.isnan(maxima)
    return maxima.masked_fill(nan, _NEG_INF).add_(0.0), nan
