"""Saliency numbers against the reference libraries, with the same settings, in float32.

Agreement means max |ours − reference| ≤ 1e-5 × max |reference| (``assert_agrees``). Captum
and pytorch-grad-cam are test dependencies only.
"""

from __future__ import annotations

import copy

import pytest
import torch
from captum.attr import (
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    NoiseTunnel,
    Saliency,
)

from actscope.engine.saliency import RULES, Unit, saliency

TOLERANCE = 1e-5
TEXTS = 3  # sentences of actscope.demo.text.SENTENCES used with MiniLM
NEURON = ("encoder.layer.3.intermediate", 1187)


def assert_agrees(ours: torch.Tensor, ref: torch.Tensor) -> None:
    ref = ref.detach().float()
    assert ours.shape == ref.shape, f"shape {tuple(ours.shape)} vs reference {tuple(ref.shape)}"
    scale = ref.abs().max().item()
    assert scale > 0, "the reference is all zeros: the comparison would prove nothing"
    error = (ours.detach().float() - ref).abs().max().item()
    assert error <= TOLERANCE * scale, f"max |ours − ref| = {error:.3g}, max |ref| = {scale:.3g}"


# Captum warns that it set requires_grad on its inputs; that is its business.
pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor .* did not already require")


@pytest.fixture(scope="module")
def cnn(digits):
    model, images, labels = digits
    return model, images, torch.tensor([int(label) for label in labels])


# -- digits CNN: Captum ---------------------------------------------------------------------------


@pytest.mark.parametrize("absolute", [True, False])
def test_gradient_matches_captum_saliency(cnn, absolute):
    model, images, labels = cnn
    ref = Saliency(model).attribute(images, target=labels, abs=absolute)
    assert_agrees(saliency(model, images, "gradient", labels, absolute=absolute), ref)


def test_default_target_is_the_top_prediction(cnn):
    model, images, _ = cnn
    top = model(images).argmax(1)
    ref = Saliency(model).attribute(images, target=top, abs=False)
    assert_agrees(saliency(model, images, "gradient"), ref)


def test_input_x_gradient_matches_captum(cnn):
    model, images, labels = cnn
    ref = InputXGradient(model).attribute(images, target=labels)
    assert_agrees(saliency(model, images, "input_x_gradient", labels), ref)


@pytest.mark.parametrize("rule", RULES)
def test_integrated_gradients_matches_captum(cnn, rule):
    model, images, labels = cnn
    baseline = torch.full_like(images, 0.25)
    ref, ref_delta = IntegratedGradients(model).attribute(
        images,
        baselines=baseline,
        target=labels,
        n_steps=24,
        method=rule,
        return_convergence_delta=True,
    )
    ours, delta = saliency(
        model,
        images,
        "integrated_gradients",
        labels,
        baseline=baseline,
        n_steps=24,
        rule=rule,
        return_delta=True,
    )
    assert_agrees(ours, ref)
    assert_agrees(delta, ref_delta)


@pytest.mark.parametrize("internal_batch_size", [7, 16, 40, 1000])
def test_integrated_gradients_in_blocks_matches_one_batch(cnn, internal_batch_size):
    model, images, labels = cnn
    ref = IntegratedGradients(model).attribute(images, target=labels, n_steps=10)
    ours = saliency(
        model,
        images,
        "integrated_gradients",
        labels,
        n_steps=10,
        internal_batch_size=internal_batch_size,
    )
    assert_agrees(ours, ref)


@pytest.mark.parametrize(
    ("variant", "absolute"),
    [("smoothgrad", True), ("smoothgrad", False), ("smoothgrad_sq", True), ("vargrad", False)],
)
def test_smoothgrad_matches_captum_noise_tunnel_with_the_same_noise(cnn, variant, absolute):
    model, images, labels = cnn
    samples, stdev = 8, 0.2
    torch.manual_seed(7)
    ref = NoiseTunnel(Saliency(model)).attribute(
        images,
        nt_type=variant,
        nt_samples=samples,
        stdevs=stdev,
        target=labels,
        abs=absolute,
    )
    # NoiseTunnel draws all its noise in one call, each example's samples together.
    torch.manual_seed(7)
    noise = torch.normal(0, torch.tensor(stdev).repeat((len(images) * samples, 1, 8, 8)))
    ours = saliency(
        model, images, "smoothgrad", labels, noise=noise, absolute=absolute, variant=variant
    )
    assert_agrees(ours, ref)
    blocked = saliency(
        model,
        images,
        "smoothgrad",
        labels,
        noise=noise.view(len(images), samples, 1, 8, 8),
        absolute=absolute,
        variant=variant,
        internal_batch_size=12,
    )
    assert_agrees(blocked, ref)


