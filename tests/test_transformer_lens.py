"""TransformerLens 4: a TransformerBridge around a random-initialised GPT-2 (offline, from a
config, with the demo LM's tokenizer), explored on TransformerLens' own hook names. Every
value is checked against ``run_with_cache``, hooks of TransformerLens' own, or the GPT-2
weights as they were before the bridge wrapped them; and the bridge is left as found,
TransformerLens' own hook lists included."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import actscope
from actscope.widget import wire

from .model_state import assert_unchanged, record

TOKENIZER = Path(actscope.__file__).parent / "demo" / "tiny_lm"
VOCAB = 2048
D, D_MLP, HEADS = 64, 256, 4


def build(compatibility: bool = False) -> SimpleNamespace:
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=2, n_embd=D, n_head=HEADS, vocab_size=VOCAB, n_positions=64,
        initializer_range=0.2, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = GPT2LMHeadModel(config).eval()
        weights = {k: v.detach().clone() for k, v in hf.state_dict().items()}
        tokenizer = PreTrainedTokenizerFast.from_pretrained(TOKENIZER)
        bridge = TransformerBridge.boot_transformers("gpt2", hf_model=hf, tokenizer=tokenizer)
        if compatibility:
            bridge.enable_compatibility_mode(disable_warnings=True)
    return SimpleNamespace(bridge=bridge, hf=hf, weights=weights, tokenizer=tokenizer)


@pytest.fixture(scope="module")
def tl():
    return build()


def ids(n=2, t=7, seed=1):
    return torch.randint(1, VOCAB, (n, t), generator=torch.Generator().manual_seed(seed))


def tl_state(bridge):
    """Everything ``record`` sees, and TransformerLens' own view of its hooks and modes."""
    points = {n: m for n, m in bridge.named_modules() if hasattr(m, "fwd_hooks")}
    own = {
        n: (list(p.fwd_hooks), list(p.bwd_hooks), dict(p.ctx), p.hook_conversion)
        for n, p in points.items()
    }
    flags = (bridge.compatibility_mode, bridge.context_level, bridge.training)
    return record(bridge), own, flags, sorted(bridge.hook_dict)


def assert_left_as_found(bridge, before):
    state, own, flags, names = before
    assert_unchanged(bridge, state)
    _, own_now, flags_now, names_now = tl_state(bridge)
    assert own_now == own, "TransformerLens' hook points changed"
    assert flags_now == flags and names_now == names


def by_hand_logits(weights, resid):
    """ln_f then the unembedding, from the GPT-2 weights as they were before the bridge."""
    normed = F.layer_norm(
        resid, (D,), weights["transformer.ln_f.weight"], weights["transformer.ln_f.bias"], 1e-5
    )
    return normed @ weights["lm_head.weight"].T


