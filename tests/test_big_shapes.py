"""Real model widths on the CPU: a Llama-3-8B-shaped block (hidden 4,096, MLP 14,336, 32
query heads over 8 key-value heads; one block, a 8,192-token vocabulary) and a ViT-B/16 at
224 × 224 (two blocks), random weights. The explorer opens, every layer's view opens and
holds the activation, attention opens per head, the logit lens decodes, mining runs, and
the models are left as found."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import actscope
from actscope.widget import sharing, wire

from .model_state import assert_unchanged, record
from .tiny_lms import quietly

pytestmark = pytest.mark.slow  # ~30 s: 285M parameters, built and run on the CPU
T = 64


def filled(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``model`` (built without Hugging Face's slow initialisation) with seeded small
    uniform weights and unit norm scales, in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and ("norm" in name):
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                bound = (3.0 / p.shape[-1]) ** 0.5 if p.ndim > 1 else 0.02
                p.uniform_(-bound, bound, generator=g)
    return model.eval()


@pytest.fixture(scope="module")
def llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.initialization import no_init_weights

    config = LlamaConfig(
        hidden_size=4096, intermediate_size=14_336, num_attention_heads=32,
        num_key_value_heads=8, num_hidden_layers=1, vocab_size=8192,
        max_position_embeddings=T, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    with no_init_weights():
        model = quietly(lambda: LlamaForCausalLM(config))
    return filled(model, 0)


@pytest.fixture(scope="module")
def vit():
    from transformers import ViTConfig, ViTForImageClassification
    from transformers.initialization import no_init_weights

    config = ViTConfig(num_hidden_layers=2, image_size=224, patch_size=16, num_labels=10)
    with no_init_weights():
        model = quietly(lambda: ViTForImageClassification(config))
    return filled(model, 1)


def texts(n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [{"input_ids": torch.randint(1, 8192, (T,), generator=g)} for _ in range(n)]


def view_of(ex) -> tuple[dict, np.ndarray]:
    ex.wait(600)
    meta, arrays = wire.decode(ex.layer_view)
    return meta, arrays["act"].reshape(meta["shape"])


def test_a_llama_8b_shaped_block_opens_every_view(llama):
    before = record(llama)
    inputs = texts(2, 0)
    ex = actscope.Explorer(llama, inputs)
    mlp = "model.layers.0.mlp.act_fn"
    with torch.no_grad(), actscope.capture(llama, mlp) as acts:
        llama(inputs[0]["input_ids"][None])
    expected = acts[mlp][0]
    ex.layer = mlp
    meta, shown = view_of(ex)
    assert meta["shape"] == [T, 14_336] and meta["trimmed"] is None  # the whole layer
    scale = float(expected.abs().max())
    np.testing.assert_allclose(shown, expected.numpy(), atol=scale / 1000, rtol=0)
    # attention: 32 query heads (over 8 key-value heads), each row a distribution
    ex.layer = "model.layers.0.self_attn"
    ex.wait(600)
    attention, arrays = wire.decode(ex.attention_view)
    pattern = arrays["pattern"].reshape(attention["heads"], T, T)
    assert (attention["heads"], attention["queries"], attention["keys"]) == (32, T, T)
    ids = inputs[0]["input_ids"][None]
    exact = actscope.attention(llama, {"input_ids": ids}, ["model.layers.0.self_attn"])
    np.testing.assert_allclose(
        pattern, exact["model.layers.0.self_attn"][0].numpy(), atol=1 / 252
    )  # a byte a probability
    assert np.allclose(np.triu(pattern, 1), 0)  # causal
    lens, lens_arrays = wire.decode(ex.lens_view)
    assert lens["layers"] == ["model.layers.0"] and lens_arrays["ids"].shape[1] == T
    # every layer with a tensor output opens: one pass, a view each, in a snapshot
    ex.snapshot(inputs=[1])
    entries = sharing.unpack(ex.snapshot_data)
    shown = {k.split("|", 2)[2] for k in entries if k.startswith("layer_view|1|")}
    with_tensors = {i["name"] for i in ex.layers_info if i["kind"] != "none"}
    assert with_tensors <= shown and mlp in shown
    ex.close()
    index = actscope.mine(llama, texts(8, 1), [mlp], k=3, batch_size=4, progress=False)
    assert index.n_examples == 8 and len(index.top(mlp, 14_335)) == 3
    assert_unchanged(llama, before)


def test_a_vit_b16_at_224_opens_its_patches_heads_and_mlp(vit):
    before = record(vit)
    g = torch.Generator().manual_seed(2)
    images = torch.randn(3, 3, 224, 224, generator=g)
    ex = actscope.Explorer(vit, images)
    ex.layer = "vit.embeddings.patch_embeddings.projection"
    meta, patches = view_of(ex)
    assert meta["kind"] == "spatial" and meta["shape"] == [768, 14, 14]
    with torch.no_grad(), actscope.capture(vit, ex.layer) as acts:
        vit(images[:1])
    expected = acts[ex.layer][0].numpy()
    np.testing.assert_allclose(patches, expected, atol=np.abs(expected).max() / 1000, rtol=0)
    ex.layer = "vit.layers.1.mlp.fc1"
    meta, _ = view_of(ex)
    assert meta["shape"] == [197, 3072]  # 196 patches and the class token
    ex.layer = "vit.layers.0.attention"
    ex.wait(600)
    attention, arrays = wire.decode(ex.attention_view)
    assert (attention["heads"], attention["queries"]) == (12, 197)
    exact = actscope.attention(vit, images[:1], ["vit.layers.0.attention"])
    np.testing.assert_allclose(
        arrays["pattern"].reshape(12, 197, 197),
        exact["vit.layers.0.attention"][0].numpy(),
        atol=float(exact["vit.layers.0.attention"].max()) / 252,
    )
    ex.close()
    index = actscope.mine(
        vit, torch.randn(6, 3, 224, 224, generator=g), ["vit.layers.1.mlp.fc1"], k=2,
        batch_size=3, progress=False,
    )  # fmt: skip
    assert len(index.top("vit.layers.1.mlp.fc1", 0)) == 2
    assert_unchanged(vit, before)
