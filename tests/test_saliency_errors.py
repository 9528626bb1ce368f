"""Bad input gets an error that names the problem and the fix."""

from __future__ import annotations

import pytest
import torch

import actscope
from actscope.engine.errors import ActscopeError, ForwardError, InputError, LayerNotFoundError
from actscope.engine.saliency import Unit, saliency


def test_exported_from_actscope():
    from actscope.engine.saliency import saliency as engine

    assert actscope.saliency is engine


def test_unknown_method_suggests_the_closest(digits):
    model, images, _ = digits
    with pytest.raises(
        ActscopeError, match=r"'integrated_gradient'.*Did you mean 'integrated_gradients'"
    ):
        saliency(model, images, "integrated_gradient")
    with pytest.raises(ActscopeError, match="Did you mean 'grad_cam'"):
        saliency(model, images, "gradcam")


def test_unknown_option_suggests_the_closest(digits):
    model, images, _ = digits
    with pytest.raises(ActscopeError, match=r"no option 'nsteps'.*Did you mean 'n_steps'"):
        saliency(model, images, "integrated_gradients", nsteps=10)
    with pytest.raises(ActscopeError, match=r"gradient has no option 'baseline'"):
        saliency(model, images, "gradient", baseline=0.0)


def test_unknown_rule_suggests_the_closest(digits):
    model, images, _ = digits
    with pytest.raises(ActscopeError, match="Did you mean 'riemann_trapezoid'"):
        saliency(model, images, "integrated_gradients", rule="riemann_trapezium")
    with pytest.raises(ActscopeError, match="n_steps must be an int of at least 2"):
        saliency(model, images, "integrated_gradients", rule="riemann_left", n_steps=1)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("grad_cam", {"layer": "features.conv5"}),
        ("gradient", {"target": ("features.conv5", 0)}),
        ("integrated_gradients", {"embeddings": "feature.conv1"}),
    ],
)
def test_unknown_layer_suggests_names(digits, method, options):
    model, images, _ = digits
    with pytest.raises(LayerNotFoundError, match=r"Did you mean 'features\.conv"):
        saliency(model, images, method, **options)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (10, r"target \(10,\) .* out of range .* \(10,\)"),
        (-1, "out of range"),
        ([1, 2], "Got 2 targets for 16 inputs"),
        ((1, 2), r"2 index\(es\) per example but the model's output has 1"),
        (
            ("features.conv3", 64),
            "Unit 64 is out of range for layer 'features.conv3', which has 64",
        ),
        (Unit("features.conv3", 0, position=16), "Position 16 is out of range"),
        (Unit("features.conv3", 0, reduce="median"), "reduce must be"),
        ("features.conv3", r"as \(layer, unit\)"),
        (2.5, "Cannot use target=2.5"),
        (lambda out: out, r"one number per example, shape \(16,\)"),
    ],
)
def test_bad_targets(digits, target, message):
    model, images, _ = digits
    with pytest.raises(ActscopeError, match=message):
        saliency(model, images, "gradient", target)


def test_target_out_of_range_on_a_path_method_fails_before_any_gradient(digits):
    model, images, _ = digits
    with pytest.raises(ActscopeError, match="out of range"):
        saliency(model, images, "integrated_gradients", 12, n_steps=4)


def test_target_before_the_attributed_layer(minilm, sentences):
    model, tokenizer = minilm
    with pytest.raises(ActscopeError, match="does not depend on the attributed"):
        saliency(
            model,
            sentences[:1],
            "grad_cam",
            ("encoder.layer.0.intermediate", 3),
            tokenizer=tokenizer,
            layer="encoder.layer.2.output",
        )


def test_outputs_without_a_top_prediction_ask_for_a_target(minilm, sentences):
    model, tokenizer = minilm
    with pytest.raises(ActscopeError, match=r"no single top prediction.*target="):
        saliency(model, sentences[:1], "gradient", tokenizer=tokenizer)


def test_inputs_of_the_wrong_shape_name_the_layer(digits):
    model, _, _ = digits
    with pytest.raises(ForwardError, match=r"Conv2d.*expects \(N, 1, H, W\)"):
        saliency(model, torch.zeros(2, 3, 8, 8), "gradient")


def test_mixed_shapes_say_why(digits):
    model, images, _ = digits
    with pytest.raises(InputError, match="one batch"):
        saliency(model, [images[0], images[1, :, :4]], "gradient")


def test_strings_need_a_tokenizer(digits):
    with pytest.raises(InputError, match="no tokenizer"):
        saliency(digits[0], ["a sentence"], "gradient")


def test_bad_baselines_and_noise(digits):
    model, images, _ = digits
    with pytest.raises(InputError, match=r"baseline has shape \(3, 8, 8\)"):
        saliency(model, images, "integrated_gradients", baseline=torch.zeros(3, 8, 8))
    with pytest.raises(InputError, match="batch dict as baseline"):
        saliency(model, images, "integrated_gradients", baseline={"x": images})
    with pytest.raises(InputError, match=r"noise has shape \(5, 1, 8, 8\)"):
        saliency(model, images, "smoothgrad", noise=torch.zeros(5, 1, 8, 8))
    with pytest.raises(InputError, match="but n_samples=3"):
        saliency(model, images, "smoothgrad", noise=torch.zeros(16, 4, 1, 8, 8), n_samples=3)


def test_token_baseline_of_the_wrong_length(minilm, sentences):
    model, tokenizer = minilm
    with pytest.raises(InputError, match="baseline token ids"):
        saliency(
            model,
            sentences[:1],
            "integrated_gradients",
            lambda out: out.pooler_output[:, 0],
            tokenizer=tokenizer,
            baseline=torch.zeros(1, 3, dtype=torch.long),
        )


def test_grad_cam_needs_maps(digits):
    model, images, _ = digits
    with pytest.raises(ActscopeError, match="no positions to map"):
        saliency(model, images, "grad_cam", layer="classifier.fc2")
    linear = torch.nn.Sequential(torch.nn.Linear(4, 3))
    with pytest.raises(ActscopeError, match="no convolution"):
        saliency(linear, torch.randn(2, 4), "grad_cam")


def test_internal_batch_size_must_be_positive(digits):
    model, images, _ = digits
    with pytest.raises(ActscopeError, match="internal_batch_size must be at least 1"):
        saliency(model, images, "integrated_gradients", internal_batch_size=0)
