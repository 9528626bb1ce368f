"""A lens's features in a layer-view blob: sparse, as a few bytes per active value.

Twin of ``sparseToDense`` in ``js/src/layouts/data.ts``. A view whose features are mostly
zero (a dictionary of 16,384 with tens active per token) sends, instead of the dense
``act``, each position's count of active features, their indices as gaps and their values
(one byte each): about 2.5 bytes per active value, against 2 bytes per feature dense.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..engine.layers import LayerInfo
from .contract import SparseView, Trimmed

SPARSE_BELOW = 0.25
"""A lens's features travel sparse when at most this fraction of them is non-zero."""


def sparse_arrays(
    act: torch.Tensor, info: LayerInfo, max_values: int
) -> tuple[dict[str, Any], Trimmed | None, SparseView] | None:
    """A lens's ``(T, F)`` features as rows: ``sp_counts`` ``(T,)`` each position's active
    features (two bytes each), ``sp_gaps`` their feature indices as gaps (see
    :func:`varint_gaps`: one or two bytes each), ``sp_vals`` their values (one byte each:
    1/252 of the view's range; the rankings' max and mean travel as float16), so under 3
    bytes per active value; ``None`` when the layer is not a lens's or too many features are
    active."""
    if not info.features_of or info.kind != "sequence" or act.ndim != 2:
        return None
    positions, features = act.shape
    if features > 65_535 or act.numel() == 0:
        return None
    active = act != 0  # NaN is not 0: it travels
    count = int(active.sum())
    if count > SPARSE_BELOW * act.numel():
        return None
    per_row = active.sum(1)
    trimmed: Trimmed | None = None
    if count > max_values:
        keep = max(1, int((per_row.cumsum(0) <= max_values).sum()))
        trimmed = {
            "shown": [keep, features],
            "note": f"Showing the first {keep} of {positions} positions: the features active "
            f"there ({count:,} values) are over the {max_values:,}-value limit of one message. "
            "Rankings cover every feature.",
        }
        act, active, per_row = act[:keep], active[:keep], per_row[:keep]
    cols = active.nonzero()[:, 1]
    gaps = varint_gaps(cols.cpu().numpy(), per_row.cpu().numpy())
    # active: the values sent; density: of the whole view, trimmed or not
    view: SparseView = {"active": int(cols.numel()), "density": count / (positions * features)}
    arrays = {"sp_counts": per_row.to(torch.uint16), "sp_gaps": gaps, "sp_vals": act[active]}
    return arrays, trimmed, view


def varint_gaps(cols: np.ndarray, per_row: np.ndarray) -> np.ndarray:
    """Feature indices, ascending within each row, as the gaps before each (``index −
    previous index − 1``, the first of a row from −1) in LEB128: 7 bits a byte, low bits
    first, the high bit set on every byte but a gap's last. Gaps under 128 take one byte,
    under 16,384 two (a dictionary of 16,384 features with 64 active a token: ~1.6 bytes).
    ``sparseToDense`` (js/src/layouts/data.ts) reads them back."""
    cols = cols.astype(np.int64)
    prev = np.empty_like(cols)
    prev[1:] = cols[:-1]
    starts = (np.cumsum(per_row) - per_row)[per_row > 0]
    prev[starts] = -1
    gap = cols - prev - 1
    size = 1 + (gap >= 1 << 7) + (gap >= 1 << 14)
    at = np.cumsum(size) - size
    out = np.zeros(int(size.sum()), np.uint8)
    out[at] = (gap & 0x7F) | ((size > 1) << 7)
    two = size > 1
    out[at[two] + 1] = ((gap[two] >> 7) & 0x7F) | ((size[two] > 2) << 7)
    three = size > 2
    out[at[three] + 2] = gap[three] >> 14
    return out
