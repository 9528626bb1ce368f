"""Candidates held aside until a row fills up, then merged in one go (the CPU path).

Merging a batch's candidates into a unit's kept sample takes a ``topk`` over the unit's
row: cheap per row, but done for thousands of units after every batch it costs more than
the candidates are worth. A :class:`Pending` buffer instead appends each batch's
candidates to their unit's row of a side table (a scatter) and merges the table into the
kept rows only when some row would overflow, or when the statistics are read.

The top-k is merged at once (:func:`merge_rows`): its threshold decides which positions the
next batch must look up, and a stale one costs more lookups than the merge saves.

Exactness does not depend on when merges happen: candidates are chosen against the kept
rows as last merged, a superset of what the up-to-date rows would admit, and a merge keeps
the best of (kept ∪ pending) with the same unique keys.
"""

from __future__ import annotations

import torch

from . import keys as K


class Pending:
    """A side table of candidate keys (and payloads) for the rows of ``kept``.

    Args:
        kept: ``(U, width)`` the kept keys, best first, updated in place by merges.
        payloads: tensors shaped like ``kept`` that travel with the keys, each with the
            value of an empty slot.
        capacity: candidates a row can hold before a merge.
        largest: keep the largest keys (top-k) or the smallest (samples).
    """

    def __init__(
        self,
        kept: torch.Tensor,
        payloads: list[tuple[torch.Tensor, float]],
        capacity: int,
        *,
        largest: bool,
    ) -> None:
        self.kept = kept
        self.payloads = payloads
        self.largest = largest
        self.empty = K.EMPTY_TOP if largest else K.EMPTY_SAMPLE
        units = kept.shape[0]
        self.keys = torch.full((units, capacity), self.empty, dtype=kept.dtype, device=kept.device)
        self.values = [
            torch.full((units, capacity), fill, dtype=p.dtype, device=p.device)
            for p, fill in payloads
        ]
        self.count = torch.zeros(units, dtype=torch.int64, device=kept.device)
        self.level: int | None = 0  # every row's count, while they are all the same

    def add(self, unit: torch.Tensor, keys: torch.Tensor, values: list[torch.Tensor]) -> None:
        """Queue candidates ``(unit, key, payload...)``; ``unit`` must be sorted."""
        if not unit.numel():
            return
        capacity = self.keys.shape[1]
        counts = torch.bincount(unit, minlength=self.keys.shape[0])
        if int((self.count + counts).max()) > capacity:  # host read: CPU only
            self.flush()
            if int(counts.max()) > capacity:  # more than a row holds: merge straight in
                merge_rows(
                    self.kept,
                    self.payloads,
                    unit,
                    keys,
                    values,
                    largest=self.largest,
                    counts=counts,
                )
                return
        self.level = None
        starts = torch.cumsum(counts, 0) - counts
        slot = self.count[unit] + torch.arange(unit.numel(), device=unit.device) - starts[unit]
        self.keys[unit, slot] = keys
        for table, value in zip(self.values, values, strict=True):
            table[unit, slot] = value.to(table.dtype)
        self.count += counts

    def add_columns(self, keys: torch.Tensor, values: list[torch.Tensor]) -> bool:
        """Queue a candidate for every row at once: ``(U, n)`` keys and payloads, as
        :meth:`add` of every ``(unit, column)`` would, without its scatters. Refused
        (``False``) unless every row holds as many candidates and ``n`` fits a row."""
        width, capacity = keys.shape[1], self.keys.shape[1]
        if self.level is None or width > capacity:
            return False
        if self.level + width > capacity:
            self.flush()
        level = self.level
        self.keys[:, level : level + width] = keys
        for table, value in zip(self.values, values, strict=True):
            table[:, level : level + width] = value
        self.count += width
        self.level = level + width
        return True

    def flush(self) -> None:
        """Merge every queued candidate into ``kept`` and empty the table."""
        self.level = 0
        rows = self.count.nonzero().squeeze(1)
        if not rows.numel():
            return
        width = self.kept.shape[1]
        if rows.numel() == self.count.numel():  # every row: no gathers and scatters
            merged, chosen = torch.cat([self.kept, self.keys], 1).topk(
                width, dim=1, largest=self.largest
            )
            self.kept.copy_(merged)
            for (payload, fill), table in zip(self.payloads, self.values, strict=True):
                payload.copy_(torch.cat([payload, table], 1).gather(1, chosen))
                table.fill_(fill)
            self.keys.fill_(self.empty)
        else:
            merged, chosen = torch.cat([self.kept[rows], self.keys[rows]], 1).topk(
                width, dim=1, largest=self.largest
            )
            self.kept[rows] = merged
            for (payload, fill), table in zip(self.payloads, self.values, strict=True):
                payload[rows] = torch.cat([payload[rows], table[rows]], 1).gather(1, chosen)
                table[rows] = fill
            self.keys[rows] = self.empty
        self.count.zero_()


def merge_rows(
    kept: torch.Tensor,
    payloads: list[tuple[torch.Tensor, float]],
    unit: torch.Tensor,
    keys: torch.Tensor,
    values: list[torch.Tensor],
    *,
    largest: bool,
    counts: torch.Tensor | None = None,
) -> None:
    """Merge candidates ``(unit, key, payload...)``, sorted by unit, into ``kept`` in place.

    Only the rows with candidates are touched: each keeps the best ``width`` of (its kept
    keys ∪ its candidates), however many candidates it has.
    """
    if not unit.numel():
        return
    if counts is None:
        counts = torch.bincount(unit, minlength=kept.shape[0])
    empty = K.EMPTY_TOP if largest else K.EMPTY_SAMPLE
    rows = counts.nonzero().squeeze(1)
    row_of = torch.cumsum(counts > 0, 0) - 1
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(unit.numel(), device=unit.device) - starts[unit]
    depth = int(counts.max())  # host read: CPU only
    new = torch.full((rows.numel(), depth), empty, dtype=keys.dtype, device=keys.device)
    new[row_of[unit], rank] = keys
    merged, chosen = torch.cat([kept[rows], new], 1).topk(kept.shape[1], dim=1, largest=largest)
    kept[rows] = merged
    for (payload, fill), value in zip(payloads, values, strict=True):
        extra = torch.full((rows.numel(), depth), fill, dtype=payload.dtype, device=payload.device)
        extra[row_of[unit], rank] = value.to(payload.dtype)
        payload[rows] = torch.cat([payload[rows], extra], 1).gather(1, chosen)
