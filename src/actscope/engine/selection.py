"""Choosing units and positions of a layer's output tensor, and editing them on a copy.

A layer's tensor is batch first, ``(N, ...)``; its per-example shape has one *unit axis*
(as :func:`~actscope.engine.layers.view_of` and ``list_layers`` report it: channels for a
conv map, the last axis of a sequence) and *position axes*, every other axis: the token
axis of ``(N, T, D)``, the ``(H, W)`` axes of ``(N, C, H, W)``, none for ``(N, D)``.

A *selection* is seen with the units last: ``(N, *positions, U)`` when every position is
chosen, ``(N, P, U)`` for ``P`` chosen positions, ``U`` being the chosen units. A position is
an index on the position axes: a token index, a location ``(y, x)``, or a flat index in
row-major order (``y * W + x``, as rankings give it); negative indices count from the end.

:func:`edit_tensor` clones the tensor and writes the edited selection into the clone, so
that a tensor someone else holds (the previous module's output, a capture) never changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import torch

from .errors import InputError
from .layers import view_of

Position: TypeAlias = int | tuple[int, ...]
Index: TypeAlias = tuple[Any, ...]


@dataclass(frozen=True)
class Layout:
    """Where units and positions are in one call's tensor (batch axis 0)."""

    layer: str
    shape: tuple[int, ...]
    """The whole tensor's shape, batch included."""
    unit_axis: int | None
    """The unit axis of the per-example shape (``None``: a scalar per example)."""

    @classmethod
    def of(cls, layer: str, tensor: torch.Tensor, unit_axis: int | None = None) -> Layout:
        if tensor.ndim == 0:
            raise InputError(
                f"{layer!r} outputs a scalar tensor, which has no batch axis to edit per example."
            )
        _, axis = view_of(tuple(tensor.shape[1:]), unit_axis)
        return cls(layer, tuple(tensor.shape), axis)

    @property
    def n_units(self) -> int:
        return 1 if self.unit_axis is None else self.shape[1 + self.unit_axis]

    @property
    def grid(self) -> tuple[int, ...]:
        """The sizes of the position axes, in order."""
        per = self.shape[1:]
        if self.unit_axis is None:
            return ()
        return tuple(s for i, s in enumerate(per) if i != self.unit_axis)

    def units_last(self, tensor: torch.Tensor) -> torch.Tensor:
        """A view of ``tensor`` (this layout) as ``(N, *positions, U)``."""
        if self.unit_axis is None:
            return tensor.unsqueeze(-1)
        return tensor.movedim(1 + self.unit_axis, -1)

    # Choosing ------------------------------------------------------------------------
    def unit_index(self, units: Sequence[int] | None, device: torch.device) -> Any:
        """An index of the unit axis (a slice for every unit); out of range raises."""
        if units is None:
            return slice(None)
        n = self.n_units
        for u in units:
            if not 0 <= u < n:
                raise InputError(
                    f"unit {u} is out of range for {self.layer!r}, which has {n} units "
                    f"(0 to {n - 1}); its output has shape {self.shape}."
                )
        return torch.tensor(list(units), dtype=torch.long, device=device)

    def position_index(
        self, positions: Sequence[Position] | None, device: torch.device
    ) -> list[Any]:
        """One index per position axis (slices for every position; else ``(P,)`` tensors)."""
        grid = self.grid
        if positions is None:
            return [slice(None)] * len(grid)
        if not grid:
            raise InputError(
                f"{self.layer!r} has no positions (its output has shape {self.shape}, one "
                "vector per example): leave positions=None."
            )
        coords = [self._location(p, grid) for p in positions]
        columns = list(zip(*coords, strict=True))
        return [torch.tensor(c, dtype=torch.long, device=device) for c in columns]

    def _location(self, position: Position, grid: tuple[int, ...]) -> tuple[int, ...]:
        total = math.prod(grid)
        if isinstance(position, int):
            flat = position + total if position < 0 else position
            if not 0 <= flat < total:
                sizes = " × ".join(map(str, grid))
                what = "positions" if len(grid) == 1 else f"positions ({sizes})"
                raise InputError(
                    f"position {position} is out of range for {self.layer!r}, which has "
                    f"{total} {what} (0 to {total - 1}) for this batch; its output has shape "
                    f"{self.shape}."
                )
            return tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), grid))
        if len(position) != len(grid):
            raise InputError(
                f"position {position} has {len(position)} coordinates, but {self.layer!r} has "
                f"{len(grid)} position axes ({' × '.join(map(str, grid))}; output shape "
                f"{self.shape}). Pass several positions as a list: positions=[3, 4]."
            )
        out = []
        for c, size in zip(position, grid, strict=True):
            k = c + size if c < 0 else c
            if not 0 <= k < size:
                raise InputError(
                    f"position {position} is out of range for {self.layer!r}, whose positions "
                    f"are {' × '.join(map(str, grid))} (output shape {self.shape})."
                )
            out.append(k)
        return tuple(out)

    def index(
        self,
        units: Sequence[int] | None,
        positions: Sequence[Position] | None,
        device: torch.device,
    ) -> Index:
        """The index of the selection in the ``units_last`` view: ``(N, P, U)`` or
        ``(N, *positions, U)``."""
        unit = self.unit_index(units, device)
        pos = self.position_index(positions, device)
        if positions is not None and isinstance(unit, torch.Tensor):
            pos = [p[:, None] for p in pos]  # (P, 1) with (1, U): a (P, U) block
            unit = unit[None, :]
        return (slice(None), *pos, unit)


Operation: TypeAlias = Callable[[torch.Tensor, Layout, Index], torch.Tensor]
"""``op(selection, layout, index) → new values``: the edit itself."""


def edit_tensor(
    tensor: torch.Tensor,
    layout: Layout,
    units: Sequence[int] | None,
    positions: Sequence[Position] | None,
    op: Operation,
) -> torch.Tensor:
    """A copy of ``tensor`` with the selection replaced by ``op(selection, layout, index)``."""
    index = layout.index(units, positions, tensor.device)
    result = tensor.clone()
    view = layout.units_last(result)
    current = view[index]
    new = op(current, layout, index)
    if new.shape != current.shape:
        new = fit(new, current.shape, layout, "the new values")
    view[index] = new.to(dtype=result.dtype)
    return result


def fit(values: torch.Tensor, shape: torch.Size, layout: Layout, what: str) -> torch.Tensor:
    """``values`` broadcast to the selection's ``shape``, or an error naming both shapes."""
    try:
        return values.expand(shape)
    except RuntimeError:
        raise InputError(
            f"{what} have shape {tuple(values.shape)}, which does not broadcast to the "
            f"selection of {layout.layer!r}: {tuple(shape)} (batch, positions..., units; the "
            f"layer's output has shape {layout.shape})."
        ) from None


def per_unit(
    values: torch.Tensor, current: torch.Tensor, layout: Layout, index: Index, what: str
) -> torch.Tensor:
    """``values`` on the selection: one value per unit of the layer ``(n_units,)`` (the
    chosen units' taken), or a tensor broadcastable to the selection."""
    values = values.to(device=current.device, dtype=current.dtype)
    unit = index[-1]
    if values.ndim == 1 and values.shape[0] == layout.n_units and isinstance(unit, torch.Tensor):
        values = values[unit.reshape(-1)]
    return fit(values, current.shape, layout, what)
