"""Language-model functions against the models' own computations: predictions, the logit
lens, logit effects, attention, and saliency's default target, on random-initialised GPT-2
and Llama (offline, from configs) and the digits classifier."""

from __future__ import annotations

import warnings

import pytest
import torch

import actscope

from .model_state import assert_unchanged, record
from .tiny_lms import random_gpt2, random_llama


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def lm(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return random_gpt2() if request.param == "gpt2" else random_llama()


def ids(n=2, t=9, seed=1):
    return torch.randint(1, 97, (n, t), generator=torch.Generator().manual_seed(seed))


def test_predictions_of_a_causal_lm_are_its_softmax(lm):
    batch = {"input_ids": ids(), "attention_mask": torch.ones(2, 9, dtype=torch.long)}
    batch["attention_mask"][1, 7:] = 0  # the second example is two tokens shorter
    p = actscope.predictions(lm, batch, k=5)
    probs = lm(**batch).logits.softmax(-1)
    top = probs.topk(5, dim=-1)
    assert p.task == "next_tokens"
    assert torch.equal(p.ids, top.indices)
    assert torch.allclose(p.probs, top.values)
    following = probs[0, :-1].gather(-1, batch["input_ids"][0, 1:, None])[:, 0]
    assert torch.allclose(p.next_prob[0, :-1], following)
    assert torch.allclose(p.loss[0, :-1], -following.log())
    assert torch.isnan(p.next_prob[0, -1]), "the last position has no next token"
    assert torch.isnan(p.next_prob[1, 6:]).all() and not torch.isnan(p.next_prob[1, :6]).any()


def test_predictions_of_a_classifier(digits):
    model, images, _ = digits
    p = actscope.predictions(model, images[:4], k=3)
    expected = model(images[:4]).softmax(-1).topk(3)
    assert p.task == "classes"
    assert torch.equal(p.ids, expected.indices)
    assert torch.allclose(p.probs, expected.values)


def test_the_logit_lens_of_the_last_positions_is_the_end_of_the_whole_lens(lm):
    x = ids(2, 9)
    whole = actscope.logit_lens(lm, x, k=3)
    end = actscope.logit_lens(lm, x, k=3, last=4)
    assert (whole.start, end.start) == (0, 5)
    assert torch.equal(end.ids, whole.ids[:, :, 5:])
    torch.testing.assert_close(end.probs, whole.probs[:, :, 5:])
    assert torch.equal(end.token, whole.token[:, 5:])
    assert torch.equal(end.token_rank, whole.token_rank[:, :, 5:])
    tokens = x.roll(1, dims=1)  # a token to follow at each position: (N, T), cut too
    followed = actscope.logit_lens(lm, x, token=tokens, last=4)
    assert torch.equal(followed.token, tokens[:, 5:])
    all_followed = actscope.logit_lens(lm, x, token=tokens)
    assert torch.equal(followed.token_rank, all_followed.token_rank[:, :, 5:])
    assert actscope.logit_lens(lm, x, last=50).start == 0
    with pytest.raises(actscope.ActscopeError, match="last must be at least 1"):
        actscope.logit_lens(lm, x, last=0)


def test_the_logit_lens_at_the_last_block_is_the_models_prediction(lm):
    x = ids(1, 7)
    lens = actscope.logit_lens(lm, x, k=4)
    assert len(lens.layers) == 2
    logits = lm(input_ids=x).logits.float()
    assert torch.equal(lens.ids[-1], logits.topk(4, dim=-1).indices)
    assert torch.allclose(lens.probs[-1], logits.softmax(-1).topk(4, dim=-1).values, atol=1e-6)
    assert (lens.token_rank[-1] == 0).all(), "each position's own top token, at the top"
    # An earlier block decoded by hand: its output, the final norm, the unembedding.
    parts = actscope.lm_parts(lm)
    with actscope.capture(lm, parts.blocks[0]) as acts:
        lm(input_ids=x)
    by_hand = parts.unembed(parts.final_norm(acts[parts.blocks[0]])).float().softmax(-1)
    assert torch.equal(lens.ids[0], by_hand.topk(4, dim=-1).indices)
    token = int(x[0, 3])
    followed = actscope.logit_lens(lm, x, token=token)
    rank = (by_hand > by_hand[..., token : token + 1]).sum(-1)
    assert torch.equal(followed.token_rank[0], rank)


def test_logit_effects_are_the_unembedded_output_direction():
    gpt2 = random_gpt2()
    fx = actscope.logit_effects(gpt2, "transformer.h.1.mlp.act", 5, k=3)
    w = gpt2.transformer.h[1].mlp.c_proj.weight[5]  # Conv1D: (in, out)
    expected = gpt2.lm_head.weight @ (gpt2.transformer.ln_f.weight * w)
    expected = expected - expected.mean()
    assert torch.allclose(fx.effects, expected, atol=1e-6)
    assert torch.equal(fx.promoted, expected.topk(3).indices)
    assert torch.equal(fx.suppressed, (-expected).topk(3).indices)
    llama = random_llama()
    fx = actscope.logit_effects(llama, "model.layers.0.mlp.act_fn", 7)
    w = llama.model.layers[0].mlp.down_proj.weight[:, 7]  # Linear: (out, in)
    expected = llama.lm_head.weight @ (llama.model.norm.weight * w)
    assert torch.allclose(fx.effects, expected - expected.mean(), atol=1e-6)
    # A residual layer: the unit is an axis of the residual stream.
    fx = actscope.logit_effects(gpt2, "transformer.h.0", 11)
    expected = gpt2.lm_head.weight[:, 11] * gpt2.transformer.ln_f.weight[11]
    assert torch.allclose(fx.effects, expected - expected.mean(), atol=1e-6)


def test_attention_equals_eager_output_attentions_and_restores_the_model(lm):
    x = ids(2, 8)
    assert lm.config._attn_implementation == "sdpa"
    before = record(lm)
    patterns = actscope.attention(lm, {"input_ids": x})
    assert lm.config._attn_implementation == "sdpa", "attention implementation restored"
    assert_unchanged(lm, before)
    lm.set_attn_implementation("eager")
    try:
        reference = lm(input_ids=x, output_attentions=True).attentions
    finally:
        lm.set_attn_implementation("sdpa")
    assert len(patterns) == len(reference) == 2
    for got, want in zip(patterns.values(), reference, strict=True):
        assert got.shape == (2, 4, 8, 8)
        assert torch.allclose(got, want, atol=1e-6)
    names = list(patterns)
    assert all(name.endswith(("attn", "self_attn")) for name in names), names


def test_attention_of_the_first_layer_stops_the_pass_after_it(lm):
    x = ids(2, 8)
    everything = actscope.attention(lm, {"input_ids": x})
    first, second = list(everything)
    before = record(lm)
    head = lm.get_output_embeddings()
    calls = []
    handle = head.register_forward_hook(lambda *_: calls.append(1))
    try:
        only = actscope.attention(lm, {"input_ids": x}, [first])
        assert calls == [], "the unembedding never ran: the pass ended after the first layer"
        both = actscope.attention(lm, {"input_ids": x}, [second, first])
    finally:
        handle.remove()
    assert_unchanged(lm, before)
    assert lm.config._attn_implementation == "sdpa"
    assert list(only) == [first] and torch.equal(only[first], everything[first])
    assert set(both) == {first, second} and torch.equal(both[second], everything[second])


def test_head_scores_on_hand_made_patterns():
    q = 6
    prev = torch.zeros(q, q)
    prev[0, 0] = 1
    prev[torch.arange(1, q), torch.arange(q - 1)] = 1
    sink = torch.zeros(q, q)
    sink[:, 0] = 1
    tokens = torch.tensor([5, 7, 9, 5, 7, 9])  # repeated: an induction head at q attends q-2
    induction = torch.zeros(q, q)
    induction[torch.arange(q), torch.arange(q)] = 1
    induction[3, 1] = induction[4, 2] = induction[5, 3] = 1
    induction[3, 3] = induction[4, 4] = induction[5, 5] = 0
    scores = actscope.head_scores(torch.stack([prev, sink, induction]), tokens)
    assert torch.allclose(scores["previous_token"], torch.tensor([1.0, 0.2, 0.0]))
    assert torch.allclose(scores["first_token"], torch.tensor([2 / 6, 1.0, 1 / 6]))
    assert torch.allclose(scores["induction"], torch.tensor([0.0, 0.0, 1.0]))
    assert torch.allclose(scores["entropy"], torch.zeros(3))


def test_saliency_of_a_causal_lm_defaults_to_the_next_token(lm):
    x = ids(1, 6)
    scores = actscope.saliency(lm, {"input_ids": x}, "gradient")  # used to raise
    assert scores.shape == (1, 6)
    # By hand: the gradient of log p(top token after the last position) at the embeddings.
    emb = lm.get_input_embeddings()(x).detach().requires_grad_()
    logits = lm(inputs_embeds=emb).logits[0, -1].float()
    goal = logits.log_softmax(-1)[logits.argmax()]
    (grad,) = torch.autograd.grad(goal, emb)
    assert torch.allclose(scores, grad.sum(-1), atol=1e-5)
    at = actscope.saliency(lm, {"input_ids": x}, "gradient", target=actscope.NextToken(position=2))
    emb = lm.get_input_embeddings()(x).detach().requires_grad_()
    goal = lm(inputs_embeds=emb).logits[0, 2].float().log_softmax(-1)[x[0, 3]]  # the actual next
    (grad,) = torch.autograd.grad(goal, emb)
    assert torch.allclose(at, grad.sum(-1), atol=1e-5)


def test_an_encoder_still_has_no_top_prediction(minilm):
    model, tokenizer = minilm
    with pytest.raises(actscope.NoTopPredictionError):
        actscope.saliency(model, ["A sentence."], "gradient", tokenizer=tokenizer)


def test_parts_say_what_to_pass_when_not_found():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    with pytest.raises(actscope.ActscopeError, match="unembed="):
        actscope.logit_lens(model, torch.zeros(1, 4, dtype=torch.long))
