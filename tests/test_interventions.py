"""Interventions against hand-written hooks: ablation, setting, steering and patching units at
chosen positions of sequences and image maps; the edits seen by every actscope function run
inside the block, by no other thread, and never after it; errors that name the layer, the
range and the shape; effects before and after."""

from __future__ import annotations

import threading

import pytest
import torch

import actscope

from . import tiny_lms
from .model_state import assert_unchanged, record

MLP_ACT = "transformer.h.0.mlp.act"


one_thread = tiny_lms.one_thread
gpt2 = tiny_lms.gpt2
llama = tiny_lms.llama


def ids(n=2, t=9, seed=1):
    return torch.randint(1, 97, (n, t), generator=torch.Generator().manual_seed(seed))


def logits(model, x):
    with torch.no_grad():
        return model(x).logits


def by_hand(model, module, x, fn):
    """The model's logits with ``fn`` applied to ``module``'s output by a plain torch hook."""
    handle = module.register_forward_hook(lambda _m, _a, out: fn(out))
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        handle.remove()
    return out.logits if hasattr(out, "logits") else out


@pytest.mark.parametrize(
    ("which", "layer"), [("gpt2", MLP_ACT), ("llama", "model.layers.1.mlp.act_fn")]
)
def test_scale_zero_on_every_unit_equals_zeroing_the_output_by_hand(which, layer, request):
    model = request.getfixturevalue(which)
    x = ids()
    before = record(model)
    with actscope.intervene(model, actscope.Edit(layer, scale=0.0)):
        edited = logits(model, x)
    module = model.get_submodule(layer)
    assert torch.equal(edited, by_hand(model, module, x, torch.zeros_like))
    assert not torch.allclose(edited, logits(model, x))
    assert_unchanged(model, before)


def test_a_classifier_channel_ablation_equals_zeroing_the_channel_by_hand(digits):
    model, images, _ = digits

    def zero_12(out):
        out = out.clone()
        out[:, 12] = 0
        return out

    with actscope.intervene(model, actscope.Edit("features.conv3", units=12, scale=0.0)):
        edited = actscope.predictions(model, images[:4], k=3)
    reference = by_hand(model, model.features.conv3, images[:4], zero_12).softmax(-1)
    assert torch.allclose(edited.probs, reference.topk(3).values)


def test_source_at_all_positions_reproduces_the_clean_run(gpt2):
    clean, corrupted = ids(seed=1), ids(seed=2)
    with actscope.capture(gpt2, "transformer.h.0") as acts, torch.no_grad():
        gpt2(clean)
    with actscope.intervene(gpt2, actscope.Edit("transformer.h.0", source=acts["transformer.h.0"])):
        patched = logits(gpt2, corrupted)
    assert torch.allclose(patched, logits(gpt2, clean), atol=1e-6, rtol=0)
    one = acts["transformer.h.0"][:1]  # one example's activations, used for the whole batch
    with actscope.intervene(gpt2, actscope.Edit("transformer.h.0", source=one)):
        patched = logits(gpt2, corrupted)
    assert torch.allclose(patched, logits(gpt2, clean[:1]).expand(2, -1, -1), atol=1e-6, rtol=0)


def test_edits_never_leak_outside_the_block_or_into_other_threads(gpt2):
    x = ids()
    clean = logits(gpt2, x)
    before = record(gpt2)
    seen = {}
    with actscope.intervene(gpt2, actscope.Edit(MLP_ACT, scale=0.0)):
        worker = threading.Thread(target=lambda: seen.setdefault("other", logits(gpt2, x)))
        worker.start()
        worker.join()
        inside = logits(gpt2, x)
    assert torch.equal(seen["other"], clean)
    assert not torch.allclose(inside, clean)
    assert torch.equal(logits(gpt2, x), clean)
    assert_unchanged(gpt2, before)


def test_after_an_exception_inside_the_block_the_model_is_as_found(gpt2):
    before = record(gpt2)
    edits = [
        actscope.Edit(MLP_ACT, scale=0.0),
        actscope.Edit("transformer.h.1", add=torch.ones(64)),
    ]

    def fails():
        with actscope.intervene(gpt2, edits):
            logits(gpt2, ids())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fails()
    assert_unchanged(gpt2, before)
    with (
        pytest.raises(actscope.InputError, match="out of range"),
        actscope.intervene(gpt2, actscope.Edit(MLP_ACT, units=[2000], scale=0.0)),
    ):
        logits(gpt2, ids())  # the hook itself raises
    assert_unchanged(gpt2, before)


