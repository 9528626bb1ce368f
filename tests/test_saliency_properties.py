"""What saliency maps must satisfy whatever the reference libraries say.

Completeness of integrated gradients on the published golden example, the model
randomisation sanity check of Adebayo et al. (2018), and the promises of the API: targets,
input forms, blocks, seeds and autograd contexts.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import actscope
from actscope.engine.saliency import METHODS, Unit, saliency


class Golden(nn.Module):
    """f(x1, x2) = ReLU(ReLU(x1) − 1 − ReLU(x2)), from Sundararajan et al. (2017)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.relu(x[:, 0]) - 1 - torch.relu(x[:, 1]))


# -- completeness -------------------------------------------------------------------------------


def test_integrated_gradients_on_the_golden_example():
    # Along the path α(3, 1) the function is ReLU(2α − 1): gradients (1, −1) for α > 1/2.
    x = torch.tensor([[3.0, 1.0]])
    attr, delta = saliency(
        Golden(), x, "integrated_gradients", rule="riemann_middle", n_steps=50, return_delta=True
    )
    torch.testing.assert_close(attr, torch.tensor([[1.5, -0.5]]), rtol=0, atol=1e-6)
    assert attr.sum().item() == pytest.approx(1.0, abs=1e-6)  # = f(x) − f(0)
    assert delta.abs().item() < 1e-6


def test_gauss_legendre_delta_is_the_completeness_error():
    x = torch.tensor([[3.0, 1.0], [2.5, 0.2]])
    attr, delta = saliency(Golden(), x, "integrated_gradients", n_steps=64, return_delta=True)
    f = Golden()(x) - Golden()(torch.zeros_like(x))
    torch.testing.assert_close(delta, attr.sum(dim=1) - f)
    # The integrand steps at α = 1/2, so the quadrature is close, not exact.
    torch.testing.assert_close(attr[0], torch.tensor([1.5, -0.5]), rtol=0, atol=0.05)


def test_completeness_on_the_digits_cnn(digits):
    model, images, _ = digits
    attr, delta = saliency(model, images[:4], "integrated_gradients", n_steps=64, return_delta=True)
    logits = model(images[:4])
    top = logits.argmax(1)
    change = (
        logits.gather(1, top[:, None])[:, 0] - model(torch.zeros_like(images[:4]))[:, top].diag()
    )
    torch.testing.assert_close(attr.sum(dim=(1, 2, 3)) - change, delta, rtol=0, atol=1e-5)
    assert delta.abs().max() < 0.05 * change.abs().max()


# -- model randomisation (Adebayo et al., 2018) ---------------------------------------------------

CASCADE = [
    "classifier.fc2",
    "classifier.fc1",
    "features.conv4",
    "features.conv3",
    "features.conv2",
    "features.conv1",
]


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Average ranks along the last axis (ties share their mean rank)."""
    order = x.argsort(dim=-1)
    ranks = torch.empty_like(x)
    ranks.scatter_(-1, order, torch.arange(x.shape[-1], dtype=x.dtype).expand_as(x))
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        _, inverse = torch.unique(x[i], return_inverse=True)
        total = torch.zeros(int(inverse.max()) + 1, dtype=x.dtype).index_add_(0, inverse, ranks[i])
        count = torch.zeros_like(total).index_add_(0, inverse, torch.ones_like(ranks[i]))
        out[i] = (total / count)[inverse]
    return out


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rank correlation of each pair of maps (rows of ``a`` and ``b`` flattened)."""
    ra, rb = _ranks(a.flatten(1).double()), _ranks(b.flatten(1).double())
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    # A constant map has no ranking: it correlates with nothing (0).
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-12)


def _perturbed(model: nn.Module, scale: float) -> nn.Module:
    """A copy with every weight moved by ``scale`` of its own spread: the control."""
    copied = copy.deepcopy(model)
    with torch.no_grad():
        for p in copied.parameters():
            p.add_(torch.randn_like(p) * scale * p.std())
    return copied


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("gradient", {"absolute": True}),
        ("grad_cam", {"layer": "features.relu2"}),  # an 8 × 8 map: 64 ranks to compare
    ],
)
def test_randomising_layers_top_down_destroys_the_map(digits, method, options):
    model, images, labels = digits
    target = [int(label) for label in labels]
    trained = saliency(model, images, method, target, **options)
    informative = trained.flatten(1).std(dim=1) > 0  # a ReLU'd Grad-CAM can be all zero
    assert informative.sum() >= 8

    def similarity(other: nn.Module) -> float:
        maps = saliency(other, images, method, target, **options)
        return spearman(trained[informative], maps[informative]).abs().mean().item()

    correlations = []
    with torch.random.fork_rng():
        torch.manual_seed(0)
        control = similarity(_perturbed(model, 0.005))
        randomised = copy.deepcopy(model)
        for name in CASCADE:
            randomised.get_submodule(name).reset_parameters()
            correlations.append(similarity(randomised))
    # A tiny change of the weights keeps the map; re-initialising them does not, and the
    # more layers are re-initialised (from the top down), the less of the map is left.
    assert control > 0.95, control
    assert correlations[0] < control - 0.2, (control, correlations)
    assert sum(correlations[-2:]) / 2 < 0.6 * correlations[0], correlations
    assert correlations[-1] < 0.3, correlations


