"""Saliency leaves the model exactly as found: on success, on an error mid-way, on Ctrl-C."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from actscope.engine.errors import ActscopeError, ForwardError
from actscope.engine.saliency import METHODS, Unit, saliency

from .model_state import assert_unchanged, record

OPTIONS = {
    "gradient": {"absolute": True},
    "input_x_gradient": {},
    "integrated_gradients": {"n_steps": 6, "internal_batch_size": 8, "return_delta": True},
    "smoothgrad": {"n_samples": 4, "internal_batch_size": 8},
    "grad_cam": {"layer": "features.conv3"},
}


@pytest.fixture
def lived_in(digits):
    """The digits CNN as a user leaves it mid-session: stale grads, frozen layers, a hook."""
    model = copy.deepcopy(digits[0])
    model.classifier.fc2.weight.grad = torch.full_like(model.classifier.fc2.weight, 0.5)
    model.features.conv1.requires_grad_(False)
    calls = []
    model.features.conv2.register_forward_hook(lambda *_: calls.append(1))
    model.classifier.register_forward_pre_hook(lambda *_: None)
    model.features.eval()
    model.classifier.train()  # mixed modes, on purpose
    return model, digits[1][:4], calls


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("target", [None, ("features.conv3", 3)])
def test_model_unchanged_after_each_method(lived_in, method, target):
    model, images, calls = lived_in
    before = record(model)
    saliency(model, images, method, target, **OPTIONS[method])
    assert_unchanged(model, before)
    assert calls, "the user's own hook must still run"


@pytest.mark.parametrize("method", sorted(METHODS))
def test_minilm_unchanged_after_each_method(minilm, sentences, method):
    model, tokenizer = minilm
    options = dict(OPTIONS[method])
    if method == "grad_cam":
        options["layer"] = "encoder.layer.2.output"
    before = record(model)
    saliency(
        model,
        sentences[:2],
        method,
        ("encoder.layer.3.intermediate", 1187),
        tokenizer=tokenizer,
        **options,
    )
    assert_unchanged(model, before)


def _fails_on_call(k: int, error: BaseException):
    """A forward= that runs the model and raises on its k-th call (counting from 1)."""
    count = [0]

    def forward(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        count[0] += 1
        if count[0] == k:
            raise error
        return model(batch)

    return forward, count


# The forward call that fails: mid-way through the blocks of the path methods (after the
# pre-passes at the input and the baseline, for integrated gradients), the gradient pass
# of the one-pass methods.
FAILING_CALL = {
    "gradient": 1,
    "input_x_gradient": 1,
    "grad_cam": 1,
    "integrated_gradients": 4,  # 2 pre-passes, then 3 blocks of 8 rows
    "smoothgrad": 2,  # 2 blocks of 8 rows
}


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize(
    ("error", "raised"),
    [(RuntimeError("disk on fire"), ForwardError), (KeyboardInterrupt(), KeyboardInterrupt)],
)
def test_model_unchanged_after_an_error_mid_way(lived_in, method, error, raised):
    model, images, _ = lived_in
    before = record(model)
    forward, count = _fails_on_call(FAILING_CALL[method], error)
    target = Unit("features.conv3", 3, unit_axis=0, batch_axis=0)  # no list_layers pass
    with pytest.raises(raised):
        saliency(model, images, method, target, forward=forward, **OPTIONS[method])
    assert count[0] >= FAILING_CALL[method]
    assert_unchanged(model, before)
    # And it still works afterwards, with no leftover hook firing.
    saliency(model, images, method, target, **OPTIONS[method])
    assert_unchanged(model, before)


def test_model_unchanged_when_the_target_raises(lived_in):
    model, images, _ = lived_in
    before = record(model)
    with pytest.raises(ActscopeError, match="one number per example"):
        saliency(model, images, "integrated_gradients", lambda out: out, n_steps=4)
    assert_unchanged(model, before)


def test_training_mode_warns_and_is_kept(digits):
    model = copy.deepcopy(digits[0])
    model.classifier.append(nn.Dropout(0.0))  # a module whose behaviour depends on the mode
    model.train()
    before = record(model)
    with pytest.warns(UserWarning, match="training mode"):
        saliency(model, digits[1][:2], "gradient")
    assert_unchanged(model, before)
    assert model.training


def test_no_warning_for_a_model_without_dropout_or_batch_norm(recwarn):
    model = nn.Sequential(nn.Linear(3, 2)).train()
    saliency(model, torch.randn(2, 3), "gradient")
    assert not [w for w in recwarn if "training mode" in str(w.message)]


def test_inputs_are_left_alone(digits):
    model, images, _ = digits
    x = images[:3].clone()
    saliency(model, x, "integrated_gradients", n_steps=4)
    assert not x.requires_grad
    assert x.grad is None
    assert torch.equal(x, images[:3])