def test_positions_on_a_sequence_are_token_indices(gpt2):
    x = ids()
    with actscope.capture(gpt2, MLP_ACT) as plain, torch.no_grad():
        gpt2(x)
    edit = actscope.Edit(MLP_ACT, units=[3, 7], positions=[2, -1], value=5.0)
    with actscope.intervene(gpt2, edit), actscope.capture(gpt2, MLP_ACT) as acts, torch.no_grad():
        gpt2(x)
    expected = plain[MLP_ACT].clone()
    for p in (2, 8):
        expected[:, p, [3, 7]] = 5.0
    assert torch.equal(acts[MLP_ACT], expected)


def test_positions_on_an_image_map_are_locations_or_flat_indices(digits):
    model, images, _ = digits
    x = images[:3]
    with actscope.capture(model, "features.conv1") as plain, torch.no_grad():
        model(x)
    edit = actscope.Edit("features.conv1", units=[0, 5], positions=[(1, 2), 8 * 4 + 7], scale=0.0)
    with (
        actscope.intervene(model, edit),
        actscope.capture(model, "features.conv1") as acts,
        torch.no_grad(),
    ):
        model(x)
    expected = plain["features.conv1"].clone()
    for y, xx in ((1, 2), (4, 7)):
        expected[:, [0, 5], y, xx] = 0.0
    assert torch.equal(acts["features.conv1"], expected)
    one = actscope.Edit("features.conv1", positions=(3, 3), value=1.0)  # one (y, x) location
    with (
        actscope.intervene(model, one),
        actscope.capture(model, "features.conv1") as acts,
        torch.no_grad(),
    ):
        model(x)
    assert torch.equal(acts["features.conv1"][:, :, 3, 3], torch.ones(3, 16))


def test_capture_predictions_saliency_and_mine_inside_intervene_see_the_edit(digits):
    model, images, _ = digits
    edit = actscope.Edit("features.conv4", units=list(range(0, 64, 2)), scale=0.0)
    before = record(model)

    def zero_even(out):
        out = out.clone()
        out[:, ::2] = 0
        return out

    with (
        actscope.intervene(model, edit),
        actscope.capture(model, "features.conv4") as acts,
        torch.no_grad(),
    ):
        model(images[:4])
        p = actscope.predictions(model, images[:4], k=1)
        grads = actscope.saliency(model, images[:4], method="gradient", target=0)
        index = actscope.mine(model, images, ["features.conv4"], k=2, progress=False)
    assert torch.all(acts["features.conv4"][:, ::2] == 0)
    hand = by_hand(model, model.features.conv4, images[:4], zero_even)
    assert torch.equal(p.ids[:, 0], hand.argmax(-1))
    x = images[:4].clone().requires_grad_()
    handle = model.features.conv4.register_forward_hook(lambda _m, _a, out: zero_even(out))
    try:
        (grad,) = torch.autograd.grad(model(x)[:, 0].sum(), x)
    finally:
        handle.remove()
    assert torch.allclose(grads, grad.abs(), atol=1e-6) or torch.allclose(grads, grad, atol=1e-6)
    assert index.top("features.conv4", 0).values.abs().max() == 0
    assert index.top("features.conv4", 1).values.max() > 0
    assert_unchanged(model, before)


def test_add_steers_along_a_direction_and_value_sets_a_tensor(gpt2):
    x = ids()
    direction = torch.randn(64)
    with actscope.capture(gpt2, "transformer.h.0") as plain, torch.no_grad():
        gpt2(x)
    steer = actscope.Edit("transformer.h.0", positions=[4], add=direction, coef=3.0)
    with (
        actscope.intervene(gpt2, steer),
        actscope.capture(gpt2, "transformer.h.0") as acts,
        torch.no_grad(),
    ):
        gpt2(x)
    expected = plain["transformer.h.0"].clone()
    expected[:, 4] += 3.0 * direction
    assert torch.allclose(acts["transformer.h.0"], expected, atol=1e-6)
    values = torch.arange(64.0)
    per_unit = actscope.Edit("transformer.h.0", units=[1, 9], value=values)  # one per unit
    with (
        actscope.intervene(gpt2, per_unit),
        actscope.capture(gpt2, "transformer.h.0") as acts,
        torch.no_grad(),
    ):
        gpt2(x)
    assert torch.equal(
        acts["transformer.h.0"][..., [1, 9]], torch.tensor([1.0, 9.0]).expand(2, 9, 2)
    )


