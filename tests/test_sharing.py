"""Snapshots, figures and standalone pages (the Python side; the browser side is in
tests/browser/test_export.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import actscope
from actscope.engine.errors import ActscopeError, InputError, LayerNotFoundError
from actscope.widget import figures, sharing, wire

ROOT = Path(__file__).resolve().parents[1]


def test_snapshot_holds_every_layer_and_input_asked_for(explorer, digits):
    model, images, _ = digits
    info = explorer.snapshot(layers=["features.conv2", "classifier.fc2"], inputs=[0, 5, 9])
    assert info.views == 6
    entries = sharing.unpack(explorer.snapshot_data)
    assert set(entries) == {
        f"layer_view|{i}|{layer}"
        for i in (0, 5, 9)
        for layer in ("features.conv2", "classifier.fc2")
    } | {f"outputs|{i}" for i in (0, 5, 9)}  # a classifier: its predictions too
    meta, arrays = wire.decode(entries["layer_view|5|classifier.fc2"])
    assert (meta["layer"], meta["input_index"], meta["key"]) == (
        "classifier.fc2",
        5,
        "5|classifier.fc2",
    )
    expected = model(images[5:6])[0].detach()
    step = float(expected.max() - expected.min()) / wire.U8_LEVELS
    assert torch.allclose(torch.from_numpy(arrays["act"]), expected, atol=step / 2 + 1e-5)
    assert explorer.snapshot_data[:4] == wire.MAGIC_COMPRESSED
    assert info.bytes == len(explorer.snapshot_data)


def test_default_snapshot_is_small_for_the_digits_cnn(explorer):
    info = explorer.snapshot()
    layers = [i for i in explorer.session.layers if i.kind != "none"]
    assert info.views == len(layers) * 16
    assert info.bytes < 2_000_000


def test_a_snapshot_over_the_limit_says_how_big_and_how_to_shrink(explorer):
    with pytest.raises(ActscopeError, match=r"about 0\.\d MB .* fewer layers") as err:
        explorer.snapshot(max_bytes=10_000)
    assert "16 layers × 16 inputs" in str(err.value)
    assert explorer.snapshot_data == b"", "nothing is written when the snapshot is refused"


def test_snapshot_bad_names(explorer):
    with pytest.raises(LayerNotFoundError, match="conv1"):
        explorer.snapshot(layers=["features.conv11"])
    with pytest.raises(InputError, match="out of range"):
        explorer.snapshot(inputs=[99])


def test_standalone_page_carries_the_snapshot(explorer, tmp_path):
    explorer.snapshot(inputs=range(2))
    text = explorer.to_html(tmp_path / "page.html").read_text()
    assert "snapshot_data" in text
    assert len(text.encode()) < 1_000_000


def test_figures_for_each_kind(explorer, minilm, sentences):
    spatial = explorer.figure()
    assert len(spatial.data) == 16
    assert spatial.layout.coloraxis.colorscale[0][1] == "rgb(49,54,149)"  # signed: diverging
    channel = explorer.figure(unit=3)
    assert [t.type for t in channel.data] == ["image", "heatmap"]
    bars = explorer.figure(layer="classifier.fc2")
    assert bars.data[0].type == "bar"
    assert len(bars.data[0].y) == 10
    by_max = explorer.figure(layer="features.conv3", sort="max")
    first = int(by_max.layout.annotations[0].text.split(" · ")[0])
    acts = explorer.session.activation("features.conv3", 0)
    assert first == int(acts.flatten(1).max(1).values.argmax())
    with pytest.raises(InputError, match="out of range"):
        explorer.figure(unit=99)
    model, tokenizer = minilm
    text = actscope.Explorer(model, sentences[:1], tokenizer=tokenizer)
    heat = text.figure(layer="encoder.layer.3.intermediate")
    assert heat.data[0].z.shape == (15, 1536)
    assert heat.data[0].y[1] == "1: the"
    tokens = text.figure(layer="encoder.layer.3.intermediate", unit=7)
    assert list(tokens.data[0].text[0])[:3] == ["[CLS]", "the", "cat"]


def test_figure_colours_match_the_widget():
    source = (ROOT / "js" / "src" / "colormap.ts").read_text()

    def stops(name: str) -> list[tuple[int, ...]]:
        block = re.search(rf"const {name}: RGB\[\] = \[(.*?)\]; // prettier-ignore", source, re.S)
        assert block, name
        return [tuple(map(int, t)) for t in re.findall(r"\[(\d+), (\d+), (\d+)\]", block.group(1))]

    assert stops("DIVERGING_LIGHT") == figures.DIVERGING
    assert stops("SEQUENTIAL_LIGHT") == figures.SEQUENTIAL
    assert figures.color_range(torch.tensor([-0.1, 5.0]))[2] is False
    lo, hi, signed = figures.color_range(torch.tensor([-3.0, 5.0]), clip=False)
    assert (lo, hi, signed) == (-5.0, 5.0, True)


def test_snapshot_saliency_of_a_model_without_a_top_prediction():
    """An output of (N, T, D) has no single top prediction: the snapshot keeps the note a
    live explorer shows for it, and the maps of the units asked for."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    ex = actscope.Explorer(model, torch.randn(2, 3, 4), layer="0")
    ex.snapshot(units=[1], saliency=["gradient"])
    entries = sharing.unpack(ex.snapshot_data)
    top, _ = wire.decode(entries["saliency|1|gradient|top"])
    assert "no single top prediction" in top["error"]
    meta, arrays = wire.decode(entries["saliency|1|gradient|unit:0:1"])
    assert "error" not in meta and arrays["map"].size == 3 * 4  # one score per input value
    with pytest.raises(ActscopeError, match=r"out of range|units"):
        ex.snapshot(units=[99], saliency=["gradient"])  # units asked for must work
    with pytest.raises(ActscopeError, match="gradients"):
        ex.snapshot(saliency=["gradients"])  # a misspelt method is an error, not a note


def test_a_snapshot_runs_one_forward_pass_per_input_not_yet_captured(explorer, digits):
    model, _, _ = digits
    explorer.wait(60)  # the predictions of the first input, computed in the background
    passes = []  # passes started (a pass that stops early never reaches a forward hook)
    handle = model.register_forward_pre_hook(lambda *_: passes.append(1))
    try:
        explorer.snapshot(layers=["features.conv1", "classifier.fc2"], inputs=range(4))
    finally:
        handle.remove()
    assert len(passes) == 3  # inputs 1 to 3: input 0's layers were kept at opening
    passes.clear()
    handle = model.register_forward_pre_hook(lambda *_: passes.append(1))
    try:
        explorer.snapshot(layers=["features.conv1", "classifier.fc2"], inputs=range(4))
    finally:
        handle.remove()
    assert passes == []  # every layer of the four inputs is now in hand
