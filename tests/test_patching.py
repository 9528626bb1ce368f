"""Activation patching against TransformerLens' own sweeps (a TransformerBridge built offline
around a copy of the same random GPT-2) and against a brute-force loop of plain torch hooks:
block inputs × each position, heads, whole layers, image maps; the batched and prefix-reuse
paths equal the plain one; the model is left as found."""

from __future__ import annotations

import copy
import warnings
from unittest import mock

import pytest
import torch

import actscope
from actscope.engine.prefix import Prefix

from . import tiny_lms
from .model_state import assert_unchanged, record

BLOCKS = ["transformer.h.0", "transformer.h.1"]
ATTNS = ["transformer.h.0.attn", "transformer.h.1.attn"]


one_thread = tiny_lms.one_thread
gpt2 = tiny_lms.gpt2
llama = tiny_lms.llama


def tokens(seed, n=2, t=6):
    return torch.randint(1, 97, (n, t), generator=torch.Generator().manual_seed(seed))


CLEAN, CORRUPTED = tokens(1), tokens(2)


def metric(logits):
    """Per example: the log-probability of token 5 after the last position."""
    return logits[:, -1].log_softmax(-1)[:, 5]


# -- a brute-force reference: one forward pass per patch, plain torch hooks -------------------


def grab(model, module, batch, *, inputs):
    got = {}
    if inputs:
        handle = module.register_forward_pre_hook(lambda _m, a: got.setdefault("x", a[0].clone()))
    else:
        handle = module.register_forward_hook(
            lambda _m, _a, o: got.setdefault("x", (o[0] if isinstance(o, tuple) else o).clone())
        )
    try:
        with torch.no_grad():
            model(batch)
    finally:
        handle.remove()
    return got["x"]


def patched_metric(model, module, batch, edit, *, inputs):
    if inputs:
        handle = module.register_forward_pre_hook(lambda _m, a: (edit(a[0].clone()), *a[1:]))
    else:
        handle = module.register_forward_hook(lambda _m, _a, o: edit(o.clone()))
    try:
        with torch.no_grad():
            out = model(batch)
    finally:
        handle.remove()
    return metric(out.logits if hasattr(out, "logits") else out).mean()


def brute_force(model, names, *, inputs, positions, heads=0):
    """``(layers, positions[, heads])``: one full forward pass per patch."""
    rows = []
    for name in names:
        module = model.get_submodule(name)
        clean = grab(model, module, CLEAN, inputs=inputs)
        cells = []
        for p in positions:

            def at(x, p=p, h=None, clean=clean):
                if h is None:
                    x[:, p] = clean[:, p]
                else:
                    d = x.shape[-1] // heads
                    x[:, p, h * d : (h + 1) * d] = clean[:, p, h * d : (h + 1) * d]
                return x

            edits = [lambda x, p=p, h=h: at(x, p, h) for h in range(heads)] if heads else [at]
            values = [patched_metric(model, module, CORRUPTED, e, inputs=inputs) for e in edits]
            cells.append(torch.stack(values) if heads else values[0])
        rows.append(torch.stack(cells))
    return torch.stack(rows)


# -- TransformerLens ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bridge(gpt2):
    """TransformerLens 4's bridge around a copy of the same model (the bridge rewires the
    module it wraps, so it gets its own)."""
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapped = copy.deepcopy(gpt2)
        return build_bridge_from_module(wrapped, "GPT2LMHeadModel", hf_config=wrapped.config)


def tl_metric(logits):
    return metric(logits).mean()


