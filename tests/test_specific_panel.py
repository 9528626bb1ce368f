"""The units most specific to a group of inputs, in the explorer: against a brute-force
contrast of the encoded activations, the engine's ``specific_units`` on the same inputs,
the figure, edits, snapshots, and clear errors for a bad or impossible group."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import traitlets

import actscope
from actscope.widget import wire
from actscope.widget.contract import specific_key

from . import tiny_lms
from .test_lenses import FEATURES, TinySAE, block_output

one_thread = tiny_lms.one_thread
gpt2 = tiny_lms.gpt2


def texts(n=6, t=9):
    return tiny_lms.random_texts(n, t, seed=5)


@pytest.fixture
def ex(gpt2):
    explorer = actscope.Explorer(gpt2, texts(), lenses=[TinySAE()])
    explorer.layer = FEATURES
    explorer.wait(60)
    return explorer


def brute_force(model, inputs, group):
    """Per feature: the mean over the group of each input's max, minus the others'."""
    sae = TinySAE()  # the same seed: the explorer's weights
    maxima = torch.stack(
        [sae.encode(block_output(model, x["input_ids"][None]))[0].amax(0) for x in inputs]
    ).detach()
    inside = torch.tensor([i in group for i in range(len(inputs))])
    return maxima[inside].mean(0) - maxima[~inside].mean(0)


def test_the_group_s_features_are_those_a_brute_force_contrast_finds(ex, gpt2):
    ex.contrast_group = [4, 1, 4]
    ex.wait(60)
    assert ex.contrast_group == [1, 4]
    meta, arrays = wire.decode(ex.specific_view)
    assert meta["key"] == specific_key(FEATURES, [1, 4])
    assert (meta["group"], meta["others"]) == ([1, 4], 4)
    diff = brute_force(gpt2, texts(), {1, 4})
    expected = torch.sort(-diff, stable=True).indices[: len(arrays["units"])]
    assert arrays["units"].tolist() == expected.tolist()
    np.testing.assert_allclose(arrays["difference"], diff[expected].numpy(), atol=2e-3)
    np.testing.assert_allclose(
        arrays["group_mean"] - arrays["others_mean"], arrays["difference"], atol=4e-3
    )
    # the engine's own function, which runs the model on the two groups itself
    found = actscope.specific_units(
        gpt2, [texts()[i] for i in (1, 4)], [texts()[i] for i in (0, 2, 3, 5)], FEATURES
    )
    assert arrays["units"].tolist() == found.units.tolist()


def test_the_figure_shows_the_same_features_and_follows_a_layer_move(ex, gpt2):
    ex.contrast_group = [2]
    ex.wait(60)
    _, arrays = wire.decode(ex.specific_view)
    fig = ex.figure(view="specific")
    assert list(fig.data[0].y) == [f"feature {int(u)}" for u in arrays["units"]]
    assert "against the other 5 inputs" in fig.layout.title.text
    ex.layer = "transformer.h.0.mlp"
    ex.wait(60)
    meta, _ = wire.decode(ex.specific_view)
    assert meta["key"] == specific_key("transformer.h.0.mlp", [2])


def test_an_edit_changes_the_contrast_and_tags_it(ex):
    ex.contrast_group = [0]
    ex.wait(60)
    _, clean = wire.decode(ex.specific_view)
    top = int(clean["units"][0])
    ex.edits = [{"layer": FEATURES, "units": [top], "op": "scale", "amount": 0}]
    ex.wait(60)
    meta, edited = wire.decode(ex.specific_view)
    assert meta.get("edits")
    assert top not in edited["units"][:1].tolist()


def test_a_bad_group_names_the_range_and_an_impossible_one_says_why(ex, gpt2):
    with pytest.raises(traitlets.TraitError, match=r"input 9 is out of range.*0 to 5"):
        ex.contrast_group = [9]
    assert ex.contrast_group == []
    assert ex.status["state"] == "error"
    ex.contrast_group = list(range(6))  # nobody left to contrast with
    ex.wait(60)
    meta, _ = wire.decode(ex.specific_view)
    assert "inputs in the group and outside it" in meta["unavailable"]
    one = actscope.Explorer(gpt2, texts(1), lenses=[TinySAE()])
    one.contrast_group = [0]
    one.wait(60)
    assert "add_input" in wire.decode(one.specific_view)[0]["unavailable"]


def test_adding_an_input_contrasts_against_it_too(ex):
    ex.contrast_group = [0]
    ex.wait(60)
    assert wire.decode(ex.specific_view)[0]["others"] == 5
    ex.add_input({"input_ids": torch.arange(1, 10)}, select=False)
    ex.wait(60)
    assert wire.decode(ex.specific_view)[0]["others"] == 6


def test_a_snapshot_holds_each_saved_input_against_the_others(ex):
    ex.snapshot(layers=[FEATURES], inputs=[0, 3])
    container, _ = wire.decode(ex.snapshot_data)
    keys = set(container["keys"])
    assert {f"specific|{specific_key(FEATURES, [i])}" for i in (0, 3)} <= keys
    assert f"specific|{specific_key(FEATURES, [1])}" not in keys
    # a plain layer's contrast is computed live only (it needs a pass of every input)
    ex.snapshot(layers=["transformer.h.0.mlp"], inputs=[0])
    container, _ = wire.decode(ex.snapshot_data)
    assert not [k for k in container["keys"] if k.startswith("specific|")]
