"""What an :class:`ActivationIndex` answers with: small dataclasses of CPU tensors.

Also the histogram arithmetic: quantiles read off the log-spaced buckets, and rebinning
to equal-width bins for plotting.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..errors import InputError


class Example(NamedTuple):
    """One example of a unit: its dataset id, the unit's value and where it peaked."""

    id: int
    value: float
    position: int | None


@dataclass(frozen=True)
class Examples:
    """Examples of one unit, best first.

    ``ids`` ``(n,)`` int64 dataset ids; ``values`` ``(n,)`` float32, the unit's maximum over
    each example's valid positions; ``positions`` ``(n,)`` int64, the flat position of that
    maximum (token index, or ``h * W + w``), or ``None`` where it was not recorded (quantile
    samples: :meth:`ActivationIndex.contexts` finds it again). A token index counts positions
    of the row as fed to the model: with left padding it includes that batch's padding.
    """

    ids: torch.Tensor
    values: torch.Tensor
    positions: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.ids.numel())

    def __iter__(self) -> Iterator[Example]:
        positions = self.positions.tolist() if self.positions is not None else None
        for i, (id_, value) in enumerate(zip(self.ids.tolist(), self.values.tolist(), strict=True)):
            yield Example(int(id_), float(value), positions[i] if positions is not None else None)

    def __getitem__(self, i: int) -> Example:
        position = int(self.positions[i]) if self.positions is not None else None
        return Example(int(self.ids[i]), float(self.values[i]), position)


@dataclass(frozen=True)
class Histogram:
    """A unit's distribution of per-example maxima.

    ``counts[j]`` examples have their maximum in ``[edges[j], edges[j+1])``. By default the
    bins are the index's own log-spaced buckets (exact counts, each at most ``2**-bits`` of
    its values' magnitude wide, trimmed to the occupied range; the outer edges are the exact
    smallest and largest maxima). With ``bins=n`` they are ``n`` equal-width bins whose
    counts are estimated by spreading each bucket evenly (``float64``).
    """

    edges: torch.Tensor
    counts: torch.Tensor
    n_examples: int
    over: str = "per-example maxima"


@dataclass(frozen=True)
class Band:
    """A quantile band of a unit's per-example maxima, with a few examples drawn from it.

    ``lower_q``–``upper_q``: the band as quantiles (0.9–1.0 is the top decile);
    ``lower``–``upper``: the same as activation values (estimated quantiles);
    ``examples``: up to ``n`` examples from the band, drawn without replacement from the
    unit's seeded uniform sample, shown best first; ``sampled``: how many of the sample fell
    in the band.
    """

    lower_q: float
    upper_q: float
    lower: float
    upper: float
    examples: Examples
    sampled: int


@dataclass(frozen=True)
class UnitSummary:
    """One unit's figures (``ActivationIndex.summary``).

    ``max``: the largest per-example maximum; ``lowest``: the smallest; ``median``: the
    estimated median of per-example maxima; ``active_fraction``: the fraction of all valid
    positions (tokens, pixels) where the unit is > 0; ``active_example_fraction``: the
    fraction of examples whose maximum is > 0; ``nan_examples``: examples with a NaN.
    """

    layer: str
    unit: int
    max: float
    lowest: float
    median: float
    active_fraction: float
    active_example_fraction: float
    n_examples: int
    positions: int
    nan_examples: int


def quantiles_from_counts(
    counts: torch.Tensor,
    edges: torch.Tensor,
    lowest: torch.Tensor,
    highest: torch.Tensor,
    q: torch.Tensor,
) -> torch.Tensor:
    """Quantiles of bucketed data, by linear interpolation inside the bucket.

    Args:
        counts: ``(U, n)`` bucket counts.
        edges: ``(n + 1,)`` bucket edges.
        lowest: ``(U,)`` the exact smallest value (q = 0).
        highest: ``(U,)`` the exact largest value (q = 1).
        q: ``(Q,)`` quantiles in ``[0, 1]``.

    Returns:
        ``(U, Q)`` float64; NaN for a unit with no data. The q-quantile lies in the same
        bucket as the order statistic of rank ``ceil(q × N)``, so its error is at most that
        bucket's width.
    """
    counts = counts.to(torch.float64)
    lo_all = lowest.to(torch.float64)[:, None]
    hi_all = highest.to(torch.float64)[:, None]
    total = counts.sum(1, keepdim=True)
    cum = counts.cumsum(1)
    target = q.to(torch.float64)[None, :] * total
    j = torch.searchsorted(cum, target.contiguous()).clamp(max=counts.shape[1] - 1)
    in_bucket = counts.gather(1, j)
    before = cum.gather(1, j) - in_bucket
    left = torch.maximum(edges.to(torch.float64)[j], lo_all).minimum(hi_all)
    right = torch.minimum(edges.to(torch.float64)[j + 1], hi_all).maximum(left)
    frac = ((target - before) / in_bucket.clamp(min=1)).clamp(0, 1)
    out = left + frac * (right - left)
    out = torch.where(q[None, :] <= 0, lo_all.expand_as(out), out)
    out = torch.where(q[None, :] >= 1, hi_all.expand_as(out), out)
    return out.masked_fill(total == 0, float("nan"))


def rebin(
    counts: torch.Tensor, edges: torch.Tensor, lowest: float, highest: float, bins: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Equal-width ``bins`` over ``[lowest, highest]``, each bucket spread evenly over its width."""
    lo_edge = edges[:-1].clamp(lowest, highest)
    hi_edge = edges[1:].clamp(lowest, highest)
    new_edges = torch.linspace(lowest, highest, bins + 1, dtype=torch.float64)
    if highest <= lowest:
        out = torch.zeros(bins, dtype=torch.float64)
        out[-1] = counts.sum()
        return new_edges, out
    # Overlap of each bucket [lo, hi) with each new bin, as a fraction of the bucket's width.
    a = torch.maximum(lo_edge[:, None], new_edges[None, :-1])
    b = torch.minimum(hi_edge[:, None], new_edges[None, 1:])
    overlap = (b - a).clamp(min=0)
    width = (hi_edge - lo_edge)[:, None]
    share = torch.where(width > 0, overlap / width.clamp(min=1e-300), 0.0)
    point = width[:, 0] <= 0  # a bucket squeezed to one value: put it in that value's bin
    if bool(point.any()):
        where = torch.bucketize(lo_edge[point], new_edges[1:-1], right=True)
        share[point] = torch.nn.functional.one_hot(where, bins).to(torch.float64)
    return new_edges, counts.to(torch.float64) @ share


def band_edges(bands: int | Sequence[float]) -> torch.Tensor:
    if isinstance(bands, int):
        if bands < 1:
            raise InputError(f"bands must be at least 1, not {bands}.")
        return torch.linspace(0, 1, bands + 1, dtype=torch.float64)
    edges = torch.tensor(list(bands), dtype=torch.float64)
    if (
        edges.numel() < 2
        or float(edges[0]) != 0
        or float(edges[-1]) != 1
        or bool((edges[1:] <= edges[:-1]).any())
    ):
        raise InputError(
            f"bands must rise from 0 to 1 (e.g. [0, 0.5, 0.9, 1]), got {edges.tolist()}."
        )
    return edges
