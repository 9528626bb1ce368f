"""The explorer's language-model panels against the model's own computations: what it
predicts, its attention, the logit lens and a unit's logit effects, each as the blob the
front end draws, in a snapshot, and as a plotly figure; and the model left as found."""

from __future__ import annotations

import pytest
import torch

import actscope
from actscope.engine.attention import head_scores
from actscope.widget import wire
from actscope.widget.panels.attention import attention_layer_for

from .model_state import assert_unchanged, record
from .tiny_lms import WORDS, word_gpt2, word_tokenizer

TEXTS = ["the cat sat on the mat", "a dog ran and the cat sat on a dog"]


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer()


@pytest.fixture(scope="module")
def gpt2():
    return word_gpt2(0)


@pytest.fixture
def ex(gpt2, tokenizer):
    explorer = actscope.Explorer(gpt2, TEXTS, tokenizer=tokenizer)
    explorer.wait(60)
    return explorer


def ids_of(tokenizer, text):
    return tokenizer(text, return_tensors="pt")["input_ids"]


def test_outputs_view_holds_the_next_token_predictions_and_losses(ex, gpt2, tokenizer):
    meta, arrays = wire.decode(ex.outputs_view)
    ids = ids_of(tokenizer, TEXTS[0])
    with torch.no_grad():
        probs = gpt2(ids).logits[0].softmax(-1)
    top = probs.topk(arrays["ids"].shape[1], dim=-1)
    assert meta["task"] == "next_tokens" and meta["key"] == "0"
    assert meta["tokens"] == TEXTS[0].split()
    assert (arrays["ids"] == top.indices.numpy()).all()
    following = probs[:-1].gather(-1, ids[0, 1:, None])[:, 0]
    assert arrays["loss"][:-1] == pytest.approx((-following.log()).numpy(), rel=1e-3)  # f16
    assert torch.isnan(torch.tensor(arrays["loss"][-1]))
    assert {meta["names"][str(i)] for i in arrays["ids"][0]} <= set(WORDS)

    ex.input_index = 1
    ex.wait(60)
    meta, arrays = wire.decode(ex.outputs_view)
    assert meta["key"] == "1" and len(meta["tokens"]) == len(TEXTS[1].split())


def test_a_classifier_outputs_its_classes_by_name(digits):
    model, images, _labels = digits
    names = [f"digit {d}" for d in range(10)]
    ex = actscope.Explorer(model, images[:3], classes=names)
    ex.wait(60)
    meta, arrays = wire.decode(ex.outputs_view)
    with torch.no_grad():
        probs = model(images[:1]).softmax(-1)[0]
    assert meta["task"] == "classes"
    assert int(arrays["ids"][0]) == int(probs.argmax())
    assert meta["names"][str(int(arrays["ids"][0]))] == names[int(probs.argmax())]
    assert arrays["probs"][0] == pytest.approx(float(probs.max()), abs=2e-3)