@pytest.mark.parametrize("layer", ["features.conv4", "features.relu2"])
def test_grad_cam_matches_captum_layer_grad_cam(cnn, layer):
    model, images, labels = cnn
    module = model.get_submodule(layer)
    layer_cam = LayerGradCam(model, module).attribute(images, target=labels, relu_attributions=True)
    ref = LayerAttribution.interpolate(layer_cam, (8, 8), "bilinear")[:, 0]
    assert_agrees(saliency(model, images, "grad_cam", labels, layer=layer), ref)
    unscaled = saliency(model, images, "grad_cam", labels, layer=layer, upsample=False)
    assert_agrees(unscaled, layer_cam[:, 0])
    signed = LayerGradCam(model, module).attribute(images, target=labels)
    ours = saliency(model, images, "grad_cam", labels, layer=layer, relu=False, upsample=False)
    assert_agrees(ours, signed[:, 0])


# -- digits CNN: pytorch-grad-cam -----------------------------------------------------------------


@pytest.mark.parametrize("layer", ["features.relu4", "features.conv3"])
def test_grad_cam_matches_pytorch_grad_cam(cnn, layer):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, images, labels = cnn
    theirs = copy.deepcopy(model)  # GradCAM calls model.eval() and zero_grad() on its model
    with GradCAM(theirs, [theirs.get_submodule(layer)]) as cam:
        ref = cam(images, [ClassifierOutputTarget(int(t)) for t in labels])
    ours = saliency(model, images, "grad_cam", labels, layer=layer, normalize="minmax")
    assert_agrees(ours, torch.from_numpy(ref))
    assert ours.min() >= 0
    assert ours.amax(dim=(1, 2)).allclose(torch.ones(len(images)), atol=1e-5)


# -- MiniLM: token attributions -------------------------------------------------------------------


@pytest.fixture(scope="module")
def text(minilm, sentences):
    model, tokenizer = minilm
    texts = sentences[:TEXTS]
    batch = dict(tokenizer(texts, return_tensors="pt", padding=True))
    return model, tokenizer, texts, batch


def _captum_forward(model, read):
    """A Captum forward function: MiniLM on (ids, mask, types), one number per example."""

    def forward(ids, mask, types):
        return read(model(input_ids=ids, attention_mask=mask, token_type_ids=types), mask)

    return forward


def _neuron(model, layer_name, unit):
    """The max over real tokens of one MLP neuron, read with a plain forward hook."""
    layer = model.get_submodule(layer_name)

    def read(_output, mask):
        return seen["out"][..., unit].masked_fill(mask == 0, float("-inf")).amax(dim=1)

    seen = {}

    def forward(ids, mask, types):
        handle = layer.register_forward_hook(lambda _m, _a, out: seen.__setitem__("out", out))
        try:
            model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        finally:
            handle.remove()
        return read(None, mask)

    return forward


@pytest.mark.slow
@pytest.mark.parametrize("target", ["pooler", "neuron"])
def test_integrated_gradients_matches_captum_layer_ig_on_minilm_embeddings(text, target):
    model, tokenizer, texts, batch = text
    if target == "pooler":
        forward = _captum_forward(model, lambda out, _mask: out.pooler_output[:, 5])
        ours_target = lambda out: out.pooler_output[:, 5]  # noqa: E731
    else:
        forward = _neuron(model, *NEURON)
        ours_target = NEURON
    pad = torch.full_like(batch["input_ids"], tokenizer.pad_token_id)
    lig = LayerIntegratedGradients(forward, model.embeddings.word_embeddings)
    ref, ref_delta = lig.attribute(
        batch["input_ids"],
        baselines=pad,
        additional_forward_args=(batch["attention_mask"], batch["token_type_ids"]),
        n_steps=12,
        return_convergence_delta=True,
    )
    ours, delta = saliency(
        model,
        texts,
        "integrated_gradients",
        ours_target,
        tokenizer=tokenizer,
        baseline=torch.tensor(tokenizer.pad_token_id),
        n_steps=12,
        return_delta=True,
    )
    assert ours.shape == batch["input_ids"].shape  # one score per token
    assert_agrees(ours, ref.sum(dim=-1))
    assert_agrees(delta, ref_delta)


def test_input_x_gradient_on_tokens_matches_captum_layer_gradient_x_activation(text):
    model, tokenizer, texts, batch = text
    forward = _neuron(model, *NEURON)
    ref = LayerGradientXActivation(forward, model.embeddings.word_embeddings).attribute(
        batch["input_ids"],
        additional_forward_args=(batch["attention_mask"], batch["token_type_ids"]),
    )
    ours = saliency(model, texts, "input_x_gradient", NEURON, tokenizer=tokenizer)
    assert_agrees(ours, ref.sum(dim=-1))
    per_dim = saliency(
        model, batch, "input_x_gradient", Unit(*NEURON), sum_embeddings=False
    )  # a ready batch dict, (N, T, D) kept
    assert_agrees(per_dim, ref)