def test_mean_ablation_uses_each_units_mean_over_the_data(gpt2):
    data = [ids(1, 9, seed=s) for s in range(4)]
    means = actscope.unit_means(gpt2, data, [MLP_ACT], batch_size=3)[MLP_ACT]
    with actscope.capture(gpt2, MLP_ACT) as acts, torch.no_grad():
        gpt2(torch.cat(data))
    assert torch.allclose(means, acts[MLP_ACT].mean((0, 1)), atol=1e-5)
    edit = actscope.Edit(MLP_ACT, units=[5], value=means)
    with actscope.intervene(gpt2, edit), actscope.capture(gpt2, MLP_ACT) as acts, torch.no_grad():
        gpt2(ids())
    assert torch.allclose(acts[MLP_ACT][..., 5], means[5].expand(2, 9))


class MeansIndex:
    """An index that keeps each unit's mean (as value='mean' reads one)."""

    layers = (MLP_ACT,)

    def layer(self, name):
        if name not in self.layers:
            raise actscope.LayerNotFoundError(name, self.layers)

    def unit_means(self, name):
        return torch.full((256,), 0.25)


def test_value_mean_reads_the_index(gpt2, digits):
    edit = actscope.Edit(MLP_ACT, units=[2], value="mean", index=MeansIndex())
    with actscope.intervene(gpt2, edit), actscope.capture(gpt2, MLP_ACT) as acts, torch.no_grad():
        gpt2(ids())
    assert torch.all(acts[MLP_ACT][..., 2] == 0.25)
    unmined = actscope.Edit("transformer.h.0", value="mean", index=MeansIndex())
    with pytest.raises(actscope.LayerNotFoundError), actscope.intervene(gpt2, unmined):
        pass
    model, images, _ = digits
    index = actscope.mine(model, images, ["features.conv1"], k=2, progress=False)
    if not hasattr(index, "unit_means"):  # the index keeps statistics of per-example maxima
        edit = actscope.Edit("features.conv1", value="mean", index=index)
        with (
            pytest.raises(actscope.ActscopeError, match="unit_means"),
            actscope.intervene(model, edit),
        ):
            pass


def test_an_edit_of_a_later_call_changes_only_that_call(twice_mlp):
    x = torch.randn(3, 4)
    with (
        actscope.intervene(twice_mlp, actscope.Edit("shared#1", scale=0.0)),
        actscope.capture(twice_mlp, "shared") as acts,
        torch.no_grad(),
    ):
        out = twice_mlp(x)
    assert torch.all(acts["shared#1"] == 0) and acts["shared"].abs().sum() > 0
    assert torch.allclose(out, twice_mlp.out(torch.zeros(3, 8)).detach())


def test_tuple_outputs_edit_the_tensor_capture_shows_and_nested_blocks_compose(gpt2):
    x = ids()
    with (
        actscope.intervene(gpt2, actscope.Edit("transformer.h.0.attn", scale=0.0)),
        actscope.capture(gpt2, "transformer.h.0.attn") as acts,
        torch.no_grad(),
    ):
        gpt2(x)
    assert torch.all(acts["transformer.h.0.attn"] == 0)
    outer = actscope.Edit("transformer.h.1", value=1.0)
    inner = actscope.Edit("transformer.h.1", scale=2.0)
    with (
        actscope.intervene(gpt2, outer),
        actscope.intervene(gpt2, inner),
        actscope.capture(gpt2, "transformer.h.1") as acts,
        torch.no_grad(),
    ):
        gpt2(x)
    assert torch.all(acts["transformer.h.1"] == 2.0)  # the inner block applies last


def test_the_tensor_the_module_returned_is_never_changed(gpt2):
    kept = {}
    module = gpt2.get_submodule(MLP_ACT)
    handle = module.register_forward_hook(lambda _m, _a, out: kept.setdefault("out", out))
    try:
        with actscope.intervene(gpt2, actscope.Edit(MLP_ACT, scale=0.0)):
            logits(gpt2, ids())
    finally:
        handle.remove()
    with actscope.capture(gpt2, MLP_ACT) as acts, torch.no_grad():
        gpt2(ids())
    assert torch.equal(kept["out"], acts[MLP_ACT])


