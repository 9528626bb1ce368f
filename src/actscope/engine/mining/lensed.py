"""A lens's features mined as they are encoded (the CPU path): encode and reduce fused.

Encoding a whole batch at once makes a ``(B, T, n_features)`` array (268 MB for 64 × 64
tokens of a 16,384-feature SAE) of which padding is often half, and mining then reads it
all back from memory. Here the base layer's output is encoded a chunk of real tokens at a
time (:data:`CHUNK_BYTES` of features, which stays in cache), and each chunk is reduced
while it is there: per-example maxima, active counts, and the position of the maximum for
the (example, feature) pairs that can enter the top-k. A sparse lens's chunks (an SAE's:
zeros and positive values) are reduced from their nonzero entries (:mod:`.entries`), the
others densely. Padding is never encoded. This needs an encode that acts on each position
alone (``Lens(pointwise=True)``, the default: an SAE, a transcoder, a probe).

The result equals :func:`.reduce.reduce` on the whole encoded batch (``"pruned"``): the
same maxima, counts, NaN flags, candidates and positions (ties to the first position, NaN
positions as ``argmax`` finds them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import LayerOutputError
from . import keys as K
from .entries import Entries
from .reduce import LayerBatch, Mask, count_positive, narrow_candidates

CHUNK_BYTES = 1 << 23
"""Features per encoded chunk, in bytes of float32 (8 MB: the rows a chunk holds). On this
project's 2-core CPU a 16,384-feature SAE on MiniLM encodes 128-row chunks 1.6× faster
than 512-row ones: the bias and ReLU passes of a small chunk stay in the core's cache."""

MIN_ROWS = 128
"""Rows per chunk at least: fewer rows would read the encoder's weights once per few rows
(a 131,072-feature SAE's are hundreds of MB)..."""

MAX_BYTES = 1 << 28
"""... but never more than 256 MB of features a chunk (64 rows of 2**20 features)."""

_FULL_MAX = 4
"""A segment with more than one in ``_FULL_MAX`` features to look up takes the maximum with
indices of every feature (one pass) rather than gathering those features' columns."""


