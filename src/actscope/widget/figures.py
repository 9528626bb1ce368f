"""Plotly figures of what the explorer shows, for papers and reports.

Every figure uses the widget's colour scales (``js/src/colormap.ts``: diverging for signed
data, sequential otherwise, clipped at the 99.9th percentile of |values| unless
``clip=False``) and the same layouts: a token × neuron heatmap for sequences, a grid of
channel maps for spatial layers, bars for vectors.

    fig = ex.figure()                      # the current layer and input
    fig = ex.figure(unit=1187)             # the tokens coloured by one neuron
    fig.write_image("neuron.pdf")          # (with kaleido installed)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ..engine.overview import overview_each

# The light-theme stops of js/src/colormap.ts (tests/test_figures.py keeps them equal).
DIVERGING = [
    (49, 54, 149),
    (69, 117, 180),
    (116, 173, 209),
    (224, 243, 248),
    (255, 255, 255),
    (254, 224, 144),
    (244, 109, 67),
    (215, 48, 39),
    (165, 0, 38),
]
SEQUENTIAL = [
    (255, 255, 255),
    (254, 232, 200),
    (253, 187, 132),
    (252, 141, 89),
    (227, 74, 51),
    (179, 0, 0),
    (110, 0, 0),
]
MINOR_SIDE = 0.1
MAX_TILES = 64


def colorscale(stops: Sequence[tuple[int, int, int]]) -> list[list[Any]]:
    n = len(stops) - 1
    return [[i / n, f"rgb({r},{g},{b})"] for i, (r, g, b) in enumerate(stops)]


def color_range(values: torch.Tensor, clip: bool = True) -> tuple[float, float, bool]:
    """``(lo, hi, signed)`` as the widget picks them (see ``scaleFor`` in colormap.ts)."""
    x = values.detach().float().reshape(-1)
    x = x[torch.isfinite(x)]
    if x.numel() == 0:
        return 0.0, 1.0, False
    pos, neg = max(float(x.max()), 0.0), max(-float(x.min()), 0.0)
    cap = math.inf
    if clip:
        step = max(1, x.numel() // 4096)
        cap = float(torch.quantile(x[::step].abs(), 0.999)) or math.inf
    if (neg > MINOR_SIDE * pos and pos > MINOR_SIDE * neg) or neg > pos:
        m = min(max(neg, pos), cap)
        return -m, m, True
    return 0.0, min(pos, cap) or 1.0, False


def _scale_args(values: torch.Tensor, clip: bool) -> dict[str, Any]:
    lo, hi, signed = color_range(values, clip)
    return {
        "zmin": lo,
        "zmax": hi,
        "colorscale": colorscale(DIVERGING if signed else SEQUENTIAL),
    }


def sequence_figure(
    act: torch.Tensor,
    tokens: Sequence[str] | None = None,
    *,
    title: str = "",
    order: torch.Tensor | None = None,
    clip: bool = True,
    word: str = "neuron",
) -> Any:
    """A (T, D) activation as a token × neuron heatmap (``order``: neurons to show, in order;
    ``word``: what a unit is called, ``"feature"`` for a lens)."""
    import plotly.graph_objects as go

    data = act.detach().float().cpu()
    units = order if order is not None else torch.arange(data.shape[1])
    rows = [f"{t}: {tok}" for t, tok in enumerate(tokens or [str(i) for i in range(data.shape[0])])]
    fig = go.Figure(
        go.Heatmap(
            z=data[:, units].numpy(),
            x=[str(int(u)) for u in units],
            y=rows,
            hovertemplate=f"{word} %{{x}}<br>%{{y}}<br>value %{{z:.4g}}<extra></extra>",
            **_scale_args(data, clip),
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", title=word, showticklabels=len(units) <= 64)
    fig.update_layout(title=title, height=max(300, 18 * data.shape[0] + 120))
    return fig


def tokens_figure(values: torch.Tensor, tokens: Sequence[str], *, title: str = "") -> Any:
    """One unit's activation on each token: the tokens in a row, coloured (its own scale)."""
    import plotly.graph_objects as go

    v = values.detach().float().cpu().reshape(1, -1)
    fig = go.Figure(
        go.Heatmap(
            z=v.numpy(),
            x=[f"{t}: {tok}" for t, tok in enumerate(tokens)],
            y=[""],
            text=[list(tokens)],
            texttemplate="%{text}",
            hovertemplate="%{x}<br>value %{z:.4g}<extra></extra>",
            **_scale_args(v, clip=False),
        )
    )
    fig.update_xaxes(type="category", showticklabels=False)
    fig.update_layout(title=title, height=160)
    return fig


