"""Sequence views too large for one message: overview tiles and windows of exact positions."""

from __future__ import annotations

import math

import pytest
import torch

import actscope
from actscope.widget import wire
from tests import front_end

LAYER = "encoder.layer.0.intermediate"  # (T, 1536)


def brute_overview(x: torch.Tensor, ty: int, tx: int) -> torch.Tensor:
    """Per tile, the value of largest |value| with its sign (NaN wins; on a tie of signs, the
    positive), one tile at a time."""
    rows, cols = math.ceil(x.shape[0] / ty), math.ceil(x.shape[1] / tx)
    out = torch.empty(rows, cols)
    for i in range(rows):
        for j in range(cols):
            tile = x[i * ty : (i + 1) * ty, j * tx : (j + 1) * tx].flatten()
            if tile.isnan().any():
                out[i, j] = float("nan")
                continue
            peak = tile.abs().max()
            out[i, j] = peak if bool((tile == peak).any()) else -peak
    return out


@pytest.mark.parametrize("shape", [(1024, 3072), (37, 11), (5, 700), (513, 1)])
def test_overview_tiles_equal_a_brute_force_max_abs_pooling(shape):
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=g)
    x[-1, -1] = -40.0  # one strong negative value at the very end: never averaged away
    x[0, 0] = float("nan")
    if shape[0] > 3:
        x[3, 0] = float("inf")
    ov = actscope.overview(x, rows=64, cols=64)
    assert ov.values.shape[0] <= 64 and ov.values.shape[1] <= 64
    assert ov.shape == shape
    expected = brute_overview(x, ov.tile_rows, ov.tile_cols)
    assert torch.equal(ov.values.isnan(), expected.isnan())
    keep = ~expected.isnan()
    assert torch.equal(ov.values[keep], expected[keep])
    assert ov.values[ov.tile_of(shape[0] - 1, shape[1] - 1)] == -40.0


def test_overview_each_pools_every_head_or_channel_as_its_own_overview():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 37, 130, generator=g)  # heads (or channels) × queries × keys
    x[4, 36, 129] = 50.0  # the last head's last value: in its own tile, not a neighbour's
    x[2, 0, 0] = float("nan")
    ov = actscope.overview_each(x, rows=8, cols=16)
    assert ov.values.shape == (5, 8, 15) and ov.shape == (37, 130)  # tiles of 5 × 9
    for head in range(5):
        expected = brute_overview(x[head], ov.tile_rows, ov.tile_cols)
        got = ov.values[head]
        assert torch.equal(got.isnan(), expected.isnan())
        assert torch.equal(got[~expected.isnan()], expected[~expected.isnan()])
    assert ov.values[4, -1, -1] == 50.0 and ov.values[3, -1, -1] != 50.0
    with pytest.raises(actscope.InputError, match="expected 2 or more, got shape"):
        actscope.overview_each(torch.zeros(7))


def test_overview_of_a_half_precision_layer_and_bad_input():
    x = torch.randn(100, 40).to(torch.bfloat16)
    ov = actscope.overview(x, rows=10, cols=10)
    assert ov.values.dtype == torch.float32
    assert torch.equal(ov.values, brute_overview(x.float(), ov.tile_rows, ov.tile_cols))
    with pytest.raises(actscope.InputError, match="expected 2 dimensions, got shape"):
        actscope.overview(torch.zeros(2, 3, 4))
    with pytest.raises(actscope.InputError, match="at least one tile"):
        actscope.overview(torch.zeros(2, 3), rows=0)


@pytest.fixture
def windowed(minilm, sentences):
    model, tokenizer = minilm
    long_text = " ".join(sentences)  # one long input, many positions
    return actscope.Explorer(
        model, [long_text, sentences[0]], tokenizer=tokenizer, layer=LAYER,
        max_view_values=7 * 1536,
    )  # fmt: skip


def test_a_view_over_the_limit_holds_a_window_the_overview_and_its_rankings(windowed):
    ex = windowed
    meta, arrays = wire.decode(ex.layer_view)
    full = ex.session.activation(LAYER, 0).float()
    n = full.shape[0]
    assert n > 7
    clip = meta["window"].pop("clip")  # the colour clip, of the whole layer
    assert meta["window"] == {"start": 0, "stop": 7, "positions": n}
    magnitudes = full.abs().flatten()
    assert (magnitudes <= clip).float().mean() == pytest.approx(0.999, abs=2e-3)
    assert arrays["act"].shape == (7, 1536)
    assert torch.allclose(torch.from_numpy(arrays["act"]).float(), full[:7], atol=2e-2, rtol=1e-3)
    assert "positions 0–6 are exact here" in meta["trimmed"]["note"]
    ov = actscope.overview(full, 512, 512)
    o = meta["overview"]
    assert (o["rows"], o["cols"], o["tile_rows"], o["tile_cols"]) == (
        *ov.values.shape, ov.tile_rows, ov.tile_cols,
    )  # fmt: skip
    assert torch.allclose(torch.from_numpy(arrays["overview"]).float(), ov.values, rtol=1e-3)
    expected = actscope.rank_units(full, unit_axis=1, k=50)
    assert arrays["rank_max_units"].tolist() == expected.units.tolist()
    assert "column" not in arrays  # no unit selected
    stats = actscope.unit_stats(full, 1)  # the whole layer's, for sorting units
    assert torch.equal(torch.from_numpy(arrays["unit_max"]), stats.max)
    assert torch.equal(torch.from_numpy(arrays["unit_mean"]), stats.mean)
    assert arrays["unit_argmax"].tolist() == stats.argmax.tolist()
    assert arrays["unit_count"].tolist() == stats.count.tolist()
    assert int(arrays["unit_argmax"].max()) >= 7, "a peak past the window is where it is"


