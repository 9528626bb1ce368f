"""The Explorer widget from Python: views, selection traits, errors in the widget and in Python."""

from __future__ import annotations

import threading

import pytest
import torch
import traitlets
from torch import nn

import actscope
from actscope.engine.errors import ForwardError, InputError, LayerNotFoundError, LayerOutputError
from actscope.engine.fake import is_fake
from actscope.widget import wire

from . import front_end
from .model_state import assert_unchanged, record


def view(ex):
    return wire.decode(ex.layer_view)


def test_first_view_is_the_first_conv_of_input_0(explorer, digits):
    model, images, _ = digits
    meta, arrays = view(explorer)
    assert (meta["layer"], meta["input_index"], meta["kind"]) == ("features.conv1", 0, "spatial")
    assert meta["key"] == "0|features.conv1"
    expected = model.features.conv1(images[:1])[0].detach()
    assert torch.allclose(torch.from_numpy(arrays["act"]), expected, atol=2e-3)
    assert arrays["image"].shape == (8, 8, 3)
    top = expected.flatten(1).max(1).values.argsort(descending=True)[:5]
    assert arrays["rank_max_units"][:5].tolist() == top.tolist()


def test_selection_changes_recompute_the_view(explorer):
    explorer.layer = "classifier.fc2"
    explorer.input_index = 5
    meta, arrays = view(explorer)
    assert (meta["layer"], meta["input_index"], meta["kind"]) == ("classifier.fc2", 5, "vector")
    assert arrays["act"].shape == (10,)


def test_layer_change_resets_the_unit(explorer):
    explorer.unit = 3
    explorer.layer = "features.conv2"
    assert explorer.unit is None


def test_bad_values_raise_and_show_in_the_widget(explorer):
    with pytest.raises(LayerNotFoundError, match=r"features\.conv2"):
        explorer.layer = "features.conv22"
    assert explorer.layer == "features.conv1"
    assert explorer.status["state"] == "error"
    assert "Did you mean" in explorer.status["message"]
    with pytest.raises(InputError, match="out of range"):
        explorer.input_index = 99
    assert explorer.input_index == 0
    with pytest.raises(InputError, match="16 units"):
        explorer.unit = 16
    explorer.unit = 15
    explorer.layer = "features.conv2"
    assert explorer.status["state"] == "ready", "a good change clears the error"


def test_changes_from_the_front_end_never_raise(explorer, digits):
    """A click arrives as a state update: good values apply; bad ones are rolled back,
    shown in the widget, and the front end is sent the good value again."""
    comm = front_end.connect(explorer)
    front_end.update(explorer, {"layer": "classifier.fc1"})
    assert explorer.layer == "classifier.fc1"
    assert view(explorer)[0]["layer"] == "classifier.fc1"
    for bad in (
        {"layer": "classifier.fc11"},
        {"input_index": 16},
        {"input_index": -1},
        {"unit": 64},
        {"saliency_method": "grad"},
        {"saliency_target": {"type": "nope"}},
        {"saliency_target": "unit"},
        {"examples_band": 10},
    ):
        (name,) = bad
        before = getattr(explorer, name)
        comm.sent.clear()
        front_end.update(explorer, bad)  # must not raise
        assert getattr(explorer, name) == before, f"{bad} was not rolled back"
        assert explorer.status["state"] == "error", bad
        assert explorer.status["where"] == "input"
        resent = [u for u in comm.updates() if name in u]
        assert resent and resent[-1][name] == before, f"the front end still shows {bad}"
    assert "Did you mean" in front_end_error(explorer, {"layer": "classifier.fc11"})
    front_end.update(explorer, {"layer": "features.conv2"})
    assert explorer.status["state"] == "ready", "a good change clears the error"


def front_end_error(ex, state):
    front_end.update(ex, state)
    return ex.status["message"]


def test_prefetch_messages_are_answered_with_tagged_blobs(explorer):
    comm = front_end.connect(explorer)
    front_end.send(explorer, {"type": "hello"})
    front_end.send(
        explorer, {"type": "fetch", "id": 7, "layer": "features.conv3", "input_index": 2}
    )
    front_end.send(explorer, {"type": "fetch", "id": 8, "layer": "nope", "input_index": 0})
    sent = comm.custom()
    assert sent[0][0] == {"type": "hello"}
    content, buffers = sent[1]
    assert content == {"type": "layer_view", "id": 7, "key": "2|features.conv3"}
    assert len(buffers) == 1
    meta, arrays = wire.decode(bytes(buffers[0]))
    assert (meta["layer"], meta["input_index"], meta["key"]) == (
        "features.conv3",
        2,
        content["key"],
    )
    assert arrays["act"].shape == (64, 4, 4)
    assert "No layer named 'nope'" in sent[2][0]["error"]
    assert sent[2][1] == []