def test_spearman_helper_can_tell():
    a = torch.tensor([[1.0, 2.0, 3.0, 3.0]])
    assert spearman(a, a).item() == pytest.approx(1.0)
    assert spearman(a, -a).item() == pytest.approx(-1.0)


# -- targets --------------------------------------------------------------------------------------


def test_target_forms_agree(digits):
    model, images, labels = digits
    classes = [int(label) for label in labels]
    by_list = saliency(model, images, "gradient", classes)
    by_tensor = saliency(model, images, "gradient", torch.tensor(classes))
    by_callable = saliency(
        model,
        images,
        "gradient",
        lambda out: out.gather(1, torch.tensor(classes)[:, None])[:, 0],
    )
    torch.testing.assert_close(by_list, by_tensor, rtol=0, atol=0)
    torch.testing.assert_close(by_list, by_callable, rtol=0, atol=0)
    one = saliency(model, images, "gradient", 3)
    torch.testing.assert_close(one, saliency(model, images, "gradient", [3] * len(images)))


def test_unit_target_is_the_max_over_positions(digits):
    model, images, _ = digits
    unit = Unit("features.conv3", 5)
    ours = saliency(model, images, "gradient", unit)
    # The same by hand: the max over the 4 × 4 positions of channel 5 of conv3.
    x = images.clone().requires_grad_()
    acts = {}
    handle = model.features.conv3.register_forward_hook(lambda _m, _a, o: acts.setdefault("o", o))
    try:
        model(x)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(acts["o"][:, 5].amax(dim=(1, 2)).sum(), x)
    torch.testing.assert_close(ours, grad)
    # The tuple shorthand, Unit.of with list_layers metadata, one position, other reductions.
    torch.testing.assert_close(saliency(model, images, "gradient", ("features.conv3", 5)), ours)
    info = next(i for i in actscope.list_layers(model, images[:1]) if i.name == "features.conv3")
    torch.testing.assert_close(saliency(model, images, "gradient", Unit.of(info, 5)), ours)
    (grad_pos,) = torch.autograd.grad(model.features[:6](x)[:, 5, 1, 2].sum(), x)
    at = saliency(model, images, "gradient", Unit("features.conv3", 5, position=1 * 4 + 2))
    torch.testing.assert_close(at, grad_pos)
    (grad_sum,) = torch.autograd.grad(model.features[:6](x)[:, 5].mean(dim=(1, 2)).sum(), x)
    mean = saliency(model, images, "gradient", Unit("features.conv3", 5, reduce="mean"))
    torch.testing.assert_close(mean, grad_sum)


def test_unit_reduction_leaves_out_padding(minilm, sentences):
    model, tokenizer = minilm
    texts = [sentences[0], "Short."]
    padded = saliency(
        model, texts, "gradient", ("encoder.layer.3.intermediate", 1187), tokenizer=tokenizer
    )
    alone = saliency(
        model, texts[1:], "gradient", ("encoder.layer.3.intermediate", 1187), tokenizer=tokenizer
    )
    n = alone.shape[1]
    assert padded.shape == (2, len(tokenizer(texts[0])["input_ids"]))
    torch.testing.assert_close(padded[1, :n], alone[0], rtol=1e-4, atol=1e-6)
    assert padded[1, n:].abs().max() == 0  # padding gets no attribution


def test_targets_with_several_output_axes():
    model = nn.Sequential(nn.Linear(4, 6), nn.Unflatten(1, (2, 3)))
    x = torch.randn(5, 4)
    ours = saliency(model, x, "gradient", (1, 2))
    xr = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(model(xr)[:, 1, 2].sum(), xr)
    torch.testing.assert_close(ours, grad)
    per_example = saliency(model, x, "gradient", [(1, 2)] * 5)
    torch.testing.assert_close(per_example, grad)


# -- inputs ---------------------------------------------------------------------------------------


def test_input_forms_agree(digits):
    model, images, _ = digits
    batch = saliency(model, images[:4], "input_x_gradient")
    as_list = saliency(model, list(images[:4]), "input_x_gradient")
    torch.testing.assert_close(batch, as_list, rtol=0, atol=0)
    as_dict = saliency(model, {"x": images[:4]}, "input_x_gradient", forward=lambda m, b: m(b["x"]))
    torch.testing.assert_close(batch, as_dict, rtol=0, atol=0)


