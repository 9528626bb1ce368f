"""nnsight: an NNsight and a LanguageModel wrapping a random-initialised GPT-2 (offline, from a
config) are unwrapped, with layer names as the user sees them on the wrapper (no "model."
prefix; its ``rename=`` aliases too). Values are checked against nnsight's own tracing
(``.save()``) and the Hugging Face model's own outputs; the model is left as found, and
nnsight still traces it afterwards."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import actscope
from actscope.widget import wire

from .model_state import assert_unchanged, record

TOKENIZER = Path(actscope.__file__).parent / "demo" / "tiny_lm"
VOCAB = 2048
TEXTS = ["the cat sat on the mat", "a dog ran"]


def random_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=2, n_embd=64, n_head=4, vocab_size=VOCAB, n_positions=64,
        initializer_range=0.2, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def nn_():
    from nnsight import LanguageModel, NNsight
    from transformers import PreTrainedTokenizerFast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LanguageModel's deprecation, GPT-2's config
        tokenizer = PreTrainedTokenizerFast.from_pretrained(TOKENIZER)
        hf, lm_hf = random_gpt2(), random_gpt2()
        wrapped = NNsight(hf)
        lm = LanguageModel(lm_hf, tokenizer=tokenizer)
    return SimpleNamespace(hf=hf, wrapped=wrapped, lm_hf=lm_hf, lm=lm, tokenizer=tokenizer)


@pytest.fixture(params=["NNsight", "LanguageModel"])
def wrapper(request, nn_):
    if request.param == "NNsight":
        return nn_.wrapped, nn_.hf
    return nn_.lm, nn_.lm_hf


def ids(n=2, t=7, seed=1):
    return torch.randint(1, VOCAB, (n, t), generator=torch.Generator().manual_seed(seed))


def traced(wrapper, x):
    """nnsight's own values: an MLP activation, a block's output and the logits."""
    with torch.no_grad(), wrapper.trace(x):
        act = wrapper.transformer.h[0].mlp.act.output.save()
        block = wrapper.transformer.h[1].output.save()
        logits = wrapper.output.save()
    return act, block, logits.logits


def test_names_are_the_wrapped_models_and_every_call_takes_them(wrapper):
    w, hf = wrapper
    x = ids()
    act, block, logits = traced(w, x)
    before = record(hf)
    infos = actscope.list_layers(w, {"input_ids": x[:1]})
    with actscope.capture(w, ["transformer.h.0.mlp.act", "transformer.h.1"]) as acts:
        out = hf(input_ids=x)
    assert_unchanged(hf, before)
    assert [i.name for i in infos] == [n for n, _ in hf.named_modules() if n]
    named = {i.name: i for i in infos}
    assert named["transformer.h.0.mlp.act"].shape == tuple(act.shape[1:])
    assert torch.allclose(acts["transformer.h.0.mlp.act"], act, atol=1e-6)
    assert torch.allclose(acts["transformer.h.1"], block, atol=1e-6)
    assert torch.allclose(out.logits, logits, atol=1e-6)
    close = r"Did you mean 'transformer\.h\.0\.mlp\.act'"
    with (
        pytest.raises(actscope.LayerNotFoundError, match=close),
        actscope.capture(w, ["model.transformer.h.0.mlp.act"]),
    ):
        pass
    again, _, _ = traced(w, x)  # nnsight still traces the model afterwards
    assert torch.equal(again, act)


def test_predictions_lens_effects_and_attention_equal_the_models_own(wrapper):
    w, hf = wrapper
    x = ids()
    _, block, logits = traced(w, x)
    before = record(hf)
    p = actscope.predictions(w, {"input_ids": x}, k=5)
    lens = actscope.logit_lens(w, {"input_ids": x}, k=5)
    fx = actscope.logit_effects(w, "transformer.h.1.mlp.act", 3)
    patterns = actscope.attention(w, {"input_ids": x})
    assert_unchanged(hf, before)
    assert torch.allclose(p.probs, logits.softmax(-1).topk(5, dim=-1).values, atol=1e-6)
    assert lens.layers == ["transformer.h.0", "transformer.h.1"]
    with torch.no_grad():
        last = hf.lm_head(hf.transformer.ln_f(block)).softmax(-1)
    assert torch.allclose(lens.probs[-1], last.topk(5, dim=-1).values, atol=1e-5)
    gamma, w_u = hf.transformer.ln_f.weight, hf.lm_head.weight
    want = (w_u @ (gamma * hf.transformer.h[1].mlp.c_proj.weight[3])).detach()
    assert torch.allclose(fx.effects, want - want.mean(), atol=1e-5)
    hf.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            reference = hf(input_ids=x, output_attentions=True).attentions
    finally:
        hf.set_attn_implementation("sdpa")
    assert list(patterns) == ["transformer.h.0.attn", "transformer.h.1.attn"]
    for got, expected in zip(patterns.values(), reference, strict=True):
        assert torch.allclose(got, expected, atol=1e-6)


def test_saliency_and_mining(wrapper):
    w, hf = wrapper
    x = ids(1, 6)
    data = ids(5, 6, seed=2)
    with torch.no_grad(), w.trace(data):
        act = w.transformer.h[0].mlp.act.output.save()
    before = record(hf)
    scores = actscope.saliency(w, {"input_ids": x}, "gradient")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k is more than five examples
        index = actscope.mine(w, data, layers=["transformer.h.0.mlp.act"], progress=False)
    assert_unchanged(hf, before)
    emb = hf.get_input_embeddings()(x).detach().requires_grad_()
    logp = hf(inputs_embeds=emb).logits[0, -1].log_softmax(-1)
    (grad,) = torch.autograd.grad(logp[logp.argmax()], emb)
    assert grad.abs().max() > 1e-4
    assert torch.allclose(scores, grad.sum(-1), atol=1e-5)
    for unit in (0, 100):
        top = index.top("transformer.h.0.mlp.act", unit)
        best = act[..., unit].amax(1)
        assert torch.equal(top.ids, best.argsort(descending=True, stable=True))
        assert torch.allclose(top.values, best.sort(descending=True).values, atol=1e-3)


def test_explorer_on_a_language_model(nn_):
    lm, hf = nn_.lm, nn_.lm_hf
    before = record(hf)
    ex = actscope.Explorer(lm, TEXTS, tokenizer=nn_.tokenizer)
    ex.wait(60)
    assert ex.status["state"] == "ready", ex.status
    ex.layer = "transformer.h.0.mlp.act"
    ex.wait(60)
    assert ex.status["state"] == "ready", ex.status
    meta, _ = wire.decode(ex.outputs_view)
    assert meta["task"] == "next_tokens"
    meta, _ = wire.decode(ex.attention_view)
    assert meta["layer"] == "transformer.h.0.attn"
    meta, _ = wire.decode(ex.lens_view)
    assert meta["layers"] == ["transformer.h.0", "transformer.h.1"]
    view = ex.session.activation("transformer.h.0.mlp.act", 1)
    assert_unchanged(hf, before)
    x = nn_.tokenizer(TEXTS[1], return_tensors="pt")["input_ids"]
    with torch.no_grad(), lm.trace(x):
        act = lm.transformer.h[0].mlp.act.output.save()
    assert torch.allclose(view, act[0], atol=1e-6)


def test_renamed_modules_answer_to_their_nnsight_names():
    from nnsight import NNsight

    hf = random_gpt2()
    w = NNsight(hf, rename={"transformer.h": "layers", "mlp": "ffn"})
    x = ids(1)
    with torch.no_grad(), w.trace(x):
        act = w.layers[0].ffn.act.output.save()
    infos = {i.name: i for i in actscope.list_layers(w, x)}
    assert "layers.0.ffn.act" in infos["transformer.h.0.mlp.act"].aliases
    with actscope.capture(w, ["layers.0.ffn.act"]) as acts:
        hf(x)
    assert torch.allclose(acts["layers.0.ffn.act"], act, atol=1e-6)
    assert actscope.logit_lens(w, x).layers == ["transformer.h.0", "transformer.h.1"]


def test_a_model_whose_weights_nnsight_has_not_loaded_says_so():
    from nnsight import NNsight

    with torch.device("meta"):
        empty = random_gpt2()
    with pytest.raises(actscope.ActscopeError, match=r"no weights yet.*dispatch=True"):
        actscope.list_layers(NNsight(empty), ids(1))
