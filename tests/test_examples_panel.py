"""The explorer's examples panel: mining from the widget, top examples in context,
quantile bands, opening an example as an input, and snapshots of it all."""

from __future__ import annotations

import pytest
import torch

import actscope
from actscope.engine.errors import InputError
from actscope.widget import sharing, wire

from . import front_end


@pytest.fixture(scope="module")
def data(digits):
    from actscope.demo.digits import digits_data

    images, _ = digits_data()
    return list(images[:300])


@pytest.fixture
def explorer(digits, data):
    model, images, labels = digits
    return actscope.Explorer(
        model, images[:4], labels=labels[:4], dataset=data, layer="features.conv2"
    )


def test_a_unit_without_an_index_offers_mining(explorer):
    explorer.unit = 3
    meta, _ = wire.decode(explorer.examples_view)
    assert meta["missing"] is True
    assert meta["can_mine"] is True
    assert meta["mined"] == []
    assert explorer.mining == {"has_dataset": True, "layers": []}


def test_mining_from_the_widget_fills_the_panel(explorer, digits, data):
    model, _, _ = digits
    explorer.unit = 3
    explorer.mine(background=False)
    assert explorer.mining["layers"] == ["features.conv2"]
    assert explorer.job["state"] == "done"
    meta, arrays = wire.decode(explorer.examples_view)
    assert meta["key"] == "features.conv2|3|-1"
    # The top example is the one whose channel 3 peaks highest over the whole dataset.
    with torch.no_grad():
        acts = model.features.conv2(torch.relu(model.features.conv1(torch.stack(data))))
    best = acts[:, 3].flatten(1).max(1)
    assert meta["top"][0]["id"] == int(best.values.argmax())
    assert meta["top"][0]["value"] == pytest.approx(float(best.values.max()), rel=1e-5)
    assert meta["top"][0]["context"] == "image"
    assert arrays["top0"].shape == (8, 8, 3)
    assert len(meta["bands"]) == 10
    assert arrays["hist_counts"].sum() == pytest.approx(300, rel=1e-3)  # float16 on the wire
    assert meta["summary"]["n_examples"] == 300


def test_a_band_shows_its_samples(explorer, digits, data):
    model, _, _ = digits
    explorer.mine(background=False)
    explorer.unit = 5
    explorer.examples_band = 2
    meta, _ = wire.decode(explorer.examples_view)
    assert meta["key"] == "features.conv2|5|2"
    assert len(meta["band_rows"]) == 5
    # Samples of the 20–30% band rank near there among all examples' maxima (the sample
    # is a random 100 of 300, so allow some slack).
    with torch.no_grad():
        acts = model.features.conv2(torch.relu(model.features.conv1(torch.stack(data))))
    maxima = acts[:, 5].flatten(1).max(1).values.sort().values
    for row in meta["band_rows"]:
        rank = float(torch.searchsorted(maxima, torch.tensor(row["value"]), right=True)) / len(
            maxima
        )
        assert 0.1 <= rank <= 0.4, (row, rank)
    explorer.unit = 6
    assert explorer.examples_band == -1, "a new unit starts with no band open"


def test_opening_an_example_makes_it_an_input(explorer, data):
    explorer.mine(background=False)
    explorer.unit = 3
    top_id = wire.decode(explorer.examples_view)[0]["top"][0]["id"]
    front_end.send(explorer, {"type": "open_example", "id": top_id})
    assert explorer.input_index == 4
    assert explorer.inputs_info[-1]["label"] == f"example {top_id}"
    assert torch.equal(explorer.session.inputs.example(4)[0], data[top_id])
    front_end.send(explorer, {"type": "open_example", "id": top_id})
    assert len(explorer.inputs_info) == 5, "opening it again selects the same input"


def test_text_examples_come_as_token_windows(minilm):
    from actscope.demo.text import SENTENCES, corpus

    model, tokenizer = minilm
    texts = corpus(40, max_chars=200)
    index = actscope.mine(
        model, texts, ["encoder.layer.2.intermediate"], k=5, tokenizer=tokenizer, progress=False
    )
    ex = actscope.Explorer(
        model,
        SENTENCES[:2],
        tokenizer=tokenizer,
        dataset=texts,
        index=index,
        layer="encoder.layer.2.intermediate",
    )
    ex.unit = 7
    meta, arrays = wire.decode(ex.examples_view)
    row = meta["top"][0]
    assert row["context"] == "text"
    assert len(arrays["top0"]) == len(row["tokens"])
    assert row["tokens"][row["peak"]] in tokenizer.convert_ids_to_tokens(
        tokenizer(texts[row["id"]])["input_ids"]
    )


def test_an_index_without_a_dataset_still_lists_examples(digits, data):
    model, images, _ = digits
    index = actscope.mine(model, data, ["features.conv1"], k=5, progress=False)
    ex = actscope.Explorer(model, images[:2], index=index, layer="features.conv1")
    ex.unit = 0
    meta, arrays = wire.decode(ex.examples_view)
    assert meta["has_context"] is False
    assert len(meta["top"]) == 5
    assert "top0" not in arrays
    with pytest.raises(InputError, match="no dataset to mine"):
        ex.mine()


def test_snapshots_carry_examples_with_every_band(explorer):
    explorer.mine(background=False)
    explorer.snapshot(layers=["features.conv2"], inputs=[0], units=[3])
    keys = set(sharing.unpack(explorer.snapshot_data))
    assert "examples|features.conv2|3|-1" in keys
    assert "examples|features.conv2|3|9" in keys
