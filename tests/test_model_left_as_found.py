"""actscope leaves a model exactly as found: parameters, buffers (BatchNorm statistics in
training mode included), flags, hooks and ``.grad``, on every path, errors included."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import actscope

from .model_state import assert_unchanged, record


class BatchNormNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.conv(x))).flatten(1))


@pytest.fixture
def training_bn():
    torch.manual_seed(0)
    model = BatchNormNet().train()
    model.bn.running_mean.fill_(0.25)  # statistics a training run would have gathered
    model.bn.num_batches_tracked.fill_(7)
    return model


def test_a_training_pass_would_change_batch_norm(training_bn):
    """The premise: a plain forward pass in training mode updates the statistics."""
    before = record(training_bn)
    training_bn(torch.randn(4, 1, 8, 8))
    with pytest.raises(AssertionError, match="buffer bn"):
        assert_unchanged(training_bn, before)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: actscope.list_layers(m, x[:1]),
        lambda m, x: actscope.Explorer(m, x, layer="bn").__setattr__("layer", "head"),
        lambda m, x: actscope.mine(m, x, ["bn"], k=2, progress=False),
        lambda m, x: actscope.saliency(m, x, "integrated_gradients", n_steps=4),
        lambda m, x: actscope.saliency(m, x, "smoothgrad", n_samples=3),
    ],
    ids=["list_layers", "explorer", "mine", "integrated_gradients", "smoothgrad"],
)
def test_batch_norm_statistics_are_left_as_found(training_bn, call):
    x = torch.randn(6, 1, 8, 8)
    before = record(training_bn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the model is in training mode"
        call(training_bn, x)
    assert_unchanged(training_bn, before)
    assert int(training_bn.bn.num_batches_tracked) == 7
    assert training_bn.training


def test_statistics_are_restored_when_the_forward_pass_fails(training_bn):
    class Fails(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.inner(x)  # batch norm has already updated its statistics here
            raise RuntimeError("late failure")

    model = Fails(training_bn)
    before = record(model)
    with pytest.raises(actscope.ForwardError, match="late failure"):
        actscope.list_layers(model, torch.randn(2, 1, 8, 8))
    assert_unchanged(model, before)


def test_a_buffer_changed_in_eval_mode_is_named():
    class Counter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.register_buffer("calls", torch.zeros((), dtype=torch.long))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return self.lin(x)

    model = Counter().eval()
    with pytest.warns(UserWarning, match=r"changed buffer\(s\) calls in place"):
        actscope.list_layers(model, torch.zeros(1, 2))