def spatial_figure(
    act: torch.Tensor,
    *,
    title: str = "",
    order: torch.Tensor | None = None,
    clip: bool = True,
    max_tiles: int = MAX_TILES,
) -> Any:
    """A (C, H, W) activation as a grid of channel maps on one colour scale."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    data = act.detach().float().cpu()
    channels = (order if order is not None else torch.arange(data.shape[0]))[:max_tiles]
    cols = min(8, len(channels))
    rows = math.ceil(len(channels) / cols)
    peaks = data.flatten(1).max(1).values
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"{int(c)} · {float(peaks[c]):.3g}" for c in channels],
        horizontal_spacing=0.01,
        vertical_spacing=0.06,
    )
    scale = _scale_args(data, clip)
    for n, c in enumerate(channels):
        fig.add_trace(
            go.Heatmap(
                z=data[int(c)].numpy(),
                coloraxis="coloraxis",
                hovertemplate=f"channel {int(c)}<br>y %{{y}}, x %{{x}}<br>"
                "value %{z:.4g}<extra></extra>",
            ),
            row=n // cols + 1,
            col=n % cols + 1,
        )
    fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor="x")
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(
        title=title,
        coloraxis={"colorscale": scale["colorscale"], "cmin": scale["zmin"], "cmax": scale["zmax"]},
        height=140 * rows + 120,
    )
    return fig


def channel_figure(
    channel: torch.Tensor, image: Any = None, *, title: str = "", opacity: float = 0.7
) -> Any:
    """One channel map, over the input image (an RGB uint8 array) when given."""
    import plotly.graph_objects as go

    data = channel.detach().float().cpu()
    fig = go.Figure()
    if image is not None:
        h, w = image.shape[:2]
        fig.add_trace(go.Image(z=image, hoverinfo="skip"))
        # Stretch the map over the image (cell centres land on the image grid).
        dy, dx = h / data.shape[0], w / data.shape[1]
        fig.add_trace(
            go.Heatmap(
                z=data.numpy(),
                x0=dx / 2 - 0.5,
                dx=dx,
                y0=dy / 2 - 0.5,
                dy=dy,
                opacity=opacity,
                zsmooth="best",
                **_scale_args(data, clip=False),
            )
        )
    else:
        fig.add_trace(go.Heatmap(z=data.numpy(), **_scale_args(data, clip=False)))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(title=title, width=460, height=460)
    return fig


def units_at_figure(
    found: Any, word: str, *, title: str = "", values: Any = None, axis: str = "value"
) -> Any:
    """Ranked units (a ``Ranking``) as horizontal bars of their ``max`` (the units most
    active at one position), or of ``values`` (``axis`` names them)."""
    import plotly.graph_objects as go

    units = [f"{word} {int(u)}" for u in found.units]
    shown = found.max if values is None else values
    values = shown.detach().float().cpu().numpy()
    fig = go.Figure(
        go.Bar(
            x=values,
            y=units,
            orientation="h",
            marker={"color": values, "colorscale": colorscale(SEQUENTIAL)},
            hovertemplate="%{y}<br>" + axis + " %{x:.4g}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(title=title, xaxis_title=axis, height=max(240, 22 * len(units) + 120))
    return fig


def vector_figure(
    act: torch.Tensor, *, title: str = "", labels: Sequence[str] | None = None, clip: bool = True
) -> Any:
    """A (D,) activation as bars, coloured by value."""
    import plotly.graph_objects as go

    data = act.detach().float().cpu().reshape(-1)
    lo, hi, signed = color_range(data, clip)
    fig = go.Figure(
        go.Bar(
            x=list(labels) if labels is not None else list(range(data.numel())),
            y=data.numpy(),
            marker={
                "color": data.numpy(),
                "colorscale": colorscale(DIVERGING if signed else SEQUENTIAL),
                "cmin": lo,
                "cmax": hi,
            },
            hovertemplate="unit %{x}<br>value %{y:.4g}<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title="unit", bargap=0.05)
    return fig


def attention_figure(
    pattern: torch.Tensor,
    tokens: Sequence[str] | None,
    *,
    head: int | None = None,
    title: str = "",
    max_heads: int = 16,
) -> Any:
    """Attention probabilities ``(heads, queries, keys)``: one head large with token labels
    (``head``), or a grid of the first ``max_heads`` heads."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    p = pattern.detach().float().cpu()
    labels = [f"{t}: {tok}" for t, tok in enumerate(tokens or [str(i) for i in range(p.shape[1])])]
    scale = {"colorscale": colorscale(SEQUENTIAL), "zmin": 0.0, "zmax": 1.0}
    hover = "query %{y}<br>key %{x}<br>p %{z:.3f}<extra></extra>"
    if head is not None:
        fig = go.Figure(
            go.Heatmap(
                z=p[head].numpy(),
                x=labels[: p.shape[2]],
                y=labels[: p.shape[1]],
                hovertemplate=hover,
                **scale,
            )
        )
        fig.update_yaxes(autorange="reversed", type="category")
        fig.update_xaxes(type="category")
        fig.update_layout(title=f"{title} · head {head}", height=max(400, 16 * p.shape[1] + 160))
        return fig
    shown = min(p.shape[0], max_heads)
    cols, step = min(4, shown), (1, 1)
    rows = math.ceil(shown / cols)
    if p.shape[1] * p.shape[2] > 256 * 256:  # long: each head as tiles of its largest p
        tiles = overview_each(p[:shown], 128, 128)
        p, step = tiles.values, (tiles.tile_rows, tiles.tile_cols)
        title = f"{title} · tiles of {step[0]} queries × {step[1]} keys, each its largest p"
        hover = "queries from %{y}<br>keys from %{x}<br>largest p %{z:.3f}<extra></extra>"
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"head {h}" for h in range(shown)])
    ys, xs = ((torch.arange(n) * k).numpy() for n, k in zip(p.shape[1:], step, strict=True))
    for h in range(shown):
        fig.add_trace(
            go.Heatmap(z=p[h].numpy(), x=xs, y=ys, coloraxis="coloraxis", hovertemplate=hover),
            row=h // cols + 1,
            col=h % cols + 1,
        )
    fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor="x")
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(
        title=title,
        coloraxis={"colorscale": scale["colorscale"], "cmin": 0, "cmax": 1},
        height=200 * rows + 120,
    )
    return fig


