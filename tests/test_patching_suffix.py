"""Patched runs that start at a later position (``engine/suffix.py``): the same numbers as
whole runs on Hugging Face GPT-2 and Llama, with any attention implementation, padding,
heads, sublayers and metrics; refused by blocks that take no cache; and the metrics that
evaluate a pass's copies at once agree with evaluating them one by one."""

from __future__ import annotations

import copy
from unittest import mock

import pytest
import torch

import actscope
from actscope.engine import patching, suffix
from actscope.engine.prefix import Prefix
from actscope.engine.suffix import Suffix, groups

from . import tiny_lms
from .model_state import assert_unchanged, record
from .test_patching import BLOCKS, CLEAN, CORRUPTED, ScaledStack, brute_force, metric

one_thread = tiny_lms.one_thread
gpt2 = tiny_lms.gpt2
llama = tiny_lms.llama
LLAMA_BLOCKS = ["model.layers.0", "model.layers.1"]


def plain_metric(logits):
    """The same numbers as ``metric``, from a function that says nothing of what it reads."""
    return metric(logits)


class Forced:
    """Runs start at a later position whenever they can (no cost per run counted); counts
    the patched runs that did."""

    def __enter__(self):
        real_geometry, real_build = suffix.geometry, Suffix.build
        self.built = []

        def build(*args):
            self.built.append(real_build(*args))
            return self.built[-1]

        self.patches = [
            mock.patch.object(patching, "geometry", lambda p, s: (real_geometry(p, s)[0], 0)),
            mock.patch.object(Suffix, "run", autospec=True, side_effect=Suffix.run),
            mock.patch.object(Suffix, "build", build),
        ]
        self.runs = [p.__enter__() for p in self.patches][1]
        return self

    def __exit__(self, *exc):
        for p in reversed(self.patches):
            p.__exit__(*exc)

    @property
    def later_runs(self):
        """Patched runs from a later position (a suffix checks itself in one run when it is
        built; none count when it was refused)."""
        if not self.built or None in self.built:
            return 0
        return self.runs.call_count - len(self.built)


def sweep(model, layers, *, later, **kwargs):
    """The sweep with runs from later positions (``later=True``, checked to be used) or
    whole ones (``reuse_prefix=False``)."""
    kwargs.setdefault("metric", metric)
    if not later:
        return actscope.patching_sweep(
            model, CLEAN, CORRUPTED, layers, reuse_prefix=False, **kwargs
        )
    with Forced() as forced:
        out = actscope.patching_sweep(model, CLEAN, CORRUPTED, layers, **kwargs)
    assert forced.later_runs > 0, "no patched run started at a later position"
    return out


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("which", ["gpt2", "llama"])
def test_block_inputs_from_later_positions_equal_whole_runs(which, attention, request):
    model = copy.deepcopy(request.getfixturevalue(which))
    model.set_attn_implementation(attention)
    blocks = BLOCKS if which == "gpt2" else LLAMA_BLOCKS
    before = record(model)
    ours = sweep(model, blocks, later=True, site="input")
    assert_unchanged(model, before)
    assert torch.allclose(ours, sweep(model, blocks, later=False, site="input"), atol=1e-5, rtol=0)
    reference = brute_force(model, blocks, inputs=True, positions=range(6))
    assert torch.allclose(ours, reference, atol=1e-5, rtol=0)


def test_heads_sublayers_positions_and_plain_metrics_from_later_positions(gpt2):
    attn = ["transformer.h.0.attn", "transformer.h.1.attn"]
    heads = sweep(gpt2, attn, later=True, heads=True)
    assert heads.shape == (2, 6, 4)
    assert torch.allclose(heads, sweep(gpt2, attn, later=False, heads=True), atol=1e-5, rtol=0)
    layers = ["transformer.h.0.mlp", "transformer.h.1"]
    for kwargs in ({"positions": [4, 1, 3, 5, 2]}, {"metric": plain_metric}):
        ours = sweep(gpt2, layers, later=True, **kwargs)
        assert torch.allclose(ours, sweep(gpt2, layers, later=False, **kwargs), atol=1e-5, rtol=0)