def test_fetching_the_last_window_makes_the_last_position_exact(windowed):
    ex = windowed
    full = ex.session.activation(LAYER, 0).float()
    n = full.shape[0]
    comm = front_end.connect(ex)
    request = {"type": "fetch", "id": -1, "layer": LAYER, "input_index": 0}
    front_end.send(ex, {**request, "start": n, "unit": 5})  # past the end: clamped
    front_end.send(ex, {**request, "id": -2, "start": 3, "unit": 99_999})  # a unit out of range
    (first, (blob,)), (_, (blob2,)) = comm.custom()
    assert first == {"type": "layer_view", "id": -1, "key": f"0|{LAYER}"}
    meta, arrays = wire.decode(bytes(blob))
    clip = meta["window"].pop("clip")
    assert clip > 0
    assert meta["window"] == {"start": n - 7, "stop": n, "positions": n, "unit": 5}
    assert torch.allclose(
        torch.from_numpy(arrays["act"][-1]).float(), full[-1], atol=2e-2, rtol=1e-3
    )
    assert torch.equal(torch.from_numpy(arrays["column"]), full[:, 5])  # exact, every position
    meta2, arrays2 = wire.decode(bytes(blob2))
    assert meta2["window"].pop("clip") == clip  # the same colour clip for every window
    assert meta2["window"] == {"start": 3, "stop": 10, "positions": n}
    assert "column" not in arrays2


def test_the_selected_unit_travels_whole_and_small_views_are_not_windowed(windowed, minilm):
    ex = windowed
    ex.unit = 11
    ex.input_index = 1
    ex.input_index = 0  # the trait's view is made with the selected unit
    meta, arrays = wire.decode(ex.layer_view)
    full = ex.session.activation(LAYER, 0).float()
    assert meta["window"]["unit"] == 11
    assert torch.equal(torch.from_numpy(arrays["column"]), full[:, 11])
    model, tokenizer = minilm
    small = actscope.Explorer(model, ["a short one"], tokenizer=tokenizer, layer=LAYER)
    meta, arrays = wire.decode(small.layer_view)
    assert "window" not in meta and "overview" not in arrays and meta["trimmed"] is None


def test_the_overview_figure(windowed):
    fig = windowed.figure(view="overview")
    full = windowed.session.activation(LAYER, 0).float()
    z = torch.tensor(fig.data[0].z)
    assert torch.allclose(z, actscope.overview(full).values)
    assert fig.data[0].y[0].startswith("0–")
    mlp = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU())
    with pytest.raises(actscope.InputError, match="sequence layer"):
        actscope.Explorer(mlp, torch.randn(2, 3)).figure(view="overview")


def test_a_snapshot_of_a_long_view_is_sized_by_what_it_holds(windowed):
    from actscope.widget.sharing import estimate_bytes

    ex = windowed
    whole = estimate_bytes(ex.session, [LAYER], [0])
    held = estimate_bytes(ex.session, [LAYER], [0], ex._max_values)
    blob = ex._layer_view_blob(LAYER, 0, precision="u8")
    limit = int(1.3 * held)
    assert limit < whole
    assert abs(held - len(blob)) < 0.25 * len(blob)  # near what the blob is
    # fits a limit that counting the whole layer went over (the snapshot raised before)
    assert ex.snapshot(layers=[LAYER], inputs=[0], max_bytes=limit)


def test_a_snapshot_saves_further_windows_while_they_fit(windowed):
    from actscope.widget.sharing import estimate_bytes, unpack

    ex = windowed
    full = ex.session.activation(LAYER, 0).float()
    n = full.shape[0]
    ex.snapshot(layers=[LAYER], inputs=[0])  # the default limit leaves room for every window
    views = {k: v for k, v in unpack(ex.snapshot_data).items() if k.startswith("layer_view|")}
    covered = torch.zeros(n, dtype=torch.bool)
    for blob in views.values():
        meta, arrays = wire.decode(blob)
        start, stop = meta["window"]["start"], meta["window"]["stop"]
        assert stop - start == 7
        assert torch.allclose(torch.from_numpy(arrays["act"]).float(), full[start:stop], atol=0.2)
        covered[start:stop] = True
    assert covered.all(), "every position of the long view is in the page"
    starts = sorted(wire.read_meta(b)["window"]["start"] for b in views.values())
    assert starts == sorted({*range(0, n - 7, 7), n - 7})  # multiples of the size, then the end
    # with no room left beyond the estimate, only the first window
    ex.snapshot(
        layers=[LAYER], inputs=[0], max_bytes=estimate_bytes(ex.session, [LAYER], [0], 7 * 1536)
    )
    keys = [k for k in unpack(ex.snapshot_data) if k.startswith("layer_view|")]
    assert keys == [f"layer_view|0|{LAYER}"]


def test_a_long_patterns_figure_draws_each_head_as_tiles_at_their_positions():
    from actscope.widget import figures

    g = torch.Generator().manual_seed(5)
    pattern = torch.rand(3, 300, 300, generator=g)
    pattern[1, 299, 0] = 2.0  # the last query of head 1: its tile, at its own position
    fig = figures.attention_figure(pattern, None, title="long")
    assert len(fig.data) == 3 and "tiles of 3 queries × 3 keys" in fig.layout.title.text
    for head, trace in enumerate(fig.data):
        assert torch.equal(torch.tensor(trace.z), brute_overview(pattern[head], 3, 3))
    assert list(fig.data[1].y[-2:]) == [294, 297] and fig.data[1].z[-1][0] == 2.0
    short = figures.attention_figure(pattern[:, :200, :200], None)  # every probability
    assert torch.equal(torch.tensor(short.data[0].z), pattern[0, :200, :200])
