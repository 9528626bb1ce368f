"""A spatial layer over one message's limit: a window of channels exact, every channel's
map as overview tiles, and the selected channel's whole map exact."""

from __future__ import annotations

import pytest
import torch

import actscope
from actscope.widget import wire
from tests import front_end
from tests.test_overview import brute_overview

C, SIZE = 16, 12  # 16 channels of 12 × 12; the limit leaves room for 6 whole maps


@pytest.fixture
def ex():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, C, 3, padding=1)).eval()
    images = torch.randn(2, 1, SIZE, SIZE)
    images[0, 0, 11, 11] = 40.0  # a peak in the corner: channel maps peak there, far off
    return actscope.Explorer(model, images, layer="0", max_view_values=6 * SIZE * SIZE)


def test_a_wide_feature_map_holds_a_window_of_channels_and_every_channels_tiles(ex):
    meta, arrays = wire.decode(ex.layer_view)
    full = ex.session.activation("0", 0).float()  # (16, 12, 12)
    assert meta["window"].pop("clip") > 0
    assert meta["window"] == {"start": 0, "stop": 6, "positions": C}
    assert "channels 0–5 are exact here" in meta["trimmed"]["note"]
    assert arrays["act"].shape == (6, SIZE, SIZE)
    assert torch.allclose(torch.from_numpy(arrays["act"]).float(), full[:6], atol=2e-2, rtol=1e-3)
    o = meta["overview"]  # every channel's map as tiles, a quarter of the limit at most
    tiles = torch.from_numpy(arrays["overview"]).float()
    assert tiles.shape == (C, o["rows"], o["cols"]) and tiles.numel() <= 6 * SIZE * SIZE / 4
    assert o["tile_rows"] > 1
    for c in range(C):
        expected = brute_overview(full[c], o["tile_rows"], o["tile_cols"])
        assert torch.allclose(tiles[c], expected, rtol=1e-3, atol=1e-3)
    stats = actscope.unit_stats(full, 0)  # the whole layer's, for the grid's sort
    assert torch.equal(torch.from_numpy(arrays["unit_max"]), stats.max)
    expected = actscope.rank_units(full, unit_axis=0, k=C)
    assert (
        arrays["rank_max_units"].tolist()
        == expected.units.tolist()[: len(arrays["rank_max_units"])]
    )


def test_a_selected_channel_outside_the_window_comes_whole_and_exact(ex):
    full = ex.session.activation("0", 0).float()
    comm = front_end.connect(ex)
    front_end.send(
        ex, {"type": "fetch", "id": -1, "layer": "0", "input_index": 0, "start": 0, "unit": 13}
    )
    ((reply, (blob,)),) = comm.custom()
    assert reply == {"type": "layer_view", "id": -1, "key": "0|0"}
    meta, arrays = wire.decode(bytes(blob))
    assert meta["window"]["unit"] == 13 and meta["window"]["stop"] == 6
    assert torch.equal(torch.from_numpy(arrays["column"]), full[13].reshape(-1))  # exact
    held = {"type": "fetch", "id": -2, "layer": "0", "input_index": 0, "start": 0, "unit": 2}
    front_end.send(ex, held)  # a channel the window holds: no second copy of its map
    meta, arrays = wire.decode(bytes(comm.custom()[-1][1][0]))
    assert meta["window"]["unit"] == 2 and "column" not in arrays


def test_a_snapshot_of_a_wide_map_saves_its_first_window_and_tiles_only(ex):
    ex.snapshot(layers=["0"], inputs=[0])
    meta, _ = wire.decode(ex.snapshot_data)
    views = [k for k in meta["keys"] if k.startswith("layer_view|")]
    assert views == ["layer_view|0|0"]  # no further channel windows: the page shows tiles
    fig = ex.figure(view="layer")
    assert fig.data
