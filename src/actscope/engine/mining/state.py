"""The running statistics of one layer: fixed-size tensors, updated per batch, mergeable.

A :class:`LayerState` holds, for each of a layer's ``U`` units:

========================== ============ ===================================================
tensor                     shape        what it is computed over
========================== ============ ===================================================
``top_key``/``top_pos``    (U, k)       per-example maxima: the k largest, with the
                                        position of each maximum
``sample_key``/``sample``  (U, R)       per-example maxima: a seeded uniform sample
``hist``                   (U, buckets) per-example maxima: log-spaced counts
``lowest``                 (U,)         per-example maxima: the smallest
``active_examples``        (U,)         per-example maxima: how many are > 0
``nan_examples``           (U,)         examples whose activation holds a NaN
``active``                 (U,)         every valid position: how many are > 0
``positions``              (U,)         every valid position: how many there were (the
                                        same for every unit of a layer)
========================== ============ ===================================================

The *per-example maximum* of a unit is the largest value the unit takes at any valid
position of an example (padding excluded). An example whose values hold a NaN counts as
-inf for that unit. Memory is O(U × (k + R + buckets)), whatever the dataset's size.

Every field is per unit, so the states of several layers stack into one (:func:`stack`):
the miner updates all its layers with one set of operations per batch, and splits them
again at the end (:func:`split`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from . import keys as K
from .pending import Pending, merge_rows


@dataclass
class LayerState:
    """Running statistics of one layer (see the module docstring for each field)."""

    top_key: torch.Tensor
    top_pos: torch.Tensor
    sample_key: torch.Tensor
    sample: torch.Tensor
    hist: torch.Tensor
    lowest: torch.Tensor
    active_examples: torch.Tensor
    nan_examples: torch.Tensor
    active: torch.Tensor
    positions: torch.Tensor

    @classmethod
    def empty(
        cls,
        n_units: int,
        k: int,
        reservoir: int,
        buckets: K.Buckets,
        device: torch.device,
        hist_dtype: torch.dtype = torch.int64,
    ) -> LayerState:
        def full(shape: tuple[int, ...], value: float, dtype: torch.dtype) -> torch.Tensor:
            return torch.full(shape, value, dtype=dtype, device=device)

        zeros = torch.zeros(n_units, dtype=torch.int64, device=device)
        return cls(
            top_key=full((n_units, k), K.EMPTY_TOP, torch.int64),
            top_pos=full((n_units, k), -1, torch.int64),
            sample_key=full((n_units, reservoir), K.EMPTY_SAMPLE, torch.int64),
            sample=full((n_units, reservoir), 0.0, torch.float32),
            hist=torch.zeros(n_units, buckets.n, dtype=hist_dtype, device=device),
            lowest=full((n_units,), float("inf"), torch.float32),
            active_examples=zeros,
            nan_examples=zeros.clone(),
            active=zeros.clone(),
            positions=zeros.clone(),
        )

    @property
    def n_units(self) -> int:
        return int(self.top_key.shape[0])

    @property
    def k(self) -> int:
        return int(self.top_key.shape[1])

    @property
    def reservoir(self) -> int:
        return int(self.sample_key.shape[1])

    def tensors(self) -> list[torch.Tensor]:
        """Every field, in a fixed order (for collectives)."""
        return [getattr(self, f.name) for f in fields(self)]

    @classmethod
    def from_tensors(cls, tensors: list[torch.Tensor]) -> LayerState:
        return cls(*tensors)

    def to(self, device: torch.device | str) -> LayerState:
        return LayerState.from_tensors([t.to(device) for t in self.tensors()])

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors())


@dataclass(frozen=True)
class BatchStats:
    """One batch's reductions of every unit (layers stacked along units).

    ``maxima``: ``(B, U)`` float32 per-example maxima (NaN already -inf); ``argmax``:
    ``(B, U)`` int64 position of each maximum, ``-1`` allowed where ``candidate`` is false;
    ``nan``: ``(B, U)`` bool, where a NaN was; ``active``: ``(U,)`` positive positions;
    ``positions``: ``(U,)`` valid positions; ``candidate``: ``(B, U)`` bool, the pairs that
    may enter the top-k (default: those above the unit's k-th kept value).
    """

    maxima: torch.Tensor
    argmax: torch.Tensor
    nan: torch.Tensor
    active: torch.Tensor
    positions: torch.Tensor
    candidate: torch.Tensor | None = None


def update(
    state: LayerState,
    batch: BatchStats,
    ids: torch.Tensor,
    units: torch.Tensor,
    seed: int,
    buckets: K.Buckets,
    pending: Pending | None = None,
) -> LayerState:
    """``state`` with one batch added (in place where possible; returns the new state).

    Args:
        state: the statistics so far.
        batch: the batch's reductions.
        ids: ``(B,)`` int64 global example ids, on the state's device.
        units: :func:`keys.unit_hashes` of every unit.
        seed: the reservoir seed.
        buckets: the histogram layout.
        pending: the sparse path (counts are read back to the host: for the CPU): only the
            few pairs that can change the top-k are merged, and those that can change the
            sample are queued in this side table (see :mod:`.pending`). Without, every pair
            is merged (no host sync). Both give the same state once the table is flushed.
    """
    maxima = batch.maxima
    state.active += batch.active
    state.positions += batch.positions
    if bool(batch.nan.any()):  # (a bool's sum over examples costs more than a scan)
        state.nan_examples += batch.nan.sum(0)
    if pending is not None:  # the CPU
        nonzero = maxima != 0
        if int(torch.count_nonzero(nonzero)) * 2 < nonzero.numel():  # most maxima are 0
            _count_sparse(state, maxima, _nonzero_pairs(nonzero), buckets)
        else:
            _count(state, maxima.T.contiguous(), buckets)
        _queue(state, batch, ids, units, seed, pending)
        return state
    units_first = maxima.T.contiguous()  # (U, B): histogram updates stay within a row
    _count(state, units_first, buckets)

    # Dense: the k largest keys of (kept ∪ batch); keys are unique, so topk is exact.
    new_keys = K.top_keys(units_first, ids)
    top_key, chosen = torch.cat([state.top_key, new_keys], 1).topk(state.k, dim=1)
    top_pos = torch.cat([state.top_pos, batch.argmax.T], 1).gather(1, chosen)
    # Reservoir: the R smallest seeded priorities of (kept ∪ batch).
    sample_keys = K.sample_keys(ids[None, :], units[:, None], seed)
    sample_key, chosen = torch.cat([state.sample_key, sample_keys], 1).topk(
        state.reservoir, dim=1, largest=False
    )
    sample = torch.cat([state.sample, units_first], 1).gather(1, chosen)
    return replace(state, top_key=top_key, top_pos=top_pos, sample_key=sample_key, sample=sample)


def _count(state: LayerState, units_first: torch.Tensor, buckets: K.Buckets) -> None:
    """The histogram, active examples and lowest value of ``(U, B)`` maxima."""
    n_units = units_first.shape[0]
    offsets = torch.arange(n_units, device=units_first.device, dtype=torch.int64) * buckets.n
    index = buckets.index(units_first)
    if n_units * buckets.n < 2**31:
        index = index.add_(offsets.to(torch.int32)[:, None])
    else:
        index = index.to(torch.int64) + offsets[:, None]
    flat = index.reshape(-1)
    state.hist.view(-1).index_add_(
        0, flat, torch.ones(flat.shape, dtype=state.hist.dtype, device=flat.device)
    )
    state.active_examples += (units_first > 0).sum(1)
    torch.minimum(state.lowest, units_first.amin(1), out=state.lowest)


def _count_sparse(
    state: LayerState,
    maxima: torch.Tensor,
    nonzero: tuple[torch.Tensor, torch.Tensor],
    buckets: K.Buckets,
) -> None:
    """:func:`_count` of ``(B, U)`` maxima, most of them 0 (a sparse layer's): only the
    ``nonzero`` ones (``(example, unit)`` pairs) are binned and counted, and the zeros
    are added to their one bucket."""
    example, unit = nonzero
    values = maxima[example, unit]
    index = buckets.index(values).to(torch.int64) + unit * buckets.n
    state.hist.view(-1).index_add_(
        0, index, torch.ones(index.shape, dtype=state.hist.dtype, device=index.device)
    )
    n_units = maxima.shape[1]
    zeros = maxima.shape[0] - torch.bincount(unit, minlength=n_units)
    state.hist[:, buckets.zero] += zeros.to(state.hist.dtype)
    state.active_examples += torch.bincount(unit[values > 0], minlength=n_units)
    torch.minimum(state.lowest, maxima.amin(0), out=state.lowest)


def _nonzero_pairs(flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(row, column)`` indices of a 2-D bool tensor's true values, in order (on the
    CPU, NumPy's scan: about half the time of ``torch.nonzero``)."""
    if flags.device.type != "cpu":
        found = flags.nonzero(as_tuple=True)
        return found[0], found[1]
    flat = torch.from_numpy(np.flatnonzero(flags.contiguous().numpy()))
    row = torch.div(flat, flags.shape[1], rounding_mode="floor")
    return row, flat - row * flags.shape[1]


def pending_for(state: LayerState) -> Pending:
    """The side table for ``state``'s sample (the CPU path of :func:`update`)."""
    return Pending(state.sample_key, [(state.sample, 0.0)], 2 * state.reservoir, largest=False)


def _queue(
    state: LayerState,
    batch: BatchStats,
    ids: torch.Tensor,
    units: torch.Tensor,
    seed: int,
    sample: Pending,
) -> None:
    maxima = batch.maxima
    # Top-k candidates (sorted by unit).
    candidate = batch.candidate
    if candidate is None:
        candidate = K.top_keys(maxima, ids[:, None]) > state.top_key[None, :, -1]
    unit, example = _nonzero_pairs(candidate.T)
    if unit.numel():
        keys = K.top_keys(maxima[example, unit], ids[example])
        where = [batch.argmax[example, unit]]
        merge_rows(state.top_key, [(state.top_pos, -1)], unit, keys, where, largest=True)
    # Sample candidates: priorities at or below the unit's R-th kept one (in int32: half
    # the memory traffic of int64 over B × U pairs).
    priority = K.sample_priority32(ids, units, seed)  # (U, B)
    limit = torch.div(state.sample_key[:, -1], 1 << 32, rounding_mode="floor").to(torch.int32)
    below = priority <= limit[:, None]
    if bool(below.all()):  # the first batches: every pair, appended as columns
        keys = priority.to(torch.int64) * (1 << 32) + ids[None, :]
        if sample.add_columns(keys, [maxima.T]):
            return
    unit, example = _nonzero_pairs(below)
    if unit.numel():
        keys = priority[unit, example].to(torch.int64) * (1 << 32) + ids[example]
        sample.add(unit, keys, [maxima[example, unit]])


def merge(a: LayerState, b: LayerState) -> LayerState:
    """The statistics of two disjoint shards together, exactly as if mined in one pass."""
    top_key, chosen = torch.cat([a.top_key, b.top_key], 1).topk(a.k, dim=1)
    top_pos = torch.cat([a.top_pos, b.top_pos], 1).gather(1, chosen)
    sample_key, chosen = torch.cat([a.sample_key, b.sample_key], 1).topk(
        a.reservoir, dim=1, largest=False
    )
    sample = torch.cat([a.sample, b.sample], 1).gather(1, chosen)
    return LayerState(
        top_key=top_key,
        top_pos=top_pos,
        sample_key=sample_key,
        sample=sample,
        hist=a.hist.to(torch.int64) + b.hist.to(torch.int64),
        lowest=torch.minimum(a.lowest, b.lowest),
        active_examples=a.active_examples + b.active_examples,
        nan_examples=a.nan_examples + b.nan_examples,
        active=a.active + b.active,
        positions=a.positions + b.positions,
    )


def stack(states: list[LayerState]) -> LayerState:
    """Several states as one, units one after another."""
    fields_ = zip(*(st.tensors() for st in states), strict=True)
    return LayerState.from_tensors([torch.cat(list(parts)) for parts in fields_])


def split(state: LayerState, sizes: list[int]) -> list[LayerState]:
    """:func:`stack` undone: one state per block of ``sizes`` units, views of ``state``'s
    tensors (rows apart; no copy: a fresh copy of a large state costs its page faults, a
    tenth of a second for 16,384 features; the index's ``save`` copies a view it writes)."""
    if len(sizes) == 1:
        return [state]
    parts = [t.split(sizes) for t in state.tensors()]
    return [LayerState.from_tensors([p[i] for p in parts]) for i in range(len(sizes))]