def test_the_model_is_left_as_found(digits):
    model, images, _ = digits
    model.classifier.fc1.weight.grad = torch.zeros_like(model.classifier.fc1.weight)
    before = record(model)
    ex = actscope.Explorer(model, images)
    for layer in ("features.conv2", "classifier.fc2", "features.pool2"):
        ex.layer = layer
        ex.input_index = (ex.input_index + 3) % 16
    assert_unchanged(model, before)
    model.classifier.fc1.weight.grad = None


class Explodes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x > 100).any():
            raise RuntimeError("activation out of range")
        return self.lin(x)


def test_a_forward_that_raises(digits):
    model = Explodes()
    good_then_bad = torch.zeros(2, 4)
    good_then_bad[1] = 1000
    ex = actscope.Explorer(model, good_then_bad)
    before = record(model)
    with pytest.raises(ForwardError, match=r"input 1 .*activation out of range"):
        ex.input_index = 1
    assert ex.status["state"] == "error"
    meta, _ = view(ex)
    assert (meta["input_index"], meta["key"]) == (1, f"1|{ex.layer}")
    assert "activation out of range" in meta["error"]
    assert_unchanged(model, before)
    with pytest.raises(ForwardError):
        actscope.Explorer(model, good_then_bad[1:])


def test_a_layer_without_a_tensor_shows_a_note():
    class Side(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.log = nn.Identity()
            self.none = NoOut()
            self.lin = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.none(x)
            return self.lin(x)

    class NoOut(nn.Module):
        def forward(self, x: torch.Tensor) -> None:
            return None

    ex = actscope.Explorer(Side(), torch.randn(2, 3))
    assert ex.layer == "lin"
    with pytest.raises(LayerOutputError, match="returned no tensor"):
        ex.layer = "none"
    assert "returned no tensor" in view(ex)[0]["error"]


def test_nan_and_inf_are_counted_not_fatal():
    class Weird(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x)

    model = Weird()
    with torch.no_grad():
        model.lin.weight[0] = float("nan")
        model.lin.bias[1] = float("inf")
    ex = actscope.Explorer(model, torch.randn(3, 4))
    meta, arrays = view(ex)
    assert (meta["nan"], meta["posinf"]) == (1, 1)
    assert int(arrays["rank_max_units"][0]) == 1, "+Inf ranks first; NaN never does"


def test_huge_views_of_channels_hold_a_window_with_a_note(digits):
    model, images, _ = digits
    ex = actscope.Explorer(model, images[:2], layer="features.conv2", max_view_values=5 * 8 * 8)
    meta, arrays = view(ex)
    assert arrays["act"].shape[0] == 5 and meta["shape"][0] > 5
    assert "channels 0–4 are exact here" in meta["trimmed"]["note"]
    assert arrays["overview"].shape[0] == meta["shape"][0]  # every channel, as tiles
    # Rankings still cover every unit: they equal the ranking of the whole activation.
    full = ex.session.activation("features.conv2", 0)
    expected = actscope.rank_units(full, unit_axis=0, k=50)
    assert arrays["rank_max_units"].tolist() == expected.units.tolist()
    assert int(arrays["rank_max_units"].max()) >= 5, "a unit past the trimmed ones is ranked"


def test_text_views_carry_their_tokens(minilm, sentences):
    model, tokenizer = minilm
    ex = actscope.Explorer(model, sentences, tokenizer=tokenizer)
    ex.layer = "encoder.layer.3.intermediate"
    meta, arrays = view(ex)
    assert meta["tokens"][:3] == ["[CLS]", "the", "cat"]
    assert arrays["act"].shape == (len(meta["tokens"]), 1536)


def test_to_html_writes_a_page_and_reports_unwritable_paths(explorer, tmp_path):
    path = explorer.to_html(tmp_path / "x.html")
    text = path.read_text()
    assert "mountStandalone" in text
    assert "features.conv1" in text
    assert "<script src" not in text
    assert "cdn" not in text.lower()
    with pytest.raises(actscope.ActscopeError, match="Cannot write"):
        explorer.to_html(tmp_path / "missing" / "x.html")
    with pytest.raises(actscope.ActscopeError, match="is a folder"):
        explorer.to_html(tmp_path)


def test_an_lstm_with_integer_inputs(tiny_lstm):
    sequences = [torch.randint(0, 50, (n,)) for n in (5, 9, 3)]
    ex = actscope.Explorer(tiny_lstm, sequences, layer="lstm")
    meta, arrays = view(ex)
    assert (meta["kind"], arrays["act"].shape) == ("sequence", (5, 12))
    ex.input_index = 1
    assert view(ex)[1]["act"].shape == (9, 12), "inputs of different lengths are fine one at a time"


def test_a_bfloat16_model_gets_inputs_in_its_dtype(digits):
    import copy

    model, images, _ = digits
    low = copy.deepcopy(model).to(torch.bfloat16)
    ex = actscope.Explorer(low, images[:4], layer="features.conv2")
    assert ex.model_info["dtype"] == "bfloat16"
    _, arrays = view(ex)
    expected = model.features.conv2(torch.relu(model.features.conv1(images[:1])))[0]
    assert torch.allclose(torch.from_numpy(arrays["act"]), expected.detach(), atol=0.1)


def test_forward_says_how_a_batch_is_fed():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    batches = [{"features": torch.randn(1, 3), "ignored": torch.zeros(1)} for _ in range(2)]
    ex = actscope.Explorer(model, batches, forward=lambda m, b: m(b["features"]), layer="0")
    _, arrays = view(ex)
    expected = model[0](batches[0]["features"])[0].detach()
    assert torch.allclose(torch.from_numpy(arrays["act"]), expected, atol=1e-3)


def test_wrong_input_shape_names_the_module_and_both_shapes(digits):
    model, _, _ = digits
    before = record(model)
    with pytest.raises(ForwardError, match=r"expects \(N, 1, H, W\)") as info:
        actscope.Explorer(model, torch.zeros(2, 3, 8, 8))
    assert "(1, 3, 8, 8)" in str(info.value)
    assert_unchanged(model, before)


def test_empty_inputs_and_missing_tokenizer(digits):
    model, _, _ = digits
    with pytest.raises(InputError, match="empty"):
        actscope.Explorer(model, [])
    with pytest.raises(InputError, match="no tokenizer"):
        actscope.Explorer(model, ["some text"])


def _full_capture(model, x, index):
    """Every module's output for one input, the reference (a plain capture)."""
    with torch.no_grad(), actscope.capture(model) as acts:
        model(x[index : index + 1])
    return acts


def test_a_much_longer_input_is_captured_a_layer_at_a_time(minilm, sentences, monkeypatch):
    """The opening's byte budget is checked per input: a short input 0 keeps every layer of
    an input, but a text many times longer past the budget is captured one layer at a
    time, as a long input 0 would be."""
    model, tokenizer = minilm
    short, long_text = "a cat", " ".join(sentences)
    ex = actscope.Explorer(model, [short, long_text], tokenizer=tokenizer)
    ex.wait(60)
    session = ex.session
    lengths = [len(session.inputs.tokens(i)) for i in range(2)]
    assert lengths[1] > 8 * lengths[0]
    monkeypatch.setattr(  # input 0's every layer fits, four times it does not
        "actscope.engine.discovery.EVERY_LAYER_BYTES", 4 * session._every_layer_bytes
    )
    first, second = "encoder.layer.1.intermediate", "encoder.layer.4.output"
    session.activation(first, 1)
    session.activation(second, 1)
    held = session.cached()
    assert 1 not in held["all_layers"] and held["one_layer"][1] == [first, second]
    session.activation(first, 0)
    session.activation(second, 0)
    assert 0 in session.cached()["all_layers"]  # a short input: every layer at once


@pytest.mark.parametrize("budget", [None, 0])
def test_opening_runs_input_0_once_and_keeps_its_layers(twice_mlp, budget, monkeypatch):
    """Opening runs the model on input 0 once for real (discovery's probes run on fake
    tensors), keeping every layer while they fit the opening's byte budget, else the first
    layer only, and then each layer asked for (a pass each, not one of every layer)."""
    if budget is not None:
        monkeypatch.setattr("actscope.engine.discovery.EVERY_LAYER_BYTES", budget)
    x = torch.randn(3, 4)
    passes = []

    def count(_m, args):
        passes.append(("fake" if is_fake(args[0]) else "real", args[0].shape[0]))

    handle = twice_mlp.register_forward_pre_hook(count)
    try:
        ex = actscope.Explorer(twice_mlp, x, layer="shared#1")
        ex.wait(60)
        # Fake probes of the input and of it doubled (each layer's batch axis), one real pass.
        assert passes == [("fake", 1), ("fake", 2), ("real", 1)]
        session = ex.session
        held = session.cached()
        if budget is None:  # a small model: every layer fits
            assert (held["all_layers"], held["one_layer"]) == ([0], {})
        else:
            assert (held["all_layers"], held["one_layer"]) == ([], {0: ["shared", "shared#1"]})
        passes.clear()
        ex.layer = "out"
        ex.wait(60)
        if budget is None:
            assert passes == []  # every layer of input 0 was kept
            assert session.cached()["all_layers"] == [0]
        else:  # past the budget, each layer asked for is captured alone and kept
            assert passes == [("real", 1)]
            held = session.cached()
            assert (held["all_layers"], held["one_layer"]) == (
                [],
                {0: ["out", "shared", "shared#1"]},
            )
        passes.clear()
        ex.layer = "shared"
        ex.wait(60)
        assert passes == []
    finally:
        handle.remove()
    full = _full_capture(twice_mlp, x, 0)
    assert torch.equal(session.activation("out", 0), full["out"][0])
    assert torch.equal(session.activation("shared#1", 0), full["shared#1"][0])
    ex.layer = "shared#1"
    assert torch.allclose(torch.from_numpy(view(ex)[1]["act"]), full["shared#1"][0], atol=1e-3)
    ex.input_index = 2
    ex.wait(60)
    assert ex.session.cached()["one_layer"][2] == ["shared", "shared#1"]  # one module
    session.forget()
    assert session.cached() == {"all_layers": [], "one_layer": {}, "bytes": 0}


def test_the_session_holds_at_most_its_byte_budget_and_always_the_current_view(twice_mlp):
    x = torch.randn(6, 4)
    ex = actscope.Explorer(twice_mlp, x, layer="shared#1")
    one_input = ex.session.activations(0).nbytes  # every layer of input 0
    assert one_input > 0
    ex.session.cache_bytes = int(2.5 * one_input)  # two inputs captured whole, and a part
    for i in range(6):
        ex.input_index = i
        ex.layer = "out"  # a second layer of the input: every layer, in one pass
        ex.wait(60)
        assert ex.session.held_bytes() <= ex.session.cache_bytes
        full = _full_capture(twice_mlp, x, i)
        assert torch.equal(ex.session.activation("out", i), full["out"][0])
        ex.layer = "shared#1"
    assert ex.session.cached()["all_layers"][-2:] == [4, 5]  # the latest kept, the oldest gone
    ex.session.cache_bytes = 1  # under one input: all of the one asked for stays
    assert torch.equal(ex.session.activation("out", 5), _full_capture(twice_mlp, x, 5)["out"][0])
    ex.session.output(5)
    assert 5 in ex.session.cached()["all_layers"]  # its output did not push its layers out
    ex.input_index = 3
    ex.wait(60)
    assert ex.session.cached()["one_layer"] == {3: ["shared", "shared#1"]}
    assert set(ex.session.cached()["all_layers"]) <= {5}
    ex.store_bytes = 8 << 20  # the front end's store: adjustable, at least 1 MiB
    with pytest.raises(traitlets.TraitError, match="at least 1 MiB"):
        ex.store_bytes = 100
    assert ex.store_bytes == 8 << 20
    from actscope.widget.session import default_cache_bytes

    assert 0 < default_cache_bytes(torch.device("cpu")) <= 8 << 30  # a quarter of what is free


def test_a_first_look_stops_the_forward_pass_after_its_layer(twice_mlp):
    x = torch.randn(3, 4)
    later = []
    handle = twice_mlp.out.register_forward_hook(lambda *_: later.append(1))
    try:
        ex = actscope.Explorer(twice_mlp, x, layer="shared")
        ex.wait(60)
        before = len(later)  # discovering the layers, and input 0's predictions
        ex.input_index = 1
        ex.wait(60)
        # One whole pass: the outputs panel's, for the predictions (in the background). The
        # view's own pass stopped before ``out``, or there would be two.
        assert len(later) == before + 1, "the pass went on past the selected layer"
        assert ex.session.cached()["one_layer"][1] == ["shared"]  # stopped after its first call
        full = _full_capture(twice_mlp, x, 1)
        assert torch.equal(ex.session.activation("shared", 1), full["shared"][0])
        ex.layer = "shared#1"  # not in the early-stopped pass: one full pass now
        assert torch.equal(ex.session.activation("shared#1", 1), full["shared#1"][0])
        assert 1 in ex.session.cached()["all_layers"]
    finally:
        handle.remove()
    assert not twice_mlp._forward_hooks and not twice_mlp.shared._forward_hooks


def test_a_model_in_training_mode_shows_one_pass_per_input():
    """With dropout on, every layer of an input comes from the same forward pass."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.Dropout(0.5), nn.Linear(32, 4)).train()
    ex = actscope.Explorer(model, torch.randn(2, 8), layer="1")
    first = ex.session.activation("1", 0).clone()
    ex.session.activation("2", 0)
    assert torch.equal(ex.session.activation("1", 0), first)
    assert model.training


def test_stopping_early_is_bound_to_the_thread_that_asked(twice_mlp):
    """A mining run on the same model in another thread is never cut short."""
    from actscope.engine.forward import StopForward, stopping_after

    x = torch.randn(2, 4)
    elsewhere = []
    with stopping_after(twice_mlp, "shared"):
        worker = threading.Thread(target=lambda: elsewhere.append(twice_mlp(x)))
        worker.start()
        worker.join()
        with pytest.raises(StopForward):
            twice_mlp(x)
    assert elsewhere[0].shape == (2, 3)  # the other thread's pass ran to the end
    assert not twice_mlp.shared._forward_hooks