def test_padded_inputs_keep_their_mask_from_later_positions(gpt2):
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, 4:] = 0
    diff = actscope.logit_diff(3, 7, position=torch.tensor([5, 3]))  # each input's last
    args = (
        gpt2,
        {"input_ids": CLEAN, "attention_mask": mask},
        {"input_ids": CORRUPTED, "attention_mask": mask},
        BLOCKS,
    )
    with Forced() as forced:
        ours = actscope.patching_sweep(*args, site="input", metric=diff)
    assert forced.later_runs > 0
    whole = actscope.patching_sweep(*args, site="input", metric=diff, reuse_prefix=False)
    assert torch.allclose(ours, whole, atol=1e-5, rtol=0)


class LinearStack(ScaledStack):
    """A simple stack of blocks (a prefix can be reused) whose blocks take no cache."""

    def forward(self, ids):
        h = self.embed(ids)
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln_final(h))


def test_blocks_without_a_cache_run_from_the_first_position():
    model = LinearStack().eval()
    with torch.no_grad():
        prefix = Prefix.build(model, CORRUPTED, None, 0, ["blocks.0", "blocks.1", "blocks.2"], 2)
    assert prefix is not None and prefix.base is not None
    assert Suffix.build(prefix, 0, prefix.base) is None
    names = ["blocks.0", "blocks.1"]
    with Forced() as forced:
        ours = actscope.patching_sweep(model, CLEAN, CORRUPTED, names, site="input", metric=metric)
    assert forced.built == [None]
    assert torch.allclose(
        ours, brute_force(model, names, inputs=True, positions=range(6)), atol=1e-5
    )


class Attention(torch.nn.Module):
    """Causal self-attention in Hugging Face's manner: keys and values go through
    ``cache.update``; with no mask it is causal by itself."""

    def __init__(self, width, layer_idx):
        super().__init__()
        self.qkv = torch.nn.Linear(width, 3 * width)
        self.layer_idx = layer_idx

    def forward(self, hidden_states, attention_mask=None, cache=None):
        q, k, v = self.qkv(hidden_states)[:, None].chunk(3, dim=-1)
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        out = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=attention_mask, is_causal=attention_mask is None
        )
        return hidden_states + out[:, 0]


class CausalStack(LinearStack):
    """Blocks that take a cache and a mask, and are given no mask (causal by themselves)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.blocks = torch.nn.ModuleList(Attention(16, i) for i in range(2))


def test_blocks_given_no_mask_get_a_causal_one_from_later_positions():
    model = CausalStack().eval()
    names = ["blocks.0", "blocks.1"]
    ours = sweep(model, names, later=True, site="input")
    assert torch.allclose(
        ours, brute_force(model, names, inputs=True, positions=range(6)), atol=1e-5
    )


def test_groups_start_late_when_runs_cost_nothing_more_and_stay_whole_when_they_cost_much():
    chunk = [(p, None) for p in range(8)]
    assert [g[0][0] for g in groups(chunk, 8, 0)] == list(range(8))
    assert groups(chunk, 8, 1000) == [chunk]
    assert groups([(None, None)] * 4, 8, 0) == [[(None, None)] * 4]  # a whole layer: from 0


@pytest.mark.parametrize(
    "make",
    [
        lambda logits, batch: actscope.logit_diff(
            torch.tensor([3, 4]), 7, position=torch.tensor([5, 2])
        ),
        lambda logits, batch: actscope.logit_diff(3, 7),
        patching.top_logprob,
    ],
)
def test_metrics_over_copies_at_once_equal_copy_by_copy(make):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 97, generator=gen)
    m = make(logits, CORRUPTED)
    copies = torch.randn(3 * 2, 6, 97, generator=gen)
    one_by_one = torch.cat([m(copies[j * 2 : (j + 1) * 2]) for j in range(3)])
    assert torch.allclose(m.tiled(3)(copies), one_by_one)