def test_errors_name_the_layer_the_range_and_the_shape(gpt2):
    with pytest.raises(
        actscope.InputError, match=r"exactly one of value=, scale=, add= or source="
    ):
        actscope.Edit(MLP_ACT, scale=0.0, value=1.0)
    with pytest.raises(actscope.InputError, match="exactly one"):
        actscope.Edit(MLP_ACT)
    with pytest.raises(actscope.InputError, match="index="):
        actscope.Edit(MLP_ACT, value="mean")
    typo = actscope.Edit("transformer.h.0.mlp.actt", scale=0.0)
    suggestion = r"Did you mean 'transformer\.h\.0\.mlp\.act'"
    with (
        pytest.raises(actscope.LayerNotFoundError, match=suggestion),
        actscope.intervene(gpt2, typo),
    ):
        pass
    cases = [
        (
            actscope.Edit(MLP_ACT, units=[2000], scale=0.0),
            r"unit 2000 is out of range for 'transformer\.h\.0\.mlp\.act', which has 256 units "
            r"\(0 to 255\)",
        ),
        (
            actscope.Edit("transformer.h.0", source=torch.zeros(1, 7, 64)),
            r"source has shape \(1, 7, 64\); the layer 'transformer\.h\.0' outputs \(2, 9, 64\)",
        ),
        (
            actscope.Edit(MLP_ACT, positions=[9], scale=0.0),
            r"position 9 is out of range .* 9 positions",
        ),
        (actscope.Edit(MLP_ACT, positions=(1, 2), scale=0.0), "has 2 coordinates"),
        (actscope.Edit(MLP_ACT, add=torch.ones(5)), r"shape \(5,\), which does not broadcast"),
    ]
    before = record(gpt2)
    for edit, message in cases:
        with pytest.raises(actscope.InputError, match=message), actscope.intervene(gpt2, edit):
            logits(gpt2, ids())
    assert_unchanged(gpt2, before)


def test_effect_of_an_lm_edit_is_the_last_tokens_logprob_and_the_kl(gpt2):
    x = ids()
    e = actscope.effect(gpt2, x, actscope.Edit(MLP_ACT, scale=0.0))
    assert e.metrics == ("next_token_logprob", "kl")
    clean, edited = logits(gpt2, x), by_hand(gpt2, gpt2.get_submodule(MLP_ACT), x, torch.zeros_like)
    expected = clean[:, -2].log_softmax(-1).gather(-1, x[:, -1:])[:, 0]
    assert torch.allclose(e["next_token_logprob"][0], expected, atol=1e-6)
    p, q = clean[:, -1].log_softmax(-1), edited[:, -1].log_softmax(-1)
    assert torch.allclose(e["kl"][1], (p.exp() * (p - q)).sum(-1), atol=1e-6)
    assert torch.all(e["kl"][0] == 0) and torch.all(e["kl"][1] > 0)
    same = actscope.effect(gpt2, x, actscope.Edit(MLP_ACT, scale=1.0))
    assert torch.allclose(same.change, torch.zeros(2, 2), atol=1e-6)


def test_effect_on_a_classifier_and_with_a_logit_diff_metric(digits):
    model, images, _ = digits
    edit = actscope.Edit("features.conv4", scale=0.0)
    e = actscope.effect(model, images[:4], edit)
    assert e.metrics == ("top_logit", "top_prob")
    clean = logits_of_cnn(model, images[:4])
    top = clean.argmax(-1)
    assert torch.allclose(e.clean[:, 0], clean.gather(-1, top[:, None])[:, 0])
    diff = actscope.effect(
        model, images[:4], edit, actscope.logit_diff(3, torch.tensor([1, 2, 3, 4]))
    )
    assert diff.metrics == ("logit_diff",)
    assert torch.allclose(
        diff.clean[:, 0], clean[:, 3] - clean[torch.arange(4), torch.tensor([1, 2, 3, 4])]
    )


def logits_of_cnn(model, x):
    with torch.no_grad():
        return model(x)


def test_edits_compare_by_value_and_show_tensor_shapes():
    a = actscope.Edit("x", units=3, scale=0.0)
    assert a == actscope.Edit("x", units=[3], scale=0.0)
    assert a != actscope.Edit("x", units=[4], scale=0.0)
    assert actscope.Edit("x", add=torch.ones(4)) == actscope.Edit("x", add=torch.ones(4))
    assert len({a, actscope.Edit("x", units=(3,), scale=0.0)}) == 1
    assert (
        repr(actscope.Edit("x", source=torch.zeros(1, 9, 64)))
        == "Edit('x', source=tensor(1, 9, 64))"
    )
