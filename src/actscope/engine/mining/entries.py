"""A sparse lens's chunks reduced from their nonzero entries (the CPU path of :mod:`.lensed`).

An SAE's features are a ReLU (or JumpReLU, or TopK) of the base layer: of a chunk's
512 × 16,384 values, tens per row are positive and the rest are 0. When every nonzero
value of a chunk is positive (no negatives, no NaN), the nonzero entries say everything a
dense reduction reads from the whole chunk: a feature's per-example maximum is the largest
of its entries in the example (0 without any), its active count is the number of its
entries, and its maximum's position is the first entry that holds it (the example's first
position when the maximum is 0). One ``nonzero`` pass over the chunk replaces the dense
path's four (maxima, the sign count, the positions of the maxima).

Entries are gathered over the batch's chunks and reduced once at the end, so an example
split across chunks needs nothing special. The result equals :func:`.lensed.reduce_encoded`'s
dense path exactly (maxima in the features' precision, then float32; ties to the first
position).
"""

from __future__ import annotations

import numpy as np
import torch

MAX_DENSITY = 1 / 16
"""A chunk with more nonzero values than this fraction is reduced densely."""

_STRIDE = 97
"""Every this many values are counted before a chunk's indices are listed."""


class Entries:
    """The nonzero entries of one batch's chunks, in the order of the real tokens.

    Args:
        batch: the examples in the batch.
        n_units: the number of features.
        counts: each example's real tokens (rows), in order.
        position: each row's position in its example (``None``: its rank in the example).
    """

    def __init__(
        self, batch: int, n_units: int, counts: list[int], position: torch.Tensor | None
    ) -> None:
        self.batch, self.n_units = batch, n_units
        self.counts, self.position = counts, position
        self.rows: list[torch.Tensor] = []
        self.cols: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.dtype = torch.float32

    def add(self, features: torch.Tensor, start: int) -> bool:
        """Take chunk ``features`` (rows ``start:``), or refuse it (``False``): it is too
        dense, or holds a value that is negative or NaN."""
        limit = int(features.numel() * MAX_DENSITY)
        nonzero = features.reshape(-1).bool()
        # A strided sample first, so that a dense chunk's indices are never listed.
        if int(nonzero[::_STRIDE].sum()) * _STRIDE > 2 * limit + _STRIDE:
            return False
        where = _nonzero(nonzero)
        if where.numel() > limit:
            return False
        value = features.reshape(-1)[where]
        if not bool((value > 0).all()):  # NaN fails this too
            return False
        self.dtype = features.dtype
        row = torch.div(where, self.n_units, rounding_mode="floor")
        self.rows.append(row + start)
        self.cols.append(where - row * self.n_units)
        self.values.append(value)
        return True

    def reduce(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """``(maxima, argmax, active)``: ``(B, U)`` float32 per-example maxima (``-inf`` for
        an example without rows), ``(B, U)`` int64 positions of the maxima (``-1`` for an
        example without rows), ``(U,)`` int64 positive positions."""
        batch, n_units, dtype = self.batch, self.n_units, self.dtype
        counts = torch.tensor(self.counts, dtype=torch.int64, device=device)
        first_row = torch.cumsum(counts, 0) - counts
        empty = counts.new_empty(0)
        row = torch.cat(self.rows) if self.rows else empty
        col = torch.cat(self.cols) if self.cols else empty
        value = torch.cat(self.values) if self.values else empty.to(dtype)
        example = torch.repeat_interleave(torch.arange(batch, device=device), counts)[row]
        flat = example * n_units + col
        native = torch.zeros(batch * n_units, dtype=dtype, device=device)
        native.scatter_reduce_(0, flat, value, "amax")  # the entries are > 0: 0 elsewhere
        # Positions grow with the rows of an example: the first row that holds the maximum
        # has the smallest position.
        hit = value == native[flat]
        start = torch.zeros_like(counts)  # each example's first position
        if self.position is None:
            position = row[hit] - first_row[example[hit]]
        else:
            position = self.position[row[hit]]
            if len(self.position):  # (an example without rows is set apart below)
                start = self.position[first_row.clamp(max=len(self.position) - 1)]
        # No entry: the maximum is 0, first reached at the example's first position.
        argmax = start[:, None].expand(batch, n_units).contiguous()
        argmax.view(-1).scatter_reduce_(0, flat[hit], position, "amin", include_self=False)
        maxima = native.view(batch, n_units).to(torch.float32)
        none = counts == 0
        if bool(none.any()):
            maxima[none] = float("-inf")
            argmax[none] = -1
        active = torch.bincount(col, minlength=n_units)
        return maxima, argmax, active


def _nonzero(flags: torch.Tensor) -> torch.Tensor:
    """The indices of a 1-D bool tensor's true values. On the CPU, NumPy's scan takes
    about a third of the time of ``torch.nonzero`` (the floats' bools included)."""
    if flags.device.type != "cpu":
        return flags.nonzero().squeeze(1)
    return torch.from_numpy(np.flatnonzero(flags.numpy()))