def test_block_inputs_by_position_equal_transformer_lens_resid_pre(gpt2, bridge):
    from transformer_lens import patching

    _, cache = bridge.run_with_cache(CLEAN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = patching.get_act_patch_resid_pre(bridge, CORRUPTED, cache, tl_metric)
    ours = actscope.patching_sweep(gpt2, CLEAN, CORRUPTED, BLOCKS, site="input", metric=metric)
    assert ours.shape == theirs.shape == (2, 6)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


def test_heads_by_position_equal_transformer_lens_head_out(gpt2, bridge):
    from transformer_lens import patching

    _, cache = bridge.run_with_cache(CLEAN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_pos = patching.get_act_patch_attn_head_out_by_pos(bridge, CORRUPTED, cache, tl_metric)
        all_pos = patching.get_act_patch_attn_head_out_all_pos(bridge, CORRUPTED, cache, tl_metric)
    ours = actscope.patching_sweep(gpt2, CLEAN, CORRUPTED, ATTNS, heads=True, metric=metric)
    assert ours.shape == by_pos.shape == (2, 6, 4)
    assert torch.allclose(ours, by_pos, atol=1e-5, rtol=0)
    whole = actscope.patching_sweep(
        gpt2, CLEAN, CORRUPTED, ATTNS, heads=True, positions="all", metric=metric
    )
    assert torch.allclose(whole, all_pos, atol=1e-5, rtol=0)


def test_transformer_lens_hook_z_on_the_bridge_patches_heads_on_its_own_axis(bridge):
    from transformer_lens import patching

    _, cache = bridge.run_with_cache(CLEAN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = patching.get_act_patch_attn_head_out_all_pos(bridge, CORRUPTED, cache, tl_metric)
    names = ["blocks.0.attn.hook_z", "blocks.1.attn.hook_z"]
    ours = actscope.patching_sweep(
        bridge, CLEAN, CORRUPTED, names, heads=True, positions="all", metric=metric
    )
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


# -- brute force -------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["gpt2", "llama"])
def test_block_inputs_and_outputs_by_position_equal_one_pass_per_patch(which, request):
    model = request.getfixturevalue(which)
    blocks = BLOCKS if which == "gpt2" else ["model.layers.0", "model.layers.1"]
    before = record(model)
    ours = actscope.patching_sweep(model, CLEAN, CORRUPTED, blocks, site="input", metric=metric)
    reference = brute_force(model, blocks, inputs=True, positions=range(6))
    assert torch.allclose(ours, reference, atol=1e-5, rtol=0)
    out = actscope.patching_sweep(model, CLEAN, CORRUPTED, blocks[:1], metric=metric)
    assert torch.allclose(
        out, brute_force(model, blocks[:1], inputs=False, positions=range(6)), atol=1e-5
    )
    assert_unchanged(model, before)


def test_heads_equal_patching_slices_of_the_output_projections_input(gpt2):
    ours = actscope.patching_sweep(
        gpt2, CLEAN, CORRUPTED, ATTNS[1:], heads=True, positions=[0, 5], metric=metric
    )
    reference = brute_force(
        gpt2, ["transformer.h.1.attn.c_proj"], inputs=True, positions=[0, 5], heads=4
    )
    assert torch.allclose(ours, reference, atol=1e-5, rtol=0)


def test_a_whole_layer_at_the_first_block_gives_the_clean_run(gpt2):
    """Patching the whole residual stream entering block 0 is the clean run; later layers
    are the same; the default metric is the clean top token's log-probability."""
    whole = actscope.patching_sweep(gpt2, CLEAN, CORRUPTED, BLOCKS, site="input", positions="all")
    with torch.no_grad():
        clean = gpt2(CLEAN).logits[:, -1].log_softmax(-1)
    expected = clean.max(-1).values.mean()
    assert whole.shape == (2,)
    assert torch.allclose(whole, expected.expand(2), atol=1e-5)
    per_example = actscope.patching_sweep(
        gpt2, CLEAN, CORRUPTED, BLOCKS[:1], site="input", positions="all", reduce="none"
    )
    assert torch.allclose(per_example[0], clean.max(-1).values, atol=1e-5)


def test_image_map_positions_are_flat_locations(digits):
    model, images, _ = digits
    clean, corrupted = images[:2], images[2:4]
    m = lambda out: out.log_softmax(-1)[:, 3]  # noqa: E731
    ours = actscope.patching_sweep(model, clean, corrupted, ["features.conv3"], metric=m)
    assert ours.shape == (1, 16)  # a 4 × 4 map
    module = model.features.conv3
    with torch.no_grad():
        source = grab(model, module, clean, inputs=False)
    for flat in (0, 6, 15):
        y, x = divmod(flat, 4)

        def at(t, y=y, x=x):
            t[:, :, y, x] = source[:, :, y, x]
            return t

        handle = module.register_forward_hook(lambda _m, _a, o, at=at: at(o.clone()))
        try:
            with torch.no_grad():
                expected = m(model(corrupted)).mean()
        finally:
            handle.remove()
        assert torch.allclose(ours[0, flat], expected, atol=1e-5)


def test_batched_and_prefix_paths_equal_the_plain_path(gpt2):
    batch = {"input_ids": CORRUPTED, "attention_mask": torch.ones(2, 6, dtype=torch.long)}
    batch["attention_mask"][1, 4:] = 0  # padding: the mask travels with the recorded calls
    clean = {"input_ids": CLEAN, "attention_mask": batch["attention_mask"]}
    args = (gpt2, clean, batch, [*BLOCKS, "transformer.h.1.mlp"])
    plain = actscope.patching_sweep(*args, metric=metric, batch_size=1, reuse_prefix=False)
    batched = actscope.patching_sweep(*args, metric=metric, batch_size=4, reuse_prefix=False)
    with mock.patch.object(Prefix, "hidden", autospec=True, side_effect=Prefix.hidden) as run:
        reused = actscope.patching_sweep(*args, metric=metric, batch_size=4)
    assert run.call_count == 1 + 3 * 2  # one check, then 2 passes of 4 patches per layer
    assert torch.allclose(batched, plain, atol=1e-5, rtol=0)
    assert torch.allclose(reused, plain, atol=1e-5, rtol=0)
    diff = actscope.logit_diff(3, 7, position=torch.tensor([5, 3]))  # unembeds 1 position
    last = actscope.patching_sweep(*args, metric=diff, batch_size=4)
    assert torch.allclose(
        last, actscope.patching_sweep(*args, metric=diff, reuse_prefix=False), atol=1e-5, rtol=0
    )
    heads = actscope.patching_sweep(
        gpt2, CLEAN, CORRUPTED, ATTNS, heads=True, metric=metric, batch_size=5
    )
    assert torch.allclose(heads, actscope.patching_sweep(
        gpt2, CLEAN, CORRUPTED, ATTNS, heads=True, metric=metric, batch_size=1, reuse_prefix=False
    ), atol=1e-5, rtol=0)  # fmt: skip


class ScaledStack(torch.nn.Module):
    """Blocks, a final norm and an unembedding, but the residual stream is rescaled between
    blocks: not a simple stack, so a patched run cannot start at a block."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(97, 16)
        self.blocks = torch.nn.ModuleList(torch.nn.Linear(16, 16) for _ in range(3))
        self.ln_final = torch.nn.LayerNorm(16)
        self.head = torch.nn.Linear(16, 97)

    def get_output_embeddings(self):
        return self.head

    def forward(self, ids):
        h = self.embed(ids)
        for block in self.blocks:
            h = 0.5 * (h + torch.tanh(block(h)))
        return self.head(self.ln_final(h))


def test_a_model_that_is_not_a_simple_stack_runs_whole_passes():
    model = ScaledStack().eval()
    names = ["blocks.1", "blocks.2"]
    with mock.patch.object(Prefix, "hidden", autospec=True, side_effect=Prefix.hidden) as run:
        ours = actscope.patching_sweep(model, CLEAN, CORRUPTED, names, site="input", metric=metric)
    assert run.call_count == 1  # the check failed: no patched run used the prefix
    assert torch.allclose(
        ours, brute_force(model, names, inputs=True, positions=range(6)), atol=1e-5
    )


def test_errors_name_the_layer_and_the_shapes_and_leave_the_model_as_found(gpt2):
    before = record(gpt2)
    with pytest.raises(
        actscope.InputError, match=r"clean and corrupted inputs must have the same shape"
    ):
        actscope.patching_sweep(gpt2, CLEAN, tokens(3, t=5), BLOCKS, metric=metric)
    with pytest.raises(actscope.InputError, match=r"heads=True patches attention heads"):
        actscope.patching_sweep(gpt2, CLEAN, CORRUPTED, ["transformer.h.0.mlp"], heads=True)
    with pytest.raises(actscope.InputError, match=r"position 6 is out of range .* 6 positions"):
        actscope.patching_sweep(gpt2, CLEAN, CORRUPTED, BLOCKS, positions=[6])
    with pytest.raises(actscope.LayerNotFoundError, match="Did you mean"):
        actscope.patching_sweep(gpt2, CLEAN, CORRUPTED, ["transformer.h.7"])
    with pytest.raises(actscope.InputError, match="one number per example"):
        actscope.patching_sweep(gpt2, CLEAN, CORRUPTED, BLOCKS, metric=lambda x: x.sum())
    assert_unchanged(gpt2, before)


def test_patching_inside_intervene_keeps_the_edits_on_every_run(gpt2):
    edit = actscope.Edit("transformer.h.0.mlp", scale=0.0)
    with actscope.intervene(gpt2, edit):
        inside = actscope.patching_sweep(
            gpt2, CLEAN, CORRUPTED, BLOCKS[1:], site="input", metric=metric
        )
        plain = actscope.patching_sweep(
            gpt2, CLEAN, CORRUPTED, BLOCKS[1:], site="input", metric=metric, reuse_prefix=False
        )
    assert torch.allclose(inside, plain, atol=1e-5)
    outside = actscope.patching_sweep(
        gpt2, CLEAN, CORRUPTED, BLOCKS[1:], site="input", metric=metric
    )
    assert not torch.allclose(inside, outside)
