"""capture(): hooks are temporary, the model is left as found, every call is visible."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import actscope
from actscope.engine.errors import LayerNotFoundError, LayerOutputError

from .model_state import assert_unchanged, record


def test_captures_named_layers_of_the_digits_cnn(digits):
    model, images, _ = digits
    with actscope.capture(model, ["features.conv1", "classifier.fc2"]) as acts:
        logits = model(images)
    assert set(acts) == {"features.conv1", "classifier.fc2"}
    assert acts["features.conv1"].shape == (16, 16, 8, 8)
    assert torch.equal(acts["classifier.fc2"], logits.detach())
    assert not acts["classifier.fc2"].requires_grad


def test_every_layer_when_none_given(digits):
    model, images, _ = digits
    with actscope.capture(model) as acts:
        model(images[:2])
    names = {n for n, _ in model.named_modules() if n}
    assert set(acts) == names


def test_model_unchanged_and_no_hook_survives(digits):
    model, images, _ = digits
    user_calls = []
    handle = model.features.conv1.register_forward_hook(lambda *_: user_calls.append(1))
    model.classifier.fc2.weight.grad = torch.ones_like(model.classifier.fc2.weight)
    before = record(model)
    try:
        with actscope.capture(model, ["features.conv1", "features.conv2"]):
            model(images)
        assert_unchanged(model, before)
        assert user_calls == [1], "the user's own hook must still run, once"
    finally:
        handle.remove()
        model.classifier.fc2.weight.grad = None


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_hooks_removed_when_the_block_raises(digits, error):
    model, images, _ = digits
    before = record(model)

    def run() -> None:
        with actscope.capture(model, ["features.conv1"]):
            model(images)
            raise error

    with pytest.raises(type(error)):
        run()
    assert_unchanged(model, before)


def test_hooks_removed_when_the_forward_raises(digits):
    model, _, _ = digits
    before = record(model)
    with pytest.raises(RuntimeError), actscope.capture(model, None):
        model(torch.zeros(1, 3, 8, 8))  # wrong channel count
    assert_unchanged(model, before)


def test_unknown_layer_suggests_the_closest(digits):
    model, _, _ = digits
    before = record(model)
    with pytest.raises(LayerNotFoundError) as info:  # noqa: SIM117 - raising is the point
        with actscope.capture(model, ["features.conv9"]):
            pass
    assert "features.conv1" in str(info.value) or "features.conv4" in str(info.value)
    assert info.value.suggestions
    assert_unchanged(model, before)


def test_a_module_called_twice_records_both_calls(twice_mlp):
    x = torch.randn(5, 4)
    with actscope.capture(twice_mlp, ["shared"]) as acts:
        twice_mlp(x)
    assert list(acts) == ["shared", "shared#1"]
    first, second = acts.calls("shared")
    h = torch.relu(twice_mlp.inp(x))
    assert torch.allclose(first, twice_mlp.shared(h))
    assert torch.allclose(second, twice_mlp.shared(torch.relu(first)))
    assert torch.equal(acts["shared#1"], second)
    with pytest.raises(LayerOutputError, match="ran 2 time"):
        acts["shared#2"]


def test_tuple_outputs_pick_the_first_tensor_or_a_chosen_one(tiny_lstm):
    ids = torch.randint(0, 50, (3, 7))
    with actscope.capture(tiny_lstm, ["lstm"], outputs={"lstm": "1.0"}) as chosen:
        tiny_lstm(ids)
    with actscope.capture(tiny_lstm, ["lstm"]) as default:
        tiny_lstm(ids)
    assert default["lstm"].shape == (3, 7, 12)  # the sequence output
    assert chosen["lstm"].shape == (1, 3, 12)  # h_n
    assert torch.allclose(chosen["lstm"][0], default["lstm"][:, -1])
    assert isinstance(default.raw("lstm"), tuple)


def test_a_bad_output_path_lists_the_real_ones(tiny_lstm):
    with actscope.capture(tiny_lstm, ["lstm"], outputs={"lstm": "5"}) as acts:
        tiny_lstm(torch.randint(0, 50, (1, 4)))
    with pytest.raises(LayerOutputError, match=r"'0'"):
        acts["lstm"]


class NoTensor(nn.Module):
    def forward(self, x: torch.Tensor) -> None:
        return None


class WithNone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.side = NoTensor()
        self.lin = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.side(x)
        return self.lin(x)


def test_a_layer_without_a_tensor_says_so():
    model = WithNone()
    with actscope.capture(model, ["side"]) as acts:
        model(torch.randn(2, 3))
    with pytest.raises(LayerOutputError, match="holds no tensor"):
        acts["side"]


class InplaceAfter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.lin(x))


def test_outputs_changed_in_place_are_detected_and_clone_fixes_it():
    torch.manual_seed(0)
    model = InplaceAfter()
    x = torch.randn(8, 3)
    with torch.no_grad(), actscope.capture(model, ["lin"]) as acts:
        model(x)
    assert "lin" in acts.overwritten
    with pytest.raises(LayerOutputError, match="clone=True"):
        acts["lin"]
    with torch.no_grad(), actscope.capture(model, ["lin"], clone=True) as cloned:
        model(x)
    assert torch.allclose(cloned["lin"], model.lin(x))
    assert (cloned["lin"] < 0).any(), "the pre-ReLU values survive"


def test_half_precision_model():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU()).half()
    with actscope.capture(model, ["0"]) as acts:
        model(torch.randn(2, 4).half())
    assert acts["0"].dtype == torch.float16


def test_captures_in_two_threads_do_not_see_each_other(digits):
    import threading

    model, images, _ = digits
    started, release = threading.Event(), threading.Event()
    seen = {}

    def background() -> None:
        with torch.no_grad(), actscope.capture(model, ["features.conv1"]) as acts:
            model(images[:2])
            started.set()
            release.wait(10)
        seen["background"] = acts.calls("features.conv1")

    worker = threading.Thread(target=background)
    worker.start()
    started.wait(10)
    with torch.no_grad(), actscope.capture(model, ["features.conv1"]) as mine:
        model(images[:5])  # runs while the other capture's hooks are still on the model
    release.set()
    worker.join()
    assert [t.shape[0] for t in mine.calls("features.conv1")] == [5]
    assert [t.shape[0] for t in seen["background"]] == [2]
