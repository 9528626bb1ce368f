"""``overview``: a whole (positions, units) layer at screen resolution; ``overview_each``:
each matrix of a stack (an attention pattern's heads, a feature map's channels).

A layer of a long input is too large to send whole (GPT-2's MLP at 1,024 tokens is 3.1 M
values; a Llama-8B MLP at 2,048 tokens is 29 M). The overview pools it into tiles of
``tile_rows × tile_cols`` values and keeps, per tile, the value of largest magnitude with
its sign: one strong activation is never averaged away, and NaN (and ±Inf) stay visible,
since a tile holding one is NaN (±Inf). It runs where the activation is (on the GPU when
there is one); only the tiles cross to the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import InputError


@dataclass(frozen=True)
class Overview:
    """The tiles of a (positions, units) activation.

    ``values[..., i, j]`` is the value of largest |value| (its sign kept; NaN if the tile holds a
    NaN) among positions ``i*tile_rows ...`` and units ``j*tile_cols ...`` (the last tiles
    may be narrower). When a tile's largest magnitude is reached by both signs, the positive
    value is kept. ``values`` has the leading dimensions of what was pooled (none for
    :func:`overview`; heads or channels for :func:`overview_each`); ``shape`` is the shape
    of each pooled matrix.
    """

    values: torch.Tensor
    tile_rows: int
    tile_cols: int
    shape: tuple[int, int]

    def tile_of(self, position: int, unit: int) -> tuple[int, int]:
        """The tile that holds ``(position, unit)``."""
        return position // self.tile_rows, unit // self.tile_cols


def tile_sizes(shape: tuple[int, int], rows: int, cols: int) -> tuple[int, int]:
    """The smallest tiles that cut ``shape`` into at most ``rows × cols`` of them."""
    return max(1, math.ceil(shape[0] / max(rows, 1))), max(1, math.ceil(shape[1] / max(cols, 1)))


def overview(act: torch.Tensor, rows: int = 512, cols: int = 512) -> Overview:
    """Pool a (positions, units) activation into at most ``rows × cols`` tiles, keeping each
    tile's value of largest magnitude with its sign.

    Args:
        act: a 2-D tensor, positions × units (a sequence layer's view), on any device.
        rows, cols: the most tiles along each axis (a screen's worth: 512 by default).

    Returns:
        :class:`Overview`, its ``values`` float32 on the CPU.
    """
    if act.ndim != 2:
        raise InputError(
            f"overview takes a (positions, units) activation: expected 2 dimensions, got "
            f"shape {tuple(act.shape)}. For a sequence layer pass one input's view "
            "(capture(...)[layer][i])."
        )
    if rows < 1 or cols < 1:
        raise InputError(
            f"overview needs at least one tile each way, not rows={rows}, cols={cols}."
        )
    return _pool(act, rows, cols)


def overview_each(stack: torch.Tensor, rows: int = 128, cols: int = 128) -> Overview:
    """:func:`overview` of each matrix of a ``(..., n, u)`` stack, with the same tiles for
    all: an attention pattern's heads ``(heads, queries, keys)``, or a feature map's
    channels ``(channels, height, width)``.

    Returns:
        :class:`Overview` whose ``values`` are ``(..., rows', cols')``, float32 on the CPU.
    """
    if stack.ndim < 2:
        raise InputError(
            f"overview_each pools the last two dimensions: expected 2 or more, got shape "
            f"{tuple(stack.shape)}."
        )
    if rows < 1 or cols < 1:
        raise InputError(
            f"overview needs at least one tile each way, not rows={rows}, cols={cols}."
        )
    return _pool(stack, rows, cols)


def _pool(act: torch.Tensor, rows: int, cols: int) -> Overview:
    lead = tuple(int(d) for d in act.shape[:-2])
    n, u = int(act.shape[-2]), int(act.shape[-1])
    ty, tx = tile_sizes((n, u), rows, cols)
    nr, nc = math.ceil(n / ty) if n else 0, math.ceil(u / tx) if u else 0
    x = act.detach()
    if not x.is_floating_point():
        x = x.float()
    if n == 0 or u == 0 or 0 in lead:
        return Overview(torch.zeros(*lead, nr, nc), ty, tx, (n, u))
    pad = (0, nc * tx - u, 0, nr * ty - n)
    if any(pad):  # zeros never win a tile of real values: only a tile of zeros is 0
        x = torch.nn.functional.pad(x, pad)
    blocks = x.reshape(*lead, nr, ty, nc, tx)
    hi = blocks.amax(dim=(-3, -1))
    lo = blocks.amin(dim=(-3, -1))
    values = torch.where(hi >= -lo, hi, lo)
    values = values.masked_fill(hi.isnan() | lo.isnan(), float("nan"))  # NaN propagates
    return Overview(values.float().cpu(), ty, tx, (n, u))
