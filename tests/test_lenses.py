"""Lenses as layers: a sparse autoencoder's features (and a probe's, and principal
components) captured, listed, mined, attributed to and edited like any layer's units,
checked against the same computation written by hand; the model left as found."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import actscope
from actscope.engine.errors import ActscopeError, LayerNotFoundError, LayerOutputError

from . import tiny_lms
from .model_state import assert_unchanged, record

BLOCK = "transformer.h.0"
FEATURES = f"{BLOCK}/sae"

one_thread = tiny_lms.one_thread
gpt2 = tiny_lms.gpt2


class TinySAE(nn.Module):
    """A ReLU sparse autoencoder with SAELens' parameter names and config."""

    def __init__(self, d: int = 64, n: int = 256, seed: int = 0, hook: str = BLOCK) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W_enc = nn.Parameter(torch.randn(d, n, generator=g) / d**0.5)
        self.b_enc = nn.Parameter(torch.randn(n, generator=g) * 0.1 - 0.2)
        self.W_dec = nn.Parameter(torch.randn(n, d, generator=g) / n**0.5)
        self.b_dec = nn.Parameter(torch.randn(d, generator=g) * 0.01)
        self.cfg = type("Cfg", (), {"hook_name": hook})()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec


@pytest.fixture(scope="module")
def sae() -> TinySAE:
    return TinySAE()


def ids(n=3, t=10, seed=1):
    return torch.randint(1, 97, (n, t), generator=torch.Generator().manual_seed(seed))


def block_output(model, x):
    with torch.no_grad(), actscope.capture(model, BLOCK) as acts:
        model(x)
    return acts[BLOCK]


def logits(model, x):
    with torch.no_grad():
        return model(x).logits


def subtracted(model, module, amount, x):
    """The logits with ``amount`` subtracted from ``module``'s output (the first tensor of a
    tuple) by a plain torch hook: an ablation written by hand."""

    def hook(_m, _a, out):
        h = (out[0] if isinstance(out, tuple) else out) - amount
        return (h, *out[1:]) if isinstance(out, tuple) else h

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            return model(**x).logits if isinstance(x, dict) else model(x).logits
    finally:
        handle.remove()


def test_capture_of_a_lens_equals_encoding_the_captured_layer(gpt2, sae):
    x = ids()
    before = record(gpt2)
    with torch.no_grad(), actscope.capture(gpt2, [BLOCK, FEATURES], lenses=[sae]) as acts:
        gpt2(x)
    expected = sae.encode(block_output(gpt2, x))
    assert acts[FEATURES].shape == (3, 10, 256)
    assert torch.equal(acts[FEATURES], expected)
    assert torch.equal(acts[BLOCK], block_output(gpt2, x))
    assert (acts[FEATURES] == 0).any() and (acts[FEATURES] > 0).any()
    assert_unchanged(gpt2, before)


def test_a_sparse_capture_keeps_only_the_active_features_and_equals_the_dense_one(gpt2, sae):
    x = ids()
    with torch.no_grad(), actscope.capture(gpt2, [BLOCK, FEATURES], lenses=[sae]) as dense:
        gpt2(x)
    with torch.no_grad(), actscope.capture(gpt2, [BLOCK, FEATURES], sparse=True) as acts:
        gpt2(x)
    features = acts[FEATURES]
    assert features.layout == torch.sparse_coo
    assert not acts[BLOCK].is_sparse  # True: the lenses' features only
    assert torch.equal(features.to_dense(), dense[FEATURES])
    assert features.values().numel() == int((dense[FEATURES] != 0).sum())
    with torch.no_grad(), actscope.capture(gpt2, [BLOCK], sparse=BLOCK) as named:
        gpt2(x)
    assert torch.equal(named[BLOCK].to_dense(), dense[BLOCK])
    wrong = actscope.capture(gpt2, [BLOCK], sparse=["transformer.h.1"])
    with pytest.raises(actscope.InputError, match=r"sparse= names \['transformer.h.1'\]"):
        wrong.__enter__()


def test_a_lens_costs_nothing_when_nothing_hooks_it(gpt2, sae):
    calls = []
    lens = actscope.Lens(BLOCK, lambda t: calls.append(1) or sae.encode(t), name="counted")
    x = ids()
    with torch.no_grad(), actscope.capture(gpt2, [BLOCK], lenses=[lens]):
        gpt2(x)
    assert calls == []
    with torch.no_grad(), actscope.capture(gpt2, [f"{BLOCK}/counted"]):
        gpt2(x)
    assert calls == [1]


