"""A SAELens ``SAE`` (random weights from its config) given to actscope as it is: on MiniLM's
``encoder.layer.3.output`` and on the demo LM's residual stream; the layer from the SAE's
own metadata; capture, the explorer, mining, saliency to a feature and feature edits, each
checked against the same computation by hand; the model left as found."""

from __future__ import annotations

import pytest
import sae_lens
import torch
import transformer_lens

import actscope
from actscope.widget import wire

from ..model_state import assert_unchanged, record
from ..test_lenses import subtracted

MINILM_LAYER = "encoder.layer.3.output"
LM_LAYER = "transformer.h.1"


@pytest.fixture(scope="module")
def tiny_lm():
    from actscope.demo.lm import load_tiny_lm

    return load_tiny_lm()


def make_sae(d_in: int, hook: str, d_sae: int = 1024, seed: int = 0) -> sae_lens.SAE:
    torch.manual_seed(seed)
    cfg = sae_lens.StandardSAEConfig(d_in=d_in, d_sae=d_sae)
    sae = sae_lens.SAE.from_dict(cfg.to_dict())
    with torch.no_grad():
        sae.b_enc.fill_(-0.5)  # a sparse code, as a trained SAE's
        sae.b_dec.normal_(0, 0.01)
    sae.cfg.metadata.hook_name = hook
    return sae.eval()


def test_the_overlay_is_what_this_run_uses():
    assert ".venv-sae" in transformer_lens.__file__  # TransformerLens 3, not .venv's 4
    assert sae_lens.__version__ == "6.54.12"


def batch_of(tokenizer, texts):
    return tokenizer(texts, padding=True, return_tensors="pt")


def test_an_sae_on_minilm_captures_mines_and_opens_in_the_explorer(minilm, sentences):
    model, tokenizer = minilm
    sae = make_sae(model.config.hidden_size, MINILM_LAYER)
    lens = actscope.Lens(sae)  # the layer from the SAE's metadata
    name = f"{MINILM_LAYER}/sae"
    assert (lens.layer, lens.name, lens.kind) == (MINILM_LAYER, "sae", "StandardSAE")
    before = record(model)
    batch = batch_of(tokenizer, sentences[:4])
    with torch.no_grad(), actscope.capture(model, [MINILM_LAYER, name], lenses=[sae]) as acts:
        model(**batch)
    with torch.no_grad():
        expected = sae.encode(acts[MINILM_LAYER])
    assert torch.equal(acts[name], expected)
    assert 0 < float((expected > 0).float().mean()) < 0.5
    index = actscope.mine(
        model, sentences, name, k=3, tokenizer=tokenizer, lenses=[sae], progress=False
    )
    per_text = []
    for text in sentences:
        one = batch_of(tokenizer, [text])
        with torch.no_grad(), actscope.capture(model, name) as single:
            model(**one)
        per_text.append(single[name][0].amax(0))
    maxima = torch.stack(per_text)
    for feature in (0, int(maxima.amax(0).argmax())):
        order = sorted(range(len(sentences)), key=lambda i: (-float(maxima[i, feature]), i))[:3]
        assert index.top(name, feature).ids.tolist() == order
    ex = actscope.Explorer(model, sentences[:3], tokenizer=tokenizer, lenses=[sae], layer=name)
    meta, _ = wire.decode(ex.layer_view)
    assert meta["layer"] == name and meta["n_units"] == 1024
    base = ex.session.activation(MINILM_LAYER, 0)
    with torch.no_grad():
        recon = sae.decode(sae.encode(base))
    by_hand = 1 - float(((recon - base) ** 2).sum() / ((base - base.mean(0)) ** 2).sum())
    assert abs(meta["explained"] - by_hand) < 1e-4
    ex.close()
    assert_unchanged(model, before)


def test_saliency_to_a_feature_and_feature_edits_on_the_demo_lm(tiny_lm):
    model, tokenizer = tiny_lm
    sae = make_sae(model.config.n_embd, LM_LAYER, seed=1)
    name = f"{LM_LAYER}/sae"
    prompt = tokenizer(["def add(a, b):\n    return a +"], return_tensors="pt")
    before = record(model)
    with torch.no_grad(), actscope.capture(model, name, lenses=[sae]) as acts:
        clean = model(**prompt).logits
    feature = int(acts[name][0, -1].argmax())
    scores = actscope.saliency(
        model,
        dict(prompt),
        method="gradient",
        target=actscope.Unit(name, feature),
        lenses=[sae],
    )
    assert scores.shape == prompt["input_ids"].shape and scores.abs().sum() > 0
    with actscope.intervene(model, actscope.Edit(name, scale=1.0)), torch.no_grad():
        unchanged = model(**prompt).logits
    assert torch.equal(unchanged, clean)
    block = model.get_submodule(LM_LAYER)
    f = acts[name][..., feature]
    expected = subtracted(model, block, f[..., None] * sae.W_dec[feature].detach(), dict(prompt))
    with (
        actscope.intervene(model, actscope.Edit(name, units=[feature], scale=0.0)),
        torch.no_grad(),
    ):
        ablated = model(**prompt).logits
    torch.testing.assert_close(ablated, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(ablated, clean, atol=1e-4)
    effects = actscope.logit_effects(model, name, feature, k=5)
    direct = actscope.logit_effects(model, LM_LAYER, 0, k=5, direction=sae.W_dec[feature].detach())
    assert torch.equal(effects.promoted, direct.promoted)
    assert_unchanged(model, before)
