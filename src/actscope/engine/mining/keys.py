"""Integer keys that make the miner's selections exact, order-free and mergeable.

Everything the miner keeps per unit is chosen by a key that depends only on an example's
value, its global id and the seed, never on batch order, sharding or device:

- top-k: :func:`top_keys` packs ``(value, id)`` into one ``int64`` that sorts by value
  (descending) and then by id (ascending), so one ``topk`` gives exactly what a brute-force
  sort gives, and ties go to the lower example id.
- reservoir samples: :func:`sample_keys` gives each ``(example, unit)`` a seeded
  pseudo-random 31-bit priority from an integer hash; keeping the smallest keys is a
  uniform sample without replacement (bottom-k sampling), and the union of two shards'
  samples trimmed to the smallest keys is exactly the sample of the whole.
- histograms: :func:`bucket` maps a value to a log-spaced bucket read straight from its
  float32 bits (``bits`` mantissa bits per power of two), so counts add up across shards.

Ids must be below 2**32. All functions are elementwise tensor code that runs on any device
without a host sync.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

ID_LIMIT = 1 << 32
"""Example ids are packed into 32 bits."""
_LOW = 0xFFFFFFFF
_SHIFT = 1 << 32
_FLIP = 0x7FFFFFFF
EMPTY_TOP = torch.iinfo(torch.int64).min
"""The key of an empty top-k slot: below every real key."""
EMPTY_SAMPLE = torch.iinfo(torch.int64).max
"""The key of an empty reservoir slot: above every real key."""
_HASH_MUL = 0x45D9F3B  # < 2**27, so products of 32-bit values stay inside int64


# -- top-k keys -----------------------------------------------------------------------------


def _monotone(values: torch.Tensor) -> torch.Tensor:
    """float32 → int64 whose order is the float order (no NaN; -0.0 must be canonical)."""
    bits = values.to(torch.float32).contiguous().view(torch.int32).to(torch.int64)
    return torch.where(bits < 0, bits ^ _FLIP, bits)


def top_keys(values: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Sortable keys: larger value first, then lower id.

    Args:
        values: float activations, no NaN (``-0.0`` is treated as ``0.0``).
        ids: int64 example ids in ``[0, 2**32)``, broadcastable to ``values``.

    Returns:
        int64 keys of ``values``' broadcast shape.
    """
    canonical = values.to(torch.float32) + 0.0  # -0.0 + 0.0 == +0.0
    return _monotone(canonical) * _SHIFT + (_LOW - ids)


def top_values(keys: torch.Tensor) -> torch.Tensor:
    """The float32 values packed in :func:`top_keys` keys (empty slots: -inf)."""
    mono = torch.div(keys, _SHIFT, rounding_mode="floor")
    bits = torch.where(mono < 0, mono ^ _FLIP, mono).to(torch.int32)
    values = bits.view(torch.float32)
    return values.masked_fill(keys == EMPTY_TOP, float("-inf"))


def top_ids(keys: torch.Tensor) -> torch.Tensor:
    """The example ids packed in :func:`top_keys` keys (empty slots: -1)."""
    low = keys - torch.div(keys, _SHIFT, rounding_mode="floor") * _SHIFT
    return (_LOW - low).masked_fill(keys == EMPTY_TOP, -1)


# -- reservoir keys -------------------------------------------------------------------------


def hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mix (int64 tensors holding values in ``[0, 2**32)``)."""
    x = ((x >> 16) ^ x) * _HASH_MUL & _LOW
    x = ((x >> 16) ^ x) * _HASH_MUL & _LOW
    return (x >> 16) ^ x


def _seed_word(seed: int, salt: int) -> int:
    return (seed * 0x9E3779B1 + salt) & _LOW


def unit_hashes(n_units: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """One hashed word per unit, mixed into each ``(example, unit)`` priority."""
    units = torch.arange(n_units, dtype=torch.int64, device=device)
    return hash32((units + _seed_word(seed, 0x632BE5AB)) & _LOW)


def sample_priority(ids: torch.Tensor, units: torch.Tensor, seed: int) -> torch.Tensor:
    """The 31-bit seeded priority of each ``(id, unit)`` pair (broadcast).

    ``hash(id) XOR hash(unit)``: for one unit, XOR with a constant permutes uniformly
    random hashes, so the smallest priorities are a uniform sample of the examples; two
    units select nearly disjoint samples. One XOR per pair keeps it cheap.
    """
    word = _seed_word(seed, 0x2545F491)
    return (hash32(ids.clamp(min=0) ^ word) ^ units) >> 1


def sample_priority32(ids: torch.Tensor, units: torch.Tensor, seed: int) -> torch.Tensor:
    """:func:`sample_priority` of every ``(unit, id)`` pair as int32 ``(U, B)``.

    Args:
        ids: ``(B,)`` example ids.
        units: ``(U,)`` :func:`unit_hashes`.
        seed: the sampling seed.
    """
    word = _seed_word(seed, 0x2545F491)
    hashed = _as_int32(hash32(ids.clamp(min=0) ^ word))
    mixed = _as_int32(units)[:, None] ^ hashed[None, :]
    return (mixed >> 1) & _FLIP  # a logical shift of the 32-bit pattern


def _as_int32(words: torch.Tensor) -> torch.Tensor:
    """int64 values in ``[0, 2**32)`` as int32 with the same 32 bits."""
    return (words - (words >= 1 << 31).to(torch.int64) * _SHIFT).to(torch.int32)


def sample_keys(ids: torch.Tensor, units: torch.Tensor, seed: int) -> torch.Tensor:
    """Reservoir keys: smaller keeps; the seeded priority, then the id.

    Args:
        ids: int64 example ids in ``[0, 2**32)``; ``-1`` marks an empty slot.
        units: :func:`unit_hashes`, broadcastable against ``ids``.
        seed: the sampling seed.

    Returns:
        int64 keys ``(priority << 32) | id``; empty slots get :data:`EMPTY_SAMPLE`.
    """
    keys = sample_priority(ids, units, seed) * _SHIFT + ids.clamp(min=0)
    return keys.masked_fill(ids < 0, EMPTY_SAMPLE)


def sample_ids(keys: torch.Tensor) -> torch.Tensor:
    """The example ids in :func:`sample_keys` keys (empty slots: -1)."""
    return (keys & _LOW).masked_fill(keys == EMPTY_SAMPLE, -1)


# -- histogram buckets ----------------------------------------------------------------------


@dataclass(frozen=True)
class Buckets:
    """Log-spaced histogram buckets, symmetric around zero.

    With ``bits`` mantissa bits, each power of two in ``[2**min_exp, 2**max_exp)`` is cut
    into ``2**bits`` equal parts, for both signs; values nearer zero than ``2**min_exp``
    share one zero bucket, and values beyond ``±2**max_exp`` (and ±inf) one overflow
    bucket per sign. A bucket is at most ``2**-bits`` of its values' magnitude wide.
    """

    bits: int = 3
    min_exp: int = -12
    max_exp: int = 12

    def __post_init__(self) -> None:
        if not 0 <= self.bits <= 8:
            raise ValueError(f"histogram bits must be in 0..8, not {self.bits}")
        if not -126 <= self.min_exp < self.max_exp <= 127:
            raise ValueError(f"need -126 <= min_exp < max_exp <= 127, got {self}")

    @property
    def per_side(self) -> int:
        return (self.max_exp - self.min_exp) << self.bits

    @property
    def zero(self) -> int:
        """Index of the zero bucket."""
        return self.per_side + 1

    @property
    def n(self) -> int:
        """Number of buckets."""
        return 2 * self.per_side + 3

    def index(self, values: torch.Tensor) -> torch.Tensor:
        """The bucket of each value (int32, same shape; NaN must be removed first).

        Read from the float32 bits: the exponent and the top ``bits`` mantissa bits of
        ``|x|`` give the magnitude bucket, the sign bit the side.
        """
        bits = values.to(torch.float32).contiguous().view(torch.int32)
        side = (bits >> 31) * 2 + 1  # -1 for negative (and -0.0), +1 otherwise
        magnitude = (bits & _FLIP) >> (23 - self.bits)
        magnitude -= (127 + self.min_exp) << self.bits
        magnitude.clamp_(-1, self.per_side).add_(1)  # 0 for the zero bucket
        return magnitude.mul_(side).add_(self.zero)

    def edges(self) -> torch.Tensor:
        """``n + 1`` ascending float64 edges; bucket ``j`` is ``[edges[j], edges[j+1])``.

        The outermost edges are ``±inf``; callers replace them with the data's extremes.
        """
        steps = 1 << self.bits
        i = torch.arange(self.per_side + 1, dtype=torch.float64)
        power = torch.exp2(self.min_exp + torch.div(i, steps, rounding_mode="floor"))
        lows = power * (1 + torch.remainder(i, steps) / steps)  # 2**min_exp ... 2**max_exp
        inf = torch.tensor([math.inf], dtype=torch.float64)
        return torch.cat([-inf, -lows.flip(0), lows, inf])