def test_list_layers_shows_the_features_under_their_layer(gpt2, sae):
    infos = actscope.list_layers(gpt2, ids(1), lenses=[sae])
    names = [i.name for i in infos]
    at = names.index(FEATURES)
    assert names[at - 1] == BLOCK
    info = infos[at]
    assert info.features_of == BLOCK
    assert info.parent == BLOCK
    assert info.depth == infos[at - 1].depth + 1
    assert (info.kind, info.n_units, info.shape) == ("sequence", 256, (10, 256))
    assert info.type == "TinySAE"
    assert info.to_dict()["features_of"] == BLOCK


def test_an_sae_like_object_names_its_own_layer(gpt2):
    other = TinySAE(seed=3, hook="transformer.h.1")
    lens = actscope.Lens(other)
    assert (lens.layer, lens.name) == ("transformer.h.1", "sae")
    with torch.no_grad(), actscope.capture(gpt2, "transformer.h.1/sae", lenses=[other]) as acts:
        gpt2(ids())
    assert acts["transformer.h.1/sae"].shape[-1] == 256


def test_editing_no_feature_leaves_the_output_bit_for_bit(gpt2, sae):
    x = ids()
    clean = logits(gpt2, x)
    before = record(gpt2)
    with actscope.intervene(gpt2, actscope.Edit(FEATURES, scale=1.0), lenses=[sae]):
        edited = logits(gpt2, x)
    assert torch.equal(edited, clean)
    assert_unchanged(gpt2, before)