@dataclass(frozen=True)
class Rows:
    """The real tokens of a ``(B, T, D)`` batch as rows, grouped by example in order.

    ``flat``: ``(B·T, D)``; ``index``: the rows of ``flat`` to encode (``None``: all, in
    order); ``counts``: each example's rows; ``position``: each chosen row's position in
    its example (``None``: its rank, as with right padding or no mask).
    """

    flat: torch.Tensor
    index: torch.Tensor | None
    counts: list[int]
    position: torch.Tensor | None

    @classmethod
    def of(cls, x: torch.Tensor, mask: Mask | None) -> Rows:
        batch, length = x.shape[0], x.shape[1]
        flat = x.reshape(batch * length, x.shape[2])
        if mask is None:
            return cls(flat, None, [length] * batch, None)
        assert mask.rows is not None
        assert mask.row_example is not None
        counts = torch.bincount(mask.row_example, minlength=batch).tolist()
        position = None if mask.lengths is not None else mask.rows % length
        return cls(flat, mask.rows, counts, position)

    def take(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` (in the order of the real tokens)."""
        if self.index is None:
            return self.flat[start:stop]
        return self.flat.index_select(0, self.index[start:stop])


def reduce_encoded(
    x: torch.Tensor,
    encode: Callable[[torch.Tensor], torch.Tensor],
    n_units: int,
    mask: Mask | None,
    threshold: torch.Tensor,
    k: int,
    ids: torch.Tensor,
    name: str,
    sparse: bool = True,
) -> LayerBatch:
    """:func:`.reduce.reduce` (``"pruned"``) of ``encode(x)``, encoded a chunk at a time.

    Args:
        x: ``(B, T, D)`` the base layer's output.
        encode: ``(rows, D)`` → ``(rows, n_units)`` features.
        n_units: the number of features.
        mask: the batch's real tokens (``None``: every position), with ``rows`` built.
        threshold: ``(U,)`` each feature's k-th kept sort key.
        k: the top-k size.
        ids: ``(B,)`` the examples' ids.
        name: the virtual layer, for errors.
        sparse: reduce from the features' nonzero entries where every chunk allows it
            (:mod:`.entries`).
    """
    batch = x.shape[0]
    rows = Rows.of(x, mask)
    entries = Entries(batch, n_units, rows.counts, rows.position) if sparse else None
    out: _Reduced | None = None
    per_chunk = rows_per_chunk(n_units)
    for i, (start, stop, segments) in enumerate(_chunks(rows.counts, per_chunk)):
        features = encode(rows.take(start, stop))
        if tuple(features.shape) != (stop - start, n_units):
            raise LayerOutputError(
                f"The lens {name!r} encoded {stop - start} positions into shape "
                f"{tuple(features.shape)}, expected ({stop - start}, {n_units}): mining "
                "encodes real tokens only, which needs an encode that acts on each position "
                "alone. For one that mixes positions, give Lens(..., pointwise=False)."
            )
        if entries is not None:
            if entries.add(features, start):
                continue
            if i:  # rare: a later chunk is dense, or holds a negative or NaN: start over
                return reduce_encoded(x, encode, n_units, mask, threshold, k, ids, name, False)
            entries = None
        if out is None:
            out = _Reduced(batch, n_units, x.device, _limits(threshold, ids))
        out.add(features, start, segments, rows)
    if out is None:
        assert entries is not None
        maxima, argmax, active = entries.reduce(x.device)
        nan = torch.zeros(maxima.shape, dtype=torch.bool, device=x.device)
        limits = _limits(threshold, ids)
    else:
        nan = torch.isnan(out.raw)
        maxima = out.raw.masked_fill(nan, float("-inf")).add_(0.0)  # -0.0 → 0.0, as entries
        argmax, active, limits = out.argmax, out.active.to(torch.int64), out.limits
    # The float bound decides exactly as the keys do; keys only when the batch must narrow.
    candidate = maxima >= limits
    if 0 < k < batch and int(torch.count_nonzero(candidate)) > k * n_units:
        candidate = narrow_candidates(candidate, K.top_keys(maxima, ids[:, None]), k)
    positions = len(rows.index) if rows.index is not None else batch * x.shape[1]
    return LayerBatch(maxima, argmax, nan, active, positions, candidate)


def rows_per_chunk(n_units: int) -> int:
    """The real tokens encoded at a time for a lens of ``n_units`` features."""
    rows = max(MIN_ROWS, CHUNK_BYTES // (4 * n_units))
    return max(1, min(rows, MAX_BYTES // (4 * n_units)))


def _limits(threshold: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``(B, U)``: a pair can enter its feature's top-k exactly when its maximum is at least
    this (the sort key's order, ``value`` then lower id, as a float bound per example)."""
    value = K.top_values(threshold)
    kept = torch.where(threshold == K.EMPTY_TOP, torch.iinfo(torch.int64).max, K.top_ids(threshold))
    above = torch.nextafter(value, torch.tensor(float("inf"), device=value.device))
    return torch.where(ids[:, None] < kept[None, :], value[None, :], above[None, :])


class _Reduced:
    """The running reduction of one batch's chunks."""

    def __init__(self, batch: int, n_units: int, device: torch.device, limits: torch.Tensor):
        self.raw = torch.full((batch, n_units), float("-inf"), dtype=torch.float32, device=device)
        # Split examples' best maxima so far (NaN as +inf, as argmax sees it), in float64:
        # segments of float64 features that round to the same float32 still compare apart.
        self.best = torch.full_like(self.raw, float("-inf"), dtype=torch.float64)
        self.argmax = torch.full((batch, n_units), -1, dtype=torch.int64, device=device)
        self.active = torch.zeros(n_units, dtype=torch.int32, device=device)
        self.limits = limits
        self.n_units = n_units

    def add(
        self,
        features: torch.Tensor,
        start: int,
        segments: list[tuple[int, int, int, int]],
        rows: Rows,
    ) -> None:
        """One chunk: maxima, counts, and the positions of the maxima that may matter."""
        whole = [seg[3] == 0 and seg[2] - seg[1] == rows.counts[seg[0]] for seg in segments]
        first, last = segments[0][0], segments[-1][0]
        every = all(whole) and last - first + 1 == len(segments)  # no example without tokens
        if every and features.dtype == torch.float32:  # straight into the examples' rows
            tops = native = self.raw[first : last + 1]
            for (_, begin, end, _), top in zip(segments, tops, strict=True):
                torch.amax(features[begin - start : end - start], 0, out=top)
        else:
            blocks = [features[b - start : e - start].amax(0) for _, b, e, _ in segments]
            native = torch.stack(blocks)  # split segments compare in the features' precision
            tops = native.to(torch.float32)
        if bool(torch.isnan(tops).any()):  # rare: NaN as argmax sees it, inactive in counts
            self.active += (features > 0).sum(0, dtype=torch.int32)
            for i, segment in enumerate(segments):
                self._segment_with_nan(features, start, segment, native[i], rows)
            return
        self.active += count_positive(features, True)
        if every:  # the chunk's examples, one after another
            limits = self.limits[first : last + 1]
            if features.dtype != torch.float32:
                self.raw[first : last + 1] = tops
        else:
            examples = torch.tensor([seg[0] for seg in segments], device=features.device)
            limits = self.limits[examples]
        chosen = tops >= limits  # a superset of the pairs that can enter the top-k
        counts = chosen.sum(1).tolist()
        parts = chosen.nonzero(as_tuple=True)[1].split(counts)
        for i, (example, begin, end, offset) in enumerate(segments):
            if not every:
                torch.maximum(self.raw[example], tops[i], out=self.raw[example])
            units = parts[i]
            if not units.numel():
                continue
            block = features[begin - start : end - start]
            if units.numel() * _FULL_MAX > self.n_units:
                where = block.max(0).indices[units]
            else:
                where = block.index_select(1, units).max(0).indices
            value = None if whole[i] else native[i][units]
            self._place(example, units, where, (begin, offset), rows, value)

    def _segment_with_nan(
        self,
        features: torch.Tensor,
        start: int,
        segment: tuple[int, int, int, int],
        top: torch.Tensor,
        rows: Rows,
    ) -> None:
        example, begin, end, offset = segment
        rounded = top.float()  # candidates as the batch's float32 maxima decide them
        torch.maximum(self.raw[example], rounded, out=self.raw[example])  # NaN stays NaN
        nan = torch.isnan(top)
        clean = rounded.masked_fill(nan, float("-inf"))
        units = (clean >= self.limits[example]).nonzero().squeeze(1)
        if not units.numel():
            return
        where = features[begin - start : end - start].index_select(1, units).max(0).indices
        value = top.masked_fill(nan, float("inf"))[units]
        self._place(example, units, where, (begin, offset), rows, value)

    def _place(
        self,
        example: int,
        units: torch.Tensor,
        where: torch.Tensor,
        at: tuple[int, int],
        rows: Rows,
        value: torch.Tensor | None,
    ) -> None:
        """Record the maxima's positions: row ``where`` of the segment that starts at row
        ``at[0]``, the example's row ``at[1]``. For a segment of a split example (``value``
        given: the segment's maxima, NaN as +inf), only where it beats the earlier ones."""
        begin, offset = at
        if value is not None:
            if offset:
                better = value > self.best[example, units]
                units, where, value = units[better], where[better], value[better]
            self.best[example, units] = value.to(torch.float64)
        if rows.position is None:
            self.argmax[example, units] = where + offset
        else:
            self.argmax[example, units] = rows.position[begin + where]


def _chunks(
    counts: list[int], per_chunk: int
) -> list[tuple[int, int, list[tuple[int, int, int, int]]]]:
    """Chunks of at most ``per_chunk`` rows: ``(start, stop, segments)``, each segment
    ``(example, begin, end, offset)``: rows ``begin:end`` are the example's from ``offset``.
    An example longer than a chunk is split across chunks."""
    chunks: list[tuple[int, int, list[tuple[int, int, int, int]]]] = []
    segments: list[tuple[int, int, int, int]] = []
    start = row = 0
    for example, count in enumerate(counts):
        offset = 0
        while offset < count:
            take = min(count - offset, start + per_chunk - row)
            segments.append((example, row, row + take, offset))
            row, offset = row + take, offset + take
            if row - start == per_chunk:
                chunks.append((start, row, segments))
                start, segments = row, []
    if segments:
        chunks.append((start, row, segments))
    return chunks