def lens_figure(
    probs: torch.Tensor,
    text: Sequence[Sequence[str]],
    layers: Sequence[str],
    tokens: Sequence[str] | None,
    *,
    title: str = "",
) -> Any:
    """The logit lens: layers × positions, the top token written in each cell, its
    probability as colour."""
    import plotly.graph_objects as go

    p = probs.detach().float().cpu()
    columns = [f"{t}: {tok}" for t, tok in enumerate(tokens or [str(i) for i in range(p.shape[1])])]
    fig = go.Figure(
        go.Heatmap(
            z=p.numpy(),
            x=columns,
            y=list(layers),
            text=[list(r) for r in text],
            texttemplate="%{text}",
            colorscale=colorscale(SEQUENTIAL),
            zmin=0.0,
            zmax=1.0,
            hovertemplate="%{y}<br>%{x}<br>top: %{text} (p %{z:.3f})<extra></extra>",
        )
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(title=title, height=max(300, 40 * len(layers) + 160))
    return fig


def effects_figure(found: Any, names: dict[str, str], *, title: str = "") -> Any:
    """A unit's logit effects: its most promoted and most suppressed tokens, as bars."""
    import plotly.graph_objects as go

    ids = found.promoted.tolist() + found.suppressed.tolist()[::-1]
    values = found.promoted_values.tolist() + found.suppressed_values.tolist()[::-1]
    labels = [names.get(str(i), str(i)) for i in ids]
    colours = ["rgb(215,48,39)" if v >= 0 else "rgb(69,117,180)" for v in values]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=labels,
            orientation="h",
            marker={"color": colours},
            hovertemplate="%{y}: %{x:.4g}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(title=title, xaxis_title="effect on the logit", height=24 * len(ids) + 160)
    return fig


def compare_figure(
    labels: Sequence[str], edited: torch.Tensor, clean: torch.Tensor, *, title: str = ""
) -> Any:
    """Probabilities of the same predictions in two runs: edited bars beside clean ones."""
    import plotly.graph_objects as go

    fig = go.Figure(
        [
            go.Bar(name="clean", x=list(labels), y=clean.float().cpu().numpy(), opacity=0.55),
            go.Bar(name="edited", x=list(labels), y=edited.float().cpu().numpy()),
        ]
    )
    fig.update_layout(title=title, barmode="group", yaxis_title="probability", bargap=0.2)
    return fig


def patching_figure(
    values: torch.Tensor,
    layers: Sequence[str],
    tokens: Sequence[str] | None,
    *,
    baseline: tuple[float, float] | None = None,
    title: str = "",
) -> Any:
    """An activation-patching sweep: layers × positions, the metric of each patched run,
    as the fraction of the clean run's metric it restores (0: the corrupted run's, 1: the
    clean run's) when ``baseline`` = (clean, corrupted) differ."""
    import plotly.graph_objects as go

    v = values.detach().float().cpu()
    label = "metric"
    if baseline is not None and abs(baseline[0] - baseline[1]) > 1e-9:
        v = (v - baseline[1]) / (baseline[0] - baseline[1])
        label = "restored"
    columns = [f"{t}: {tok}" for t, tok in enumerate(tokens or [str(i) for i in range(v.shape[1])])]
    fig = go.Figure(
        go.Heatmap(
            z=v.numpy(),
            x=columns[: v.shape[1]],
            y=list(layers),
            colorscale=colorscale(DIVERGING),
            zmid=0.0,
            colorbar={"title": label},
            hovertemplate=f"%{{y}}<br>%{{x}}<br>{label} %{{z:.4g}}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(title=title, height=max(300, 30 * len(layers) + 160))
    return fig
