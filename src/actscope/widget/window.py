"""Views too large for one message: a window of exact positions (or channels) and an overview.

When a (positions, units) view is over the explorer's value limit (``max_view_values``),
its blob holds the positions ``[start, stop)`` exactly (all units), the whole layer as
:func:`~actscope.engine.overview.overview` tiles, and, when a unit is selected, that unit's
value at every position. The front end draws the window, draws the overview beside it, and
asks for another window (a ``fetch`` with ``start``) when the user clicks the overview or
steps earlier/later. A (channels, height, width) view is cut along channels the same way,
with every channel's map as tiles, and the selected channel's whole map.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..engine.errors import InputError
from ..engine.overview import overview, overview_each
from ..engine.ranking import UnitStats
from . import wire
from .contract import OverviewMeta, Trimmed, ViewWindow, layer_view_key, snapshot_key

OVERVIEW_TILES = 512
"""The most overview tiles along each axis (a screen's worth)."""


def window_positions(shape: tuple[int, int], max_values: int) -> int:
    """How many positions of all units fit in one message."""
    return max(1, min(shape[0], max_values // max(shape[1], 1)))


def robust_peak(act: torch.Tensor, q: float = 0.999, sample: int = 65_536) -> float | None:
    """The ``q`` quantile of ``act``'s finite |values|, over an evenly strided sample (the
    front end's ``robustPeak`` of a view, for the whole layer); None if none is finite."""
    flat = act.detach().reshape(-1)
    values = flat[:: max(1, flat.numel() // sample)].float().abs()
    values = values[torch.isfinite(values)]
    if not values.numel():
        return None
    ordered = values.sort().values
    return float(ordered[min(values.numel() - 1, int(q * (values.numel() - 1)))])


def windowed(
    act: torch.Tensor,
    max_values: int,
    start: int = 0,
    unit: int | None = None,
    stats: UnitStats | None = None,
    kind: str = "sequence",
) -> tuple[dict[str, Any], Trimmed, ViewWindow, OverviewMeta] | None:
    """The arrays and meta of a windowed view, or ``None`` when ``act`` fits whole.

    A sequence view ``(positions, units)`` is cut along positions, a spatial one
    ``(channels, height, width)`` along channels (each channel's whole map, and every
    channel's map as :func:`~actscope.engine.overview.overview_each` tiles).
    ``start`` is clamped so that the window is full (the last one ends at the last
    position or channel); ``unit`` (when in range) adds its value at every position, or its
    whole map (``column``); ``stats`` (of the whole layer) travel as ``unit_*``, so that
    sorting units orders them by the whole input, not the window.
    """
    spatial = kind == "spatial" and act.ndim == 3
    if not (act.ndim == 2 or spatial) or act.numel() <= max_values:
        return None
    n, d = int(act.shape[0]), int(act[0].numel())
    size = window_positions((n, d), max_values)
    begin = max(0, min(int(start), n - size))
    if spatial:  # every channel's map pooled, all of it within a quarter of the limit
        side = max(1, int((max_values / 4 / n) ** 0.5))
        tiles = overview_each(act, min(side, OVERVIEW_TILES), min(side, OVERVIEW_TILES))
    else:
        tiles = overview(act, OVERVIEW_TILES, OVERVIEW_TILES)
    arrays: dict[str, Any] = {"act": act[begin : begin + size], "overview": tiles.values}
    window: ViewWindow = {"start": begin, "stop": begin + size, "positions": n}
    clip = robust_peak(act)
    if clip is not None:
        window["clip"] = clip
    if stats is not None and stats.count is not None:
        arrays.update(
            unit_max=stats.max.float(),
            unit_mean=stats.mean.float(),
            unit_argmax=stats.argmax.to(torch.int32),
            unit_count=stats.count.to(torch.int32),
        )
    units = n if spatial else d
    if unit is not None and 0 <= unit < units:
        if not (spatial and begin <= unit < begin + size):  # a held channel is exact already
            arrays["column"] = (act[unit].reshape(-1) if spatial else act[:, unit]).float()
        window["unit"] = int(unit)
    meta: OverviewMeta = {
        "rows": int(tiles.values.shape[-2]),
        "cols": int(tiles.values.shape[-1]),
        "tile_rows": tiles.tile_rows,
        "tile_cols": tiles.tile_cols,
    }
    what = "channels" if spatial else "positions"
    trimmed: Trimmed = {
        "shown": list(arrays["act"].shape),
        "note": f"A view of {n * d:,} values is over the {max_values:,}-value limit of one "
        f"message: {what} {begin}–{begin + size - 1} are exact here, "
        + (
            f"every other channel is drawn from tiles of {tiles.tile_rows} × {tiles.tile_cols} "
            "(each its value of largest magnitude) until selected. "
            if spatial
            else f"and the overview above shows all {n:,} (click it, or step earlier/later, "
            "to move). "
        )
        + "Rankings cover every unit.",
    }
    return arrays, trimmed, window, meta


def trim(act: torch.Tensor, kind: str, max_values: int) -> tuple[torch.Tensor, Trimmed | None]:
    """At most ``max_values`` values of ``act``, cut along positions or units, with a note."""
    total = act.numel()
    if total <= max_values or act.ndim == 0:
        return act, None
    if kind == "sequence":
        keep = max(1, max_values // act.shape[1])
        what = f"the first {keep} of {act.shape[0]} positions"
    else:
        per_unit = max(1, total // act.shape[0])
        keep = max(1, max_values // per_unit)
        what = f"the first {keep} of {act.shape[0]} units"
    shown = act[:keep]
    return shown, {
        "shown": list(shown.shape),
        "note": f"Showing {what}: the full view ({total:,} values) is over the "
        f"{max_values:,}-value limit of one message. Rankings cover every unit.",
    }


def overview_figure(
    act: torch.Tensor, kind: str, tiles: int = OVERVIEW_TILES, *, title: str = ""
) -> Any:
    """A plotly heatmap of :func:`~actscope.engine.overview.overview` tiles: positions down,
    units across, each tile labelled with the ranges it covers."""
    import plotly.graph_objects as go

    from .figures import _scale_args

    if kind != "sequence" or act.ndim != 2:
        raise InputError(
            f"The overview draws a (positions, units) sequence layer; this one is {kind} with "
            f"shape {tuple(act.shape)}: use ex.figure(view='layer') instead."
        )
    ov = overview(act, tiles, tiles)
    n, d = ov.shape
    rows = [
        f"{i * ov.tile_rows}–{min(n, (i + 1) * ov.tile_rows) - 1}"
        for i in range(ov.values.shape[0])
    ]
    cols = [
        f"{j * ov.tile_cols}–{min(d, (j + 1) * ov.tile_cols) - 1}"
        for j in range(ov.values.shape[1])
    ]
    fig = go.Figure(
        go.Heatmap(
            z=ov.values.numpy(),
            x=cols,
            y=rows,
            hovertemplate="units %{x}<br>positions %{y}<br>largest |value| %{z:.4g}<extra></extra>",
            **_scale_args(ov.values, False),
        )
    )
    fig.update_yaxes(autorange="reversed", type="category", title="positions", showticklabels=False)
    fig.update_xaxes(type="category", title="units", showticklabels=False)
    fig.update_layout(
        title=title
        or f"overview: {n:,} positions × {d:,} units, tiles of {ov.tile_rows} × {ov.tile_cols}"
    )
    return fig


def further_windows(
    entries: list[tuple[str, bytes]], budget: int, blob_at: Callable[[str, int, int], bytes]
) -> list[tuple[str, bytes]]:
    """A snapshot's further windows of the long views among its ``entries`` (their first
    windows): each window after the first, ``blob_at(layer, input_index, start)``, in order
    while they fit in ``budget`` bytes, each saved whole or not at all. The windows start at
    multiples of their size, the last ending at the last position (the front end, without a
    kernel, steps and snaps to these). Sequence views only: a spatial view's page shows the
    other channels from their tiles."""
    more: list[tuple[str, bytes]] = []
    views = snapshot_key("layer_view", "")
    for key, first in entries:
        if not key.startswith(views):
            continue
        meta = wire.read_meta(first)
        window = meta.get("window")
        if not window or "input_index" not in meta or meta.get("kind") != "sequence":
            continue  # a spatial view's other channels: its tiles (a page cannot step them)
        size, n = window["stop"] - window["start"], window["positions"]
        layer, index = str(meta["layer"]), int(meta["input_index"])
        for start in dict.fromkeys([*range(size, n - size, size), n - size]):
            blob = blob_at(layer, index, start)
            if len(blob) > budget:
                return more
            budget -= len(blob)
            more.append(
                (snapshot_key("layer_view", f"{layer_view_key(index, layer)}@{start}"), blob)
            )
    return more