class Encoder(torch.nn.Module):
    """Token ids → hidden states (N, T, 8): no classes and no next tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 16)
        self.proj = torch.nn.Linear(16, 8)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.embed(ids))


def test_a_model_with_nothing_to_predict_says_so():
    ex = actscope.Explorer(Encoder().eval(), [torch.randint(0, 50, (6,))])
    ex.wait(60)
    meta, _ = wire.decode(ex.outputs_view)
    assert "hidden states" in meta["unavailable"], meta
    meta, _ = wire.decode(ex.lens_view)
    assert "causal language model" in meta["unavailable"]
    assert ex.attention_layers == {}


def test_each_layer_shows_the_attention_of_its_own_block():
    layers = [
        ("transformer.wte", "Embedding"),
        ("transformer.h.0", "GPT2Block"),
        ("transformer.h.0.attn", "GPT2Attention"),
        ("transformer.h.0.attn.c_attn", "Conv1D"),
        ("transformer.h.0.mlp", "GPT2MLP"),
        ("transformer.h.1.attn", "GPT2Attention"),
        ("transformer.h.1.mlp.c_fc", "Conv1D"),
    ]
    assert attention_layer_for("transformer.h.0.mlp", layers) == "transformer.h.0.attn"
    assert attention_layer_for("transformer.h.1.mlp.c_fc", layers) == "transformer.h.1.attn"
    assert attention_layer_for("transformer.h.1.attn", layers) == "transformer.h.1.attn"
    assert attention_layer_for("transformer.wte", layers) == "transformer.h.0.attn"
    # c_attn is the projection inside attention, not a module that outputs a pattern
    assert attention_layer_for("transformer.h.0.attn.c_attn", layers) == "transformer.h.0.attn"
    assert attention_layer_for("x", [("x", "Linear")]) is None


def test_attention_view_holds_the_models_own_pattern_and_scores(ex, gpt2, tokenizer):
    before = gpt2.config._attn_implementation
    gpt2.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            expected = gpt2(ids_of(tokenizer, TEXTS[0]), output_attentions=True).attentions[1][0]
    finally:
        gpt2.set_attn_implementation(before)
    state = record(gpt2)  # after our own eager pass (transformers may add capture hooks)
    ex.layer = "transformer.h.1.mlp"
    ex.wait(60)
    meta, arrays = wire.decode(ex.attention_view)
    assert meta["layer"] == "transformer.h.1.attn"
    assert meta["key"] == "0|transformer.h.1.attn"
    assert arrays["pattern"].shape == tuple(expected.shape)
    assert arrays["pattern"] == pytest.approx(expected.numpy(), abs=1 / 250)  # one byte each
    scores = head_scores(expected, ids_of(tokenizer, TEXTS[0])[0])
    for name, values in scores.items():
        assert meta["scores"][name] == pytest.approx(values.tolist(), abs=1e-5)
    assert gpt2.config._attn_implementation == before
    assert_unchanged(gpt2, state)


def test_a_long_pattern_travels_as_a_window_of_queries_that_moves(ex, gpt2, tokenizer, monkeypatch):
    from actscope.widget.panels import attention as panel

    ids = ids_of(tokenizer, TEXTS[0])
    before = gpt2.config._attn_implementation
    gpt2.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            expected = gpt2(ids, output_attentions=True).attentions[1][0]
    finally:
        gpt2.set_attn_implementation(before)
    heads, n, _ = expected.shape
    monkeypatch.setattr(panel, "MAX_PATTERN_VALUES", 2 * heads * n)  # two queries a view
    ex.layer = "transformer.h.1.mlp"
    ex.wait(60)
    meta, arrays = wire.decode(ex.attention_view)
    assert meta["window"] == {"start": 0, "stop": 2, "positions": n}
    assert arrays["pattern"] == pytest.approx(expected[:, :2].numpy(), abs=1 / 250)
    # every query of every head as tiles, each its largest probability (one byte each)
    o = meta["overview"]
    tiles = arrays["overview"]
    assert tiles.shape == (heads, o["rows"], o["cols"])
    assert o["rows"] * o["tile_rows"] >= n and o["cols"] * o["tile_cols"] >= n
    ty, tx = o["tile_rows"], o["tile_cols"]
    for head in range(heads):
        for i in range(o["rows"]):
            for j in range(o["cols"]):
                peak = expected[head, i * ty : (i + 1) * ty, j * tx : (j + 1) * tx].max()
                assert tiles[head, i, j] == pytest.approx(float(peak), abs=1 / 250)
    for name, values in head_scores(expected, ids[0]).items():  # of every query
        assert meta["scores"][name] == pytest.approx(values.tolist(), abs=1e-5)
    ex.attention_start = 100  # past the end: the last window
    ex.wait(60)
    meta, arrays = wire.decode(ex.attention_view)
    assert meta["window"] == {"start": n - 2, "stop": n, "positions": n}
    assert arrays["pattern"] == pytest.approx(expected[:, n - 2 :].numpy(), abs=1 / 250)
    with pytest.raises(actscope.InputError, match="must be a query position"):
        ex.attention_start = -1
    assert ex.attention_start == 100


def test_lens_of_the_last_block_is_the_models_prediction(ex):
    lens, lens_arrays = wire.decode(ex.lens_view)
    _, out = wire.decode(ex.outputs_view)
    assert lens["layers"] == ["transformer.h.0", "transformer.h.1"]
    assert (lens_arrays["ids"][-1, :, 0] == out["ids"][:, 0]).all()
    assert (lens_arrays["token_rank"][-1] == 0).all()  # the final prediction ranks first
    assert lens_arrays["token_prob"][-1] == pytest.approx(out["probs"][:, 0], abs=2e-3)


def test_effects_of_a_neuron_are_its_output_row_through_the_unembedding(ex, gpt2):
    ex.layer = "transformer.h.0.mlp.act"
    ex.unit = 5
    ex.wait(60)
    meta, arrays = wire.decode(ex.effects_view)
    w = gpt2.transformer.h[0].mlp.c_proj.weight[5]  # Conv1D: (in, out)
    with torch.no_grad():
        effects = gpt2.lm_head.weight @ (gpt2.transformer.ln_f.weight * w)
    top = effects.topk(len(arrays["promoted"])).indices
    assert meta["key"] == "transformer.h.0.mlp.act|5"
    assert arrays["promoted"].tolist() == top.tolist()
    assert arrays["suppressed"][0] == int(effects.argmin())
    assert meta["names"][str(int(arrays["promoted"][0]))] == WORDS[int(top[0])]


def test_effects_of_a_layer_added_to_the_residual_use_its_own_axis(ex, gpt2):
    ex.layer = "transformer.h.1.mlp"  # (N, T, d_model), added to the residual stream
    ex.unit = 3
    ex.wait(60)
    _, arrays = wire.decode(ex.effects_view)
    with torch.no_grad():
        effects = gpt2.lm_head.weight[:, 3] * gpt2.transformer.ln_f.weight[3]
    assert int(arrays["promoted"][0]) == int(effects.argmax())


def test_position_is_checked_and_picks_the_saliency_token(ex):
    with pytest.raises(actscope.InputError, match="positions"):
        ex.position = 99
    assert ex.position is None and ex.status["state"] == "error"
    ex.position = 2
    ex.input_index = 1
    assert ex.position == 2  # input 1 is longer: the position holds
    ex.position = 9
    ex.input_index = 0  # input 0 has 6 tokens
    assert ex.position is None


def test_snapshot_and_figures_cover_the_language_model_panels(ex, gpt2):
    state = record(gpt2)
    ex.layer = "transformer.h.0.mlp.act"
    ex.wait(60)
    ex.snapshot(layers=["transformer.h.0.mlp.act"], units=[1, 2])
    meta, _ = wire.decode(ex.snapshot_data)
    keys = set(meta["keys"])
    assert {
        "outputs|0", "outputs|1", "lens|0", "lens|1",
        "attention|0|transformer.h.0.attn", "attention|1|transformer.h.0.attn",
        "effects|transformer.h.0.mlp.act|1", "effects|transformer.h.0.mlp.act|2",
    } <= keys  # fmt: skip
    attention = ex.figure(view="attention", head=2)
    _, view = wire.decode(ex.attention_view)
    assert attention.data[0].z == pytest.approx(view["pattern"][2], abs=1 / 250)
    ex.unit = 1
    ex.wait(60)
    for view_name in ["outputs", "lens", "effects"]:
        assert ex.figure(view=view_name).data
    assert_unchanged(gpt2, state)


def test_add_input_puts_a_new_prompt_in_the_strip(ex, tokenizer):
    index = ex.add_input({"input_ids": ids_of(tokenizer, "the cat the cat")}, label="repeat")
    ex.wait(60)
    assert index == 2 and ex.input_index == 2
    assert ex.inputs_info[2] == {"modality": "text", "label": "repeat", "text": "the cat the cat"}
    meta, _ = wire.decode(ex.outputs_view)
    assert meta["key"] == "2" and meta["tokens"] == ["the", "cat", "the", "cat"]
    assert ex.add_input("a dog", select=False) == 3 and ex.input_index == 2
    with pytest.raises(actscope.InputError, match="image, but the explorer's inputs are text"):
        ex.add_input(torch.zeros(3, 8, 8))
    assert len(ex.inputs_info) == 4
