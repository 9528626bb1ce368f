"""The patching panel: ``ex.patch(clean, corrupted)`` against activation patching by hand on
a small GPT-2; its errors; the message the Run button sends; its figure and page."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import actscope
from actscope.widget import wire

from .model_state import assert_unchanged, record
from .tiny_lms import word_gpt2, word_tokenizer

CLEAN = "the cat sat on the mat"
CORRUPT = "the dog sat on the mat"
BLOCKS = ["transformer.h.0", "transformer.h.1"]


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer()


@pytest.fixture(scope="module")
def gpt2():
    return word_gpt2(1)


@pytest.fixture
def ex(gpt2, tokenizer):
    return actscope.Explorer(gpt2, [CLEAN, CORRUPT, "a dog ran"], tokenizer=tokenizer)


def ids(tokenizer, text):
    return tokenizer(text, return_tensors="pt")["input_ids"]


def patched_by_hand(model, clean_ids, corrupt_ids, block, position):
    """log p(clean top next token) on the corrupted run with ``block``'s input at
    ``position`` taken from the clean run."""
    module = dict(model.named_modules())[block]
    seen = {}
    grab = module.register_forward_pre_hook(lambda _m, args: seen.setdefault("x", args[0].clone()))
    with torch.no_grad():
        clean_logits = model(clean_ids).logits
    grab.remove()
    top = int(clean_logits[0, -1].argmax())

    def put(_m, args):
        x = args[0].clone()
        x[:, position] = seen["x"][:, position]
        return (x, *args[1:])

    handle = module.register_forward_pre_hook(put)
    try:
        with torch.no_grad():
            logits = model(corrupt_ids).logits
    finally:
        handle.remove()
    return float(logits[0, -1].log_softmax(-1)[top]), clean_logits, top


def test_a_sweep_matches_patching_by_hand_and_leaves_the_model_as_found(ex, gpt2, tokenizer):
    state = record(gpt2)
    ex.patch(0, 1)
    ex.wait(60)
    meta, arrays = wire.decode(ex.patching_view)
    assert meta["layers"] == BLOCKS and meta["site"] == "input"
    assert meta["tokens"] == CLEAN.replace("cat", "dog").split()
    values = arrays["values"]
    assert values.shape == (2, 6)
    clean_ids, corrupt_ids = ids(tokenizer, CLEAN), ids(tokenizer, CORRUPT)
    for layer, block in enumerate(BLOCKS):
        for position in (0, 1, 5):
            want, clean_logits, top = patched_by_hand(gpt2, clean_ids, corrupt_ids, block, position)
            assert values[layer, position] == pytest.approx(want, abs=2e-2)
    clean_value = float(clean_logits[0, -1].log_softmax(-1)[top])
    assert meta["clean_value"] == pytest.approx(clean_value, abs=1e-4)
    # Patching the one differing token at the first block's input restores the clean run.
    assert values[0, 1] == pytest.approx(clean_value, abs=2e-2)
    assert_unchanged(gpt2, state)


def test_the_run_button_message_starts_a_sweep(ex):
    ex._on_msg(ex, {"type": "patch", "clean": 1, "corrupted": 0}, [])
    ex.wait(60)
    meta, _ = wire.decode(ex.patching_view)
    assert (meta["clean"], meta["corrupted"]) == (1, 0)


def test_the_logit_difference_metric_is_the_clean_top_minus_the_corrupted_top(gpt2, tokenizer):
    other = "the cat sat on the dog"  # the last token differs, and so does the top prediction
    ex = actscope.Explorer(gpt2, [CLEAN, other], tokenizer=tokenizer)
    ex._on_msg(ex, {"type": "patch", "clean": 0, "corrupted": 1, "metric": "logit_diff"}, [])
    ex.wait(60)
    meta, arrays = wire.decode(ex.patching_view)
    assert meta["metric"].startswith("logit diff")
    with torch.no_grad():
        clean = gpt2(ids(tokenizer, CLEAN)).logits[0, -1]
        corrupt = gpt2(ids(tokenizer, other)).logits[0, -1]
    right, wrong = int(clean.argmax()), int(corrupt.argmax())
    assert right != wrong
    assert meta["clean_value"] == pytest.approx(float(clean[right] - clean[wrong]), abs=1e-4)
    assert meta["corrupted_value"] == pytest.approx(
        float(corrupt[right] - corrupt[wrong]), abs=1e-4
    )
    # Patching the last token at the first block's input gives the clean difference.
    assert arrays["values"][0, 5] == pytest.approx(meta["clean_value"], abs=2e-2)


def test_a_logit_difference_of_inputs_with_the_same_answer_is_refused(ex):
    with pytest.raises(actscope.InputError, match="top prediction"):
        ex.patch(0, 1, metric="logit_diff")
    with pytest.raises(actscope.InputError, match="top_logprob"):
        ex.patch(0, 1, metric="accuracy")


def test_the_figure_shows_the_share_restored(ex):
    ex.patch(0, 1)
    ex.wait(60)
    meta, arrays = wire.decode(ex.patching_view)
    fig = ex.figure(view="patching")
    lo, hi = meta["corrupted_value"], meta["clean_value"]
    np.testing.assert_allclose(fig.data[0].z, (arrays["values"] - lo) / (hi - lo), rtol=1e-5)
    assert list(fig.data[0].y) == BLOCKS


@pytest.mark.parametrize(
    ("args", "error", "says"),
    [
        ((0, 0), actscope.InputError, "two different inputs"),
        ((0, 2), actscope.InputError, "differ in shape"),
        ((0, 9), actscope.InputError, "out of range"),
        ((0, 1, ["transformer.h.7"]), actscope.LayerNotFoundError, "transformer.h"),
    ],
)
def test_bad_sweeps_say_what_to_fix(ex, args, error, says):
    with pytest.raises(error, match=says):
        ex.patch(*args)
    assert ex.patching_view == b""


def test_a_model_with_no_blocks_is_asked_for_layers(explorer):
    with pytest.raises(actscope.InputError, match="pass layers="):
        explorer.patch(0, 1)
    explorer.patch(0, 1, ["features.conv2"], background=False)
    meta, arrays = wire.decode(explorer.patching_view)
    assert meta["site"] == "output" and arrays["values"].shape == (1, 64)


def test_an_exported_page_carries_the_sweep(ex, tmp_path):
    ex.patch(0, 1)
    ex.wait(60)
    page = ex.to_html(tmp_path / "patching.html").read_text()
    assert "patching_view" in page