def test_token_ids_without_a_tokenizer_use_the_only_embedding(tiny_lstm):
    ids = torch.randint(0, 50, (3, 7), generator=torch.Generator().manual_seed(0))
    scores = saliency(tiny_lstm, ids, "integrated_gradients", 2, n_steps=8)
    assert scores.shape == (3, 7)
    by_name = saliency(tiny_lstm, ids, "integrated_gradients", 2, n_steps=8, embeddings="embed")
    torch.testing.assert_close(scores, by_name, rtol=0, atol=0)


def test_strings_and_a_ready_batch_agree(minilm, sentences):
    model, tokenizer = minilm
    target = lambda out: out.pooler_output[:, 0]  # noqa: E731
    texts = sentences[:2]
    from_strings = saliency(model, texts, "input_x_gradient", target, tokenizer=tokenizer)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    from_batch = saliency(model, batch, "input_x_gradient", target)
    torch.testing.assert_close(from_strings, from_batch, rtol=0, atol=0)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_under_no_grad_and_inference_mode(digits, method):
    model, images, _ = digits
    expected = saliency(model, images[:2], method)
    with torch.no_grad():
        assert torch.equal(saliency(model, images[:2], method), expected)
    with torch.inference_mode():
        frozen = images[:2].clone()
        assert torch.equal(saliency(model, frozen, method), expected)


# -- options --------------------------------------------------------------------------------------


def test_smoothgrad_is_seeded_and_leaves_the_global_generator_alone(digits):
    model, images, _ = digits
    state = torch.get_rng_state()
    a = saliency(model, images[:4], "smoothgrad", n_samples=6, seed=3)
    b = saliency(model, images[:4], "smoothgrad", n_samples=6, seed=3, internal_batch_size=5)
    c = saliency(model, images[:4], "smoothgrad", n_samples=6, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_baselines_in_input_and_layer_space(minilm, sentences):
    model, tokenizer = minilm
    target = lambda out: out.pooler_output[:, 0]  # noqa: E731
    texts = sentences[:2]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    pad = torch.tensor(tokenizer.pad_token_id)
    by_id = saliency(model, texts, "integrated_gradients", target, tokenizer=tokenizer,
                     baseline=pad, n_steps=6)  # fmt: skip
    as_batch = {**batch, "input_ids": torch.full_like(batch["input_ids"], tokenizer.pad_token_id)}
    by_batch = saliency(model, texts, "integrated_gradients", target, tokenizer=tokenizer,
                        baseline=as_batch, n_steps=6)  # fmt: skip
    pad_vector = model.get_input_embeddings().weight[tokenizer.pad_token_id].detach()
    by_vector = saliency(model, texts, "integrated_gradients", target, tokenizer=tokenizer,
                         baseline=pad_vector, n_steps=6)  # fmt: skip
    torch.testing.assert_close(by_id, by_batch, rtol=0, atol=0)
    torch.testing.assert_close(by_id, by_vector)
    zero = saliency(model, texts, "integrated_gradients", target, tokenizer=tokenizer, n_steps=6)
    assert not torch.allclose(zero, by_id)


def test_grad_cam_on_a_token_layer_gives_one_value_per_token(minilm, sentences):
    model, tokenizer = minilm
    cams = saliency(model, sentences[:2], "grad_cam", ("encoder.layer.3.intermediate", 7),
                    tokenizer=tokenizer, layer="encoder.layer.1.output")  # fmt: skip
    assert (
        cams.shape == tokenizer(sentences[:2], padding=True, return_tensors="pt")["input_ids"].shape
    )
    assert cams.min() >= 0


def test_grad_cam_defaults_to_the_last_convolution(digits):
    model, images, _ = digits
    torch.testing.assert_close(
        saliency(model, images, "grad_cam"),
        saliency(model, images, "grad_cam", layer="features.conv4"),
    )


def test_float64_model_gives_float64_maps(digits):
    model, images, _ = digits
    double = copy.deepcopy(model).double()
    out = saliency(double, images[:2], "integrated_gradients", n_steps=4)
    assert out.dtype == torch.float64


@pytest.mark.parametrize("method", sorted(METHODS))
def test_bfloat16_model_gives_float32_maps_close_to_float32(digits, method):
    model, images, _ = digits
    options = {"n_steps": 8} if method == "integrated_gradients" else {}
    full = saliency(model, images[:4], method, 3, **options)
    half = saliency(copy.deepcopy(model).bfloat16(), images[:4], method, 3, **options)
    assert half.dtype == torch.float32
    assert (half - full).abs().max() < 0.1 * full.abs().max()
