"""list_layers(): names, types, per-example shapes, unit axes and the batch-axis probe."""

from __future__ import annotations

import pytest
import torch

import actscope
from actscope.engine.errors import ForwardError, LayerOutputError
from actscope.engine.layers import per_example, view_layout, view_of

from .model_state import assert_unchanged, record


def by_name(infos):
    return {i.name: i for i in infos}


def test_digits_cnn_tree(digits):
    model, images, _ = digits
    before = record(model)
    infos = actscope.list_layers(model, images[:1])
    assert_unchanged(model, before)
    names = [i.name for i in infos]
    assert names == [n for n, _ in model.named_modules() if n]
    layers = by_name(infos)
    conv = layers["features.conv2"]
    assert (conv.type, conv.shape, conv.kind, conv.unit_axis, conv.n_units) == (
        "Conv2d",
        (32, 8, 8),
        "spatial",
        0,
        32,
    )
    assert conv.n_positions == 64
    assert (conv.depth, conv.parent, conv.is_leaf) == (1, "features", True)
    assert layers["features"].is_leaf is False
    fc = layers["classifier.fc2"]
    assert (fc.shape, fc.kind, fc.n_units) == ((10,), "vector", 10)


def test_minilm_layers(minilm):
    model, tokenizer = minilm
    batch = tokenizer(["a short sentence"], return_tensors="pt")
    layers = by_name(actscope.list_layers(model, batch))
    mlp = layers["encoder.layer.3.intermediate"]
    tokens = batch["input_ids"].shape[1]
    assert (mlp.shape, mlp.kind, mlp.unit_axis, mlp.n_units) == (
        (tokens, 1536),
        "sequence",
        1,
        1536,
    )
    assert layers["encoder"].output == "last_hidden_state"
    assert "last_hidden_state" in layers["encoder"].outputs
    # Position embeddings do not depend on the batch: a broadcast batch axis of size 1.
    pos = layers["embeddings.position_embeddings"]
    assert pos.shape == (tokens, 384)
    # The ModuleList is a container that is never called.
    assert layers["encoder.layer"].kind == "none"
    assert layers["encoder.layer"].calls == 0


def test_strings_with_a_tokenizer_work_as_the_example(minilm):
    model, tokenizer = minilm
    infos = actscope.list_layers(model, ["hello there"], tokenizer=tokenizer)
    assert by_name(infos)["encoder.layer.0.intermediate"].shape[1] == 1536


def test_lstm_batch_axis_of_h_n_is_found(tiny_lstm):
    ids = torch.randint(0, 50, (1, 6))
    lstm = by_name(actscope.list_layers(tiny_lstm, ids, outputs={"lstm": "1.0"}))["lstm"]
    # h_n is (num_layers, batch, hidden): the probe finds batch on axis 1.
    assert lstm.batch_axis == 1
    assert lstm.shape == (1, 12)
    assert set(lstm.outputs) == {"0", "1.0", "1.1"}


def test_a_module_called_twice_appears_twice(twice_mlp):
    infos = by_name(actscope.list_layers(twice_mlp, torch.randn(1, 4)))
    assert infos["shared"].calls == 2
    assert "shared#1" in infos
    assert infos["shared#1"].shape == (8,)


def test_unit_axis_override(digits):
    model, images, _ = digits
    infos = by_name(actscope.list_layers(model, images[:1], unit_axes={"features.conv1": 2}))
    conv = infos["features.conv1"]
    assert (conv.kind, conv.unit_axis, conv.n_units) == ("other", 2, 8)
    with pytest.raises(LayerOutputError, match="out of range"):
        actscope.list_layers(model, images[:1], unit_axes={"features.conv1": 5})


def test_forward_failure_names_the_module_and_the_expected_shape(digits):
    model, _, _ = digits
    before = record(model)
    with pytest.raises(ForwardError) as info:
        actscope.list_layers(model, torch.zeros(1, 3, 8, 8))
    message = str(info.value)
    assert "features.conv1" in message
    assert "(N, 1, H, W)" in message
    assert "(1, 3, 8, 8)" in message
    assert_unchanged(model, before)


def test_wrong_dtype_for_an_embedding_says_integer_ids(tiny_lstm):
    with pytest.raises(ForwardError, match="integer token ids"):
        actscope.list_layers(tiny_lstm, torch.rand(1, 6))


def test_view_of_and_canonical_layouts():
    assert view_of((16, 8, 8)) == ("spatial", 0)
    assert view_of((12, 384)) == ("sequence", 1)
    assert view_of((10,)) == ("vector", 0)
    assert view_of((2, 3, 4, 5)) == ("other", 0)
    assert view_of(None) == ("none", None)
    x = torch.arange(24.0).reshape(2, 3, 4)
    assert view_layout(x, "other", 2).shape == (4, 6)
    assert torch.equal(view_layout(x, "other", 2)[1], x[:, :, 1].reshape(-1))
    seq = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(view_layout(seq, "sequence", 0), seq.T)
    assert torch.equal(per_example(torch.arange(6).reshape(1, 6), 0, 4), torch.arange(6))