def test_ablating_a_feature_subtracts_its_activation_times_its_direction(gpt2, sae):
    x = ids()
    block = gpt2.get_submodule(BLOCK)
    with torch.no_grad(), actscope.capture(gpt2, FEATURES, lenses=[sae]) as acts:
        gpt2(x)
    feature = int(acts[FEATURES].amax((0, 1)).argmax())
    f = acts[FEATURES][..., feature]
    expected = subtracted(gpt2, block, f[..., None] * sae.W_dec[feature].detach(), x)
    with actscope.intervene(gpt2, actscope.Edit(FEATURES, units=[feature], scale=0.0)):
        edited = logits(gpt2, x)
    torch.testing.assert_close(edited, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(edited, logits(gpt2, x), atol=1e-4)


def test_a_transcoder_reads_one_layer_and_its_edits_write_another(gpt2):
    ln, mlp = "transformer.h.0.ln_2", "transformer.h.0.mlp"
    tc = TinySAE(seed=6)
    lens = actscope.Lens(ln, tc, name="tc", into=mlp)
    x = ids()
    with torch.no_grad(), actscope.capture(gpt2, [ln, mlp, f"{ln}/tc"], lenses=[lens]) as acts:
        clean = gpt2(x).logits
    assert torch.equal(acts[f"{ln}/tc"], tc.encode(acts[ln]))
    feature = int(acts[f"{ln}/tc"].amax((0, 1)).argmax())
    f = acts[f"{ln}/tc"][..., feature]
    handle = gpt2.get_submodule(mlp).register_forward_hook(
        lambda _m, _a, out: out - f[..., None] * tc.W_dec[feature].detach()
    )
    try:
        expected = logits(gpt2, x)
    finally:
        handle.remove()
    edit = actscope.Edit(f"{ln}/tc", units=[feature], scale=0.0)
    with actscope.intervene(gpt2, edit), actscope.capture(gpt2, [ln]) as edited_acts:
        edited = logits(gpt2, x)
    assert torch.equal(edited_acts[ln], acts[ln])  # the layer it reads is left alone
    torch.testing.assert_close(edited, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(edited, clean, atol=1e-4)
    with actscope.intervene(gpt2, actscope.Edit(f"{ln}/tc", scale=1.0)):
        assert torch.equal(logits(gpt2, x), clean)


def test_a_lens_without_decode_cannot_be_edited_and_says_so(gpt2, sae):
    lens = actscope.Lens(BLOCK, sae.encode, name="encode_only")
    with (
        pytest.raises(ActscopeError, match="no decode"),
        actscope.intervene(gpt2, actscope.Edit(f"{BLOCK}/encode_only", scale=0.0), lenses=[lens]),
    ):
        logits(gpt2, ids())


def test_mining_features_equals_a_brute_force_sort(gpt2, sae):
    data = ids(n=24, t=8, seed=5)
    index = actscope.mine(gpt2, data, FEATURES, k=4, batch_size=5, lenses=[sae], progress=False)
    encoded = sae.encode(block_output(gpt2, data)).detach()
    per_example = encoded.amax(1)  # (N, features)
    for feature in (0, 7, int(per_example.amax(0).argmax())):
        top = index.top(FEATURES, feature)
        values = per_example[:, feature]
        order = sorted(range(24), key=lambda i: (-float(values[i]), i))[:4]
        assert [e.id for e in top] == order
        torch.testing.assert_close(
            torch.tensor([e.value for e in top]), values[order], atol=1e-6, rtol=1e-6
        )


def test_saliency_to_a_feature_equals_saliency_to_the_same_unit_of_its_layer(gpt2):
    identity = actscope.Lens.linear(BLOCK, torch.eye(64), name="identity")
    x = {"input_ids": ids(n=2)}
    through_lens = actscope.saliency(
        gpt2, x, method="gradient", target=(f"{BLOCK}/identity", 11), lenses=[identity]
    )
    direct = actscope.saliency(gpt2, x, method="gradient", target=(BLOCK, 11))
    assert through_lens.abs().sum() > 0
    torch.testing.assert_close(through_lens, direct)


def test_logit_effects_of_a_feature_follow_its_decoder_direction(gpt2, sae):
    effects = actscope.logit_effects(gpt2, FEATURES, 5, k=6, lenses=[sae])
    by_direction = actscope.logit_effects(gpt2, BLOCK, 5, k=6, direction=sae.W_dec[5].detach())
    assert torch.equal(effects.promoted, by_direction.promoted)
    torch.testing.assert_close(effects.effects, by_direction.effects)


def test_pca_equals_svd_of_the_centred_activations(gpt2):
    data = ids(n=12, t=9, seed=7)
    lens = actscope.lenses.pca(gpt2, data, BLOCK, 5, batch_size=5)
    acts = block_output(gpt2, data).reshape(-1, 64).double()
    centred = acts - acts.mean(0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    for i in range(5):
        cosine = torch.dot(lens.decoder[i].double(), vh[i]).abs()
        assert cosine > 1 - 1e-4
    variance = s**2
    torch.testing.assert_close(
        lens.explained.double(), (variance / variance.sum())[:5], atol=1e-5, rtol=1e-4
    )
    with torch.no_grad(), actscope.capture(gpt2, f"{BLOCK}/pca", lenses=[lens]) as got:
        gpt2(data)
    projected = (centred @ lens.decoder.double().T).reshape(12, 9, 5)
    torch.testing.assert_close(got[f"{BLOCK}/pca"].double(), projected, atol=1e-4, rtol=1e-4)


def test_units_at_a_token_are_the_active_features_there_highest_first(gpt2, sae):
    x = {"input_ids": ids(n=1)}
    found = actscope.units_at(gpt2, x, FEATURES, 4, k=5, lenses=[sae])
    row = sae.encode(block_output(gpt2, x["input_ids"]))[0, 4].detach()
    active = [int(u) for u in (row != 0).nonzero()[:, 0]]
    by_hand = sorted(active, key=lambda u: (-float(row[u]), u))[:5]
    assert found.units.tolist() == by_hand
    torch.testing.assert_close(found.max, row[by_hand])
    with pytest.raises(ActscopeError, match="position 10 is out of range"):
        actscope.units_at(gpt2, x, FEATURES, 10)


def test_specific_units_contrast_the_per_input_maxima_of_two_groups(gpt2, sae):
    a = [{"input_ids": t} for t in ids(n=3, seed=2)]
    b = [{"input_ids": t} for t in ids(n=4, seed=3)]
    found = actscope.specific_units(gpt2, a, b, FEATURES, k=4, lenses=[sae])

    def maxima(group):
        return torch.stack(
            [sae.encode(block_output(gpt2, g["input_ids"][None]))[0].amax(0) for g in group]
        ).detach()

    diff = maxima(a).mean(0) - maxima(b).mean(0)
    assert found.units.tolist() == diff.argsort(descending=True, stable=True)[:4].tolist()
    torch.testing.assert_close(found.mean, diff[found.units], atol=1e-5, rtol=1e-5)
    with pytest.raises(ActscopeError, match="group_b is empty"):
        actscope.specific_units(gpt2, a, [], FEATURES)


def test_unknown_layers_and_wrong_widths_name_the_problem(gpt2, sae):
    with pytest.raises(LayerNotFoundError, match=r"transformer\.h\.0"):
        actscope.list_layers(gpt2, ids(1), lenses=[actscope.Lens("transformer.h.00", sae)])
    wide = TinySAE(d=32, seed=2)
    with (
        pytest.raises(LayerOutputError, match=r"could not encode.*\(3, 10, 64\)"),
        torch.no_grad(),
        actscope.capture(
            gpt2, f"{BLOCK}/narrow", lenses=[actscope.Lens(BLOCK, wide, name="narrow")]
        ),
    ):
        gpt2(ids())
    with pytest.raises(ValueError, match="cannot contain"):
        actscope.Lens(BLOCK, sae, name="a/b")