def by_hand_pattern(weights, layer, resid_pre):
    """GPT-2's causal attention probabilities of block ``layer``, from its weights."""
    w = {k.removeprefix(f"transformer.h.{layer}."): v for k, v in weights.items()}
    normed = F.layer_norm(resid_pre, (D,), w["ln_1.weight"], w["ln_1.bias"], 1e-5)
    q, k, _ = (normed @ w["attn.c_attn.weight"] + w["attn.c_attn.bias"]).split(D, -1)
    n, t, _ = q.shape
    q, k = (a.reshape(n, t, HEADS, D // HEADS).transpose(1, 2) for a in (q, k))
    scores = q @ k.transpose(-1, -2) / (D // HEADS) ** 0.5
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    return scores.masked_fill(~causal, float("-inf")).softmax(-1)


def test_every_run_with_cache_name_is_a_layer_name_with_its_shape(tl):
    x = ids(1)
    _, cache = tl.bridge.run_with_cache(x)
    before = tl_state(tl.bridge)
    infos = actscope.list_layers(tl.bridge, x)
    assert_left_as_found(tl.bridge, before)
    named = {i.name: i for i in infos}
    for info in infos:
        for alias in info.aliases:
            named.setdefault(alias, info)
    missing = [k for k in cache if k not in named]
    assert not missing, missing
    for key, value in cache.items():
        assert named[key].shape == tuple(value.shape[1:]), key
    # Names as TransformerLens users see them: no detour through the wrapped HF modules.
    assert "blocks.0.ln1.hook_out" in {i.name for i in infos}
    assert "blocks.0.mlp.hook_post" in named["blocks.0.mlp.out.hook_in"].aliases
    assert "hook_embed" in named["embed.hook_out"].aliases
    assert named["blocks.0.attn.hook_q"].shape == (7, HEADS, D // HEADS)  # per head, as TL shows
    order = [i.name for i in infos]
    assert order.index("blocks.0") < order.index("blocks.0.ln1") < order.index("blocks.1")


def test_capture_on_hook_names_equals_run_with_cache(tl):
    x = ids()
    logits, cache = tl.bridge.run_with_cache(x)
    names = list(cache)
    before = tl_state(tl.bridge)
    with actscope.capture(tl.bridge, names) as acts:
        out = tl.bridge(x)
    assert_left_as_found(tl.bridge, before)
    assert torch.equal(out, logits)
    for name in names:
        assert acts[name].shape == cache[name].shape, name
        assert torch.allclose(acts[name], cache[name], atol=1e-6), name
    with actscope.capture(tl.bridge, "blocks.1.hook_resid_post") as acts:
        tl.bridge(x)
    assert torch.allclose(acts["blocks.1.hook_out"], cache["blocks.1.hook_resid_post"])


def test_an_unknown_hook_name_says_which_names_are_close(tl):
    close = r"Did you mean 'blocks\.0\.mlp\.hook_post'"
    with (
        pytest.raises(actscope.LayerNotFoundError, match=close),
        actscope.capture(tl.bridge, ["blocks.0.mlp.hook_pots"]),
    ):
        pass


def test_predictions_and_the_logit_lens_equal_the_models_own(tl):
    x = ids()
    logits, cache = tl.bridge.run_with_cache(x)
    before = tl_state(tl.bridge)
    p = actscope.predictions(tl.bridge, x, k=5)
    lens = actscope.logit_lens(tl.bridge, x, k=5)
    assert_left_as_found(tl.bridge, before)
    assert p.task == "next_tokens"
    probs = logits.softmax(-1)
    assert torch.allclose(p.probs, probs.topk(5, dim=-1).values, atol=1e-6)
    assert torch.allclose(p.next_prob[:, :-1], probs[:, :-1].gather(-1, x[:, 1:, None])[..., 0])
    assert lens.layers == ["blocks.0", "blocks.1"]
    for i, layer in enumerate(lens.layers):
        want = by_hand_logits(tl.weights, cache[f"{layer}.hook_resid_post"]).log_softmax(-1)
        assert torch.allclose(lens.probs[i], want.exp().topk(5, dim=-1).values, atol=1e-5)
    assert torch.equal(lens.ids[-1], logits.topk(5, dim=-1).indices)
    want = by_hand_logits(tl.weights, cache["blocks.1.hook_resid_post"])
    assert torch.allclose(want, logits, atol=1e-4)


def test_logit_effects_of_a_neuron_named_by_its_hook(tl):
    before = tl_state(tl.bridge)
    fx = actscope.logit_effects(tl.bridge, "blocks.1.mlp.hook_post", 3)
    resid = actscope.logit_effects(tl.bridge, "blocks.0.hook_resid_post", 5)
    assert_left_as_found(tl.bridge, before)
    w = tl.weights
    gamma, w_u = w["transformer.ln_f.weight"], w["lm_head.weight"]
    want = w_u @ (gamma * w["transformer.h.1.mlp.c_proj.weight"][3])  # Conv1D: (in, out)
    assert torch.allclose(fx.effects, want - want.mean(), atol=1e-5)
    want = w_u[:, 5] * gamma[5]
    assert torch.allclose(resid.effects, want - want.mean(), atol=1e-5)


def test_attention_is_hook_pattern(tl):
    x = ids()
    _, cache = tl.bridge.run_with_cache(x)
    before = tl_state(tl.bridge)
    patterns = actscope.attention(tl.bridge, x)
    asked = actscope.attention(tl.bridge, x, ["blocks.1.attn.hook_pattern", "blocks.0.attn"])
    assert_left_as_found(tl.bridge, before)
    assert list(patterns) == ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
    for name, pattern in patterns.items():
        assert torch.equal(pattern, cache[name])
    assert torch.equal(asked["blocks.1.attn.hook_pattern"], cache["blocks.1.attn.hook_pattern"])
    assert torch.allclose(asked["blocks.0.attn"], cache["blocks.0.attn.hook_pattern"])
    for layer in (0, 1):
        want = by_hand_pattern(tl.weights, layer, cache[f"blocks.{layer}.hook_resid_pre"])
        assert torch.allclose(patterns[f"blocks.{layer}.attn.hook_pattern"], want, atol=1e-5)


def test_saliency_of_the_next_token_at_the_embeddings(tl):
    x = ids(1)
    before = tl_state(tl.bridge)
    scores = actscope.saliency(tl.bridge, x, "gradient")  # bare ids, as TL takes them
    by_hook = actscope.saliency(tl.bridge, x, "gradient", embeddings="hook_embed")
    unit = actscope.saliency(tl.bridge, x, "gradient", target=("blocks.1.mlp.hook_post", 3))
    assert_left_as_found(tl.bridge, before)
    held = {}

    def leaf(value, hook):
        held["e"] = value.detach().requires_grad_()
        return held["e"]

    logits = tl.bridge.run_with_hooks(x, fwd_hooks=[("hook_embed", leaf)])
    logp = logits[0, -1].log_softmax(-1)
    (grad,) = torch.autograd.grad(logp[logp.argmax()], held["e"])
    assert grad.abs().max() > 1e-4  # not vanishing: the comparison means something
    assert scores.shape == (1, 7)
    assert torch.allclose(scores, grad.sum(-1), atol=1e-5)
    assert torch.allclose(by_hook, grad.sum(-1), atol=1e-5)
    seen = {}

    def keep(value, hook):
        seen["post"] = value

    tl.bridge.run_with_hooks(x, fwd_hooks=[("hook_embed", leaf), ("blocks.1.mlp.hook_post", keep)])
    (grad,) = torch.autograd.grad(seen["post"][0, :, 3].mean(), held["e"])
    assert torch.allclose(unit, grad.sum(-1), atol=1e-5)


def test_mining_a_hook_name(tl):
    data = ids(6, 7, seed=3)
    _, cache = tl.bridge.run_with_cache(data)
    before = tl_state(tl.bridge)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k is more than six examples
        index = actscope.mine(tl.bridge, data, layers=["blocks.0.mlp.hook_post"], progress=False)
    assert_left_as_found(tl.bridge, before)
    assert index.layers == ["blocks.0.mlp.hook_post"]
    post = cache["blocks.0.mlp.hook_post"]  # (6, 7, 256)
    for unit in (0, 17, 255):
        top = index.top("blocks.0.mlp.hook_post", unit)
        best = post[..., unit].amax(1)
        assert torch.equal(top.ids, best.argsort(descending=True, stable=True))
        assert torch.allclose(top.values, best.sort(descending=True).values, atol=1e-3)


def test_explorer_on_the_bridge(tl):
    x = ids(2, 6, seed=4)
    _, cache = tl.bridge.run_with_cache(x)
    before = tl_state(tl.bridge)
    ex = actscope.Explorer(tl.bridge, [x[0], x[1]])
    ex.wait(60)
    assert ex.status["state"] == "ready", ex.status
    ex.layer = "blocks.0.mlp.hook_post"
    ex.unit = 3
    ex.wait(60)
    assert ex.status["state"] == "ready", ex.status
    meta, arrays = wire.decode(ex.outputs_view)
    assert meta["task"] == "next_tokens"
    meta, arrays = wire.decode(ex.attention_view)
    assert meta["layer"] == "blocks.0.attn.hook_pattern"
    assert torch.allclose(
        torch.as_tensor(arrays["pattern"]).float(),
        cache["blocks.0.attn.hook_pattern"][0],
        atol=1 / 255 + 1e-6,
    )
    meta, _ = wire.decode(ex.lens_view)
    assert meta["layers"] == ["blocks.0", "blocks.1"]
    view = ex.session.activation("blocks.0.mlp.hook_post", 1)
    assert torch.allclose(view, cache["blocks.0.mlp.hook_post"][1], atol=1e-6)
    texts = actscope.Explorer(tl.bridge, ["the cat sat", "on the mat"], tokenizer=tl.tokenizer)
    texts.wait(60)
    assert texts.status["state"] == "ready", texts.status
    assert_left_as_found(tl.bridge, before)


def test_compatibility_mode_keeps_the_names_and_values():
    tl = build(compatibility=True)
    x = ids()
    logits, cache = tl.bridge.run_with_cache(x)
    before = tl_state(tl.bridge)
    with actscope.capture(tl.bridge, list(cache)) as acts:
        tl.bridge(x)
    lens = actscope.logit_lens(tl.bridge, x, k=3)
    patterns = actscope.attention(tl.bridge, x)
    assert_left_as_found(tl.bridge, before)
    for name in cache:
        assert torch.allclose(acts[name], cache[name], atol=1e-5), name
    assert torch.equal(lens.ids[-1], logits.topk(3, dim=-1).indices)
    assert list(patterns) == ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
