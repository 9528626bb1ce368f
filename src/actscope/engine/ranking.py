"""Ranking the units of a layer for one input, and contrasting groups of inputs.

Works on one example's activation in its canonical layout with units on ``unit_axis``.
NaN never wins a ranking: a unit's max ignores NaN (a unit that is all NaN ranks last), and
its mean is over its finite values. Everything stays on the tensor's device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

RankBy = Literal["max", "mean", "count"]


@dataclass(frozen=True)
class UnitStats:
    """Per-unit summary of one activation: ``(U,)`` tensors."""

    max: torch.Tensor
    """Largest finite-or-infinite value at any position (NaN ignored; -inf if all NaN)."""
    mean: torch.Tensor
    """Mean over finite positions (NaN if none is finite)."""
    argmax: torch.Tensor
    """Flat position index of the max (row-major over the non-unit axes)."""
    count: torch.Tensor | None = None
    """int64: at how many positions the unit is active (> 0; NaN is not)."""


@dataclass(frozen=True)
class Ranking:
    """The top units of a layer for one input, best first: ``(k,)`` tensors."""

    units: torch.Tensor
    max: torch.Tensor
    mean: torch.Tensor
    argmax: torch.Tensor
    by: RankBy
    count: torch.Tensor | None = None
    """At how many positions each unit is active (> 0), where the ranking knows it."""

    def __len__(self) -> int:
        return int(self.units.numel())


def unit_stats(act: torch.Tensor, unit_axis: int | None) -> UnitStats:
    """Max, mean and argmax position of every unit of ``act``."""
    flat = _units_by_positions(act, unit_axis).float()
    nan = torch.isnan(flat)
    finite = torch.isfinite(flat)
    maxed = flat.masked_fill(nan, float("-inf"))
    best, where = maxed.max(dim=1)
    count = finite.sum(dim=1)
    total = flat.masked_fill(~finite, 0.0).sum(dim=1)
    mean = total / count.clamp(min=1)
    mean = mean.masked_fill(count == 0, float("nan"))
    return UnitStats(max=best, mean=mean, argmax=where, count=(flat > 0).sum(dim=1))


def rank_units(
    act: torch.Tensor, unit_axis: int | None, k: int = 20, by: RankBy = "max"
) -> Ranking:
    """The ``k`` units of ``act`` with the largest max (or mean) activation, or active
    (> 0) at the most positions (``by="count"``: a lens's features, ReLU neurons).

    Ties are broken by the lower unit index (by count: by the larger max first), so
    rankings are deterministic.

    Example::

        r = rank_units(acts["encoder.layer.3.intermediate"][0], unit_axis=1, k=10)
        r.units, r.max, r.argmax   # neuron ids, their peak values, token positions of the peaks
    """
    return top_units(unit_stats(act, unit_axis), k, by)


def top_units(stats: UnitStats, k: int = 20, by: RankBy = "max") -> Ranking:
    """The ``k`` best units of precomputed :class:`UnitStats` (ties: lower index first;
    by count, the larger max first)."""
    if by == "count":
        order = by_count(_counts(stats), stats.max, k)
    else:
        order = descending(stats.max if by == "max" else stats.mean, k)
    return Ranking(
        units=order,
        max=stats.max[order],
        mean=stats.mean[order],
        argmax=stats.argmax[order],
        by=by,
        count=None if stats.count is None else stats.count[order],
    )


def by_count(count: torch.Tensor, maxima: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Units from the most active positions down; among equal counts, the larger max first
    (then the lower index): the front end's ``unitOrder(data, "count")`` does the same."""
    order = descending(maxima)
    order = order[torch.sort(-count[order], stable=True).indices]
    return order if k is None else order[: min(k, count.numel())]


def _counts(stats: UnitStats) -> torch.Tensor:
    if stats.count is None:
        raise ValueError("these unit statistics have no active counts (UnitStats.count)")
    return stats.count


def descending(key: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Indices of ``key`` from the largest value down: NaN last, ties to the lower index.

    The one ordering of units in actscope (rankings, sorted views, figures); the front end's
    ``unitOrder`` (js/src/layouts/data.ts) follows the same rule, checked on shared data.
    """
    nan = torch.isnan(key)
    filled = key.nan_to_num(nan=float("-inf"), posinf=float("inf"), neginf=float("-inf"))
    # A stable sort of the negated key keeps lower indices first among equal values; a
    # stable partition then moves NaN behind everything, -inf included.
    order = torch.sort(-filled, stable=True).indices
    order = order[torch.sort(nan[order].to(torch.int8), stable=True).indices]  # no host sync
    return order if k is None else order[: min(k, key.numel())]


def contrast(group_a: torch.Tensor, group_b: torch.Tensor, unit_axis: int, k: int = 20) -> Ranking:
    """Units whose mean activation is most higher in group A than in group B.

    Both groups are batches ``(N, ...)`` of one layer's activation with units on
    ``unit_axis`` (counted without the batch axis). ``Ranking.mean`` holds the difference
    of the group means and ``Ranking.max`` the mean of group A.
    """
    mean_a = unit_stats(group_a.movedim(0, -1), unit_axis).mean
    mean_b = unit_stats(group_b.movedim(0, -1), unit_axis).mean
    diff = (mean_a - mean_b).nan_to_num(nan=float("-inf"))
    order = descending(diff, k)
    return Ranking(
        units=order,
        max=mean_a[order],
        mean=diff[order],
        argmax=torch.zeros_like(order),
        by="mean",
    )


def _units_by_positions(act: torch.Tensor, unit_axis: int | None) -> torch.Tensor:
    """``act`` as ``(units, positions)``."""
    if unit_axis is None or act.ndim == 0:
        return act.reshape(-1, 1)
    return act.movedim(unit_axis, 0).reshape(act.shape[unit_axis], -1)
