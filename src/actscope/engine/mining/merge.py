"""Merging indexes mined on disjoint shards: the checks that make a merge exact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import IndexFileError, InputError
from . import keys as K
from . import state as S

if TYPE_CHECKING:
    from .index import ActivationIndex


def check_compatible(a: ActivationIndex, b: ActivationIndex) -> None:
    """Raise :class:`IndexFileError` unless ``a`` and ``b`` can be merged exactly."""
    from .index import ActivationIndex

    if not isinstance(b, ActivationIndex):
        raise InputError(f"Can only merge an ActivationIndex, not {type(b).__name__}.")
    sa, sb = a.settings, b.settings
    if sa != sb:
        diffs = [
            f"{f}: {getattr(sa, f)!r} vs {getattr(sb, f)!r}"
            for f in ("k", "reservoir", "seed", "buckets", "model")
            if getattr(sa, f) != getattr(sb, f)
        ]
        raise IndexFileError(
            f"These indexes were mined with different settings ({'; '.join(diffs)}): mine "
            "every shard with the same k, reservoir, seed and histogram_bits."
        )
    layouts_a = [(m.name, m.n_units, m.kind) for m in a._meta.values()]
    layouts_b = [(m.name, m.n_units, m.kind) for m in b._meta.values()]
    if layouts_a != layouts_b:
        raise IndexFileError(
            f"These indexes were made for other layers ({layouts_a} vs {layouts_b}): mine "
            "every shard with the same layers."
        )


def check_disjoint(name: str, merged: S.LayerState) -> None:
    ids = K.top_ids(merged.top_key)
    ordered = ids.sort(dim=1).values
    repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if bool(repeated.any()):
        unit, slot = (int(v) for v in repeated.nonzero()[0])
        raise IndexFileError(
            f"Both indexes hold example {int(ordered[unit, slot + 1])} (layer {name!r}, unit "
            f"{unit}): merge combines disjoint shards. Mine each shard with its own "
            "id_offset=... so that ids are global, and merge each shard once."
        )
    keys = merged.sample_key
    if bool(((keys[:, 1:] == keys[:, :-1]) & (keys[:, 1:] != K.EMPTY_SAMPLE)).any()):
        raise IndexFileError(
            f"Both indexes hold the same sampled examples (layer {name!r}): merge combines "
            "disjoint shards. Mine each shard with its own id_offset=... so that ids are global."
        )
