"""Discovery without an extra forward pass: probes on fake tensors or on a few tokens give
the same layers as running the model on the whole input and on it doubled, and opening the
explorer runs the model once."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import actscope
from actscope.engine.discovery import Passes, discover
from actscope.engine.fake import FAILED, is_fake, run_fake
from actscope.engine.layers import per_example, view_layout

from .model_state import assert_unchanged, record
from .tiny_lms import quietly, random_gpt2, random_llama


def by_running(model, batch):
    """The layers as found by running the model on the batch (every output kept) and on the
    batch doubled: discovery's way before probes, still its fallback."""
    return Passes(model, None, None, None).by_running(batch, {}, "the example").layers


class RealPasses:
    """Counts the model's passes on real tensors (and on fake ones apart)."""

    def __init__(self, model: nn.Module) -> None:
        self.real: list[tuple[int, ...]] = []
        self.fake = 0
        self._handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, _module, args, kwargs) -> None:
        first = args[0] if args else next(iter(kwargs.values()))
        if is_fake(first):
            self.fake += 1
        else:
            self.real.append(tuple(first.shape))

    def remove(self) -> None:
        self._handle.remove()


def _cases(digits, minilm):
    cnn, images, _ = digits
    bert, tokenizer = minilm
    text = dict(tokenizer(["the cat sat on the mat near the door"], return_tensors="pt"))
    from .conftest import TinyLSTM, TwiceMLP

    torch.manual_seed(0)
    ids = torch.randint(0, 97, (1, 24))
    return {
        "digits CNN": (cnn, images[:1]),
        "MiniLM": (bert, text),
        "LSTM": (TinyLSTM().eval(), torch.randint(0, 50, (1, 11))),
        "a submodule called twice": (TwiceMLP().eval(), torch.randn(1, 4)),
        "GPT-2": (quietly(random_gpt2), {"input_ids": ids}),
        "Llama": (quietly(random_llama), {"input_ids": ids}),
    }


@pytest.mark.parametrize(
    "case", ["digits CNN", "MiniLM", "LSTM", "a submodule called twice", "GPT-2", "Llama"]
)
def test_list_layers_runs_no_real_pass_and_finds_the_same_layers(case, digits, minilm):
    model, batch = _cases(digits, minilm)[case]
    expected = by_running(model, batch)
    before = record(model)
    passes = RealPasses(model)
    try:
        found = actscope.list_layers(model, batch)
    finally:
        passes.remove()
    assert_unchanged(model, before)
    assert found == expected
    assert passes.fake >= 1
    # Token inputs probe a few real tokens (each layer's batch axis); nothing else is real.
    assert all(shape[-1] <= 8 for shape in passes.real), passes.real


@pytest.mark.parametrize("case", ["digits CNN", "MiniLM", "GPT-2", "Llama"])
def test_the_explorer_opens_with_one_real_pass_of_the_whole_input(
    case, digits, minilm, monkeypatch
):
    """With every layer over the opening's budget (as on a large model), the first view's
    layer is kept from the one real pass of the input."""
    monkeypatch.setattr("actscope.engine.discovery.EVERY_LAYER_BYTES", 0)
    model, batch = _cases(digits, minilm)[case]
    whole = tuple((batch["input_ids"] if isinstance(batch, dict) else batch).shape)
    passes = RealPasses(model)
    try:
        ex = actscope.Explorer(model, [batch] if isinstance(batch, dict) else batch, prefetch=False)
        opening = list(passes.real)
        passes.real.clear()
        shown = ex.session.activation(ex.layer, 0)
    finally:
        passes.remove()
    first = opening.index(whole)  # the first view's pass (other panels may add their own)
    # Before it, only the short token probes (images are probed on fake tensors).
    assert all(shape[-1] <= 8 for shape in opening[:first]), opening
    assert first == (0 if case == "digits CNN" else 2)
    assert passes.real == []  # the first view's activations were kept from that pass
    assert list(ex.session.cached()["one_layer"]) == [0]
    info = ex.session.info(ex.layer)
    with torch.no_grad(), actscope.capture(model, [ex.layer]) as acts:
        model(**batch) if isinstance(batch, dict) else model(batch)
    expected = view_layout(per_example(acts[ex.layer], info.batch_axis), info.kind, info.unit_axis)
    torch.testing.assert_close(shown, expected, rtol=1e-5, atol=1e-6)


class NeedsValues(nn.Module):
    """A forward pass that reads a value (``.item()``) and one with a data-dependent shape."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 6)
        self.out = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lin(x)
        if h.sum().item() > 1e9:  # needs the value
            h = h * 0
        return self.out(h[:, torch.nonzero(h[0] > -1e9).flatten()])


def test_a_model_that_needs_values_falls_back_to_running_it():
    torch.manual_seed(0)
    model = NeedsValues().eval()
    x = torch.randn(1, 4)
    assert run_fake(model, x) is FAILED
    expected = by_running(model, x)
    before = record(model)
    assert actscope.list_layers(model, x) == expected
    assert_unchanged(model, before)
    found = discover(model, x, keep="out")
    assert found.every_layer and found.layers == expected  # the fallback keeps every layer
    ex = actscope.Explorer(model, x, layer="out", prefetch=False)
    assert ex.session.cached()["all_layers"] == [0]


def test_opening_keeps_every_layer_within_its_budget_and_one_past_it(digits, monkeypatch):
    model, images, _ = digits
    expected = _whole_capture(model, images[:1])
    sizes = {name: t.numel() * t.element_size() for name, t in expected.items()}
    found = discover(model, images[:1], keep="features.conv2")
    assert found.every_layer and set(found.acts) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(found.acts[name], tensor)
    # A budget the outputs pass: the kept layer only, whatever order the layers ran in.
    monkeypatch.setattr("actscope.engine.discovery.EVERY_LAYER_BYTES", sum(sizes.values()) // 2)
    found = discover(model, images[:1], keep="features.conv2")
    assert not found.every_layer and list(found.acts) == ["features.conv2"]
    assert torch.equal(found.acts["features.conv2"], expected["features.conv2"])
    assert found.layers == by_running(model, images[:1])


def _whole_capture(model, batch):
    with torch.no_grad(), actscope.capture(model) as acts:
        model(batch)
    return {name: acts[name] for name in acts if isinstance(acts.raw(name), torch.Tensor)}


class Caching(nn.Module):
    """Batch norm in training mode, and a cache the forward pass keeps as an attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.norm = nn.BatchNorm2d(3)
        self.cache: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.cache = x.mean()
        return self.norm(self.conv(x))


def test_a_fake_pass_leaves_the_model_as_found():
    torch.manual_seed(0)
    model = Caching().train()
    model(torch.randn(2, 1, 6, 6))  # statistics and a real cache to keep
    before = record(model)
    cache = model.cache
    x = torch.randn(1, 1, 6, 6)
    rng = torch.get_rng_state()
    infos = actscope.list_layers(model, x)
    assert [i.name for i in infos] == ["conv", "norm"]
    assert_unchanged(model, before)
    assert model.cache is cache and not is_fake(model.cache)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(not is_fake(t) for t in [*model.parameters(), *model.buffers()])
    fresh = Caching().train()
    actscope.list_layers(fresh, torch.randn(1, 1, 6, 6))
    assert fresh.cache is None  # a cache the fake pass set is taken away


class OneAtATime(nn.Module):
    """A model that takes one example only (its forward flattens the batch away)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.view(1, 4))


def test_a_model_of_one_example_at_a_time_still_opens():
    torch.manual_seed(0)
    model = OneAtATime().eval()
    x = torch.randn(1, 4)
    infos = {i.name: i for i in actscope.list_layers(model, x)}
    assert (infos["lin"].shape, infos["lin"].batch_axis) == ((6,), 0)
    assert by_running(model, x) == list(infos.values())
    ex = actscope.Explorer(model, x, prefetch=False)
    assert ex.layer == "lin"


def test_a_selector_that_needs_values_runs_on_the_real_output():
    torch.manual_seed(0)
    model = NeedsValues().eval()
    model.forward = lambda x: model.out(model.lin(x))  # type: ignore[method-assign]
    x = torch.randn(1, 4)

    def wide(o: torch.Tensor) -> torch.Tensor:  # a boolean mask: needs the values
        return o[:, o[0] > o[0].min()]

    infos = {i.name: i for i in actscope.list_layers(model, x, outputs={"lin": wide})}
    assert infos["lin"].shape == (5,)
    ex = actscope.Explorer(model, x, outputs={"lin": wide}, layer="lin", prefetch=False)
    assert ex.session.activation("lin", 0).shape == (5,)


def test_a_fake_pass_reads_the_real_parameters_in_place():
    """Another thread's real pass meanwhile must see the model's own tensors."""
    torch.manual_seed(0)
    model = Caching().eval()
    weight, seen = model.conv.weight, []
    handle = model.conv.register_forward_pre_hook(
        lambda m, _args: seen.append((m.weight is weight, is_fake(m.weight)))
    )
    try:
        assert run_fake(model, torch.randn(1, 1, 6, 6)) is not FAILED
    finally:
        handle.remove()
    assert seen == [(True, False)]


@pytest.mark.parametrize("inputs", ["image", "tokens"])
def test_a_cancelled_job_inside_a_probe_is_passed_on_not_taken_for_a_failure(inputs):
    """A job's progress hook raising Cancelled during a fake pass (an image batch) or a short
    real probe (tokens) ends discovery with Cancelled: no fallback pass, no ForwardError."""
    from actscope.widget.jobs import Cancelled

    if inputs == "image":
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
        model(torch.zeros(1, 1, 8, 8))  # the lazy layer made
        batch = torch.zeros(2, 1, 8, 8)
    else:
        model = quietly(random_gpt2)
        batch = {"input_ids": torch.randint(0, 100, (1, 32))}
    passes = RealPasses(model)

    def cancel(*_args):
        raise Cancelled("the user pressed Cancel")

    handle = model.register_forward_hook(cancel)
    try:
        with pytest.raises(Cancelled):
            actscope.list_layers(model, batch)
    finally:
        handle.remove()
        passes.remove()
    assert len(passes.real) + passes.fake == 1  # the first pass raised and nothing ran after


def test_list_layers_run_true_runs_a_token_example_for_real_and_finds_the_same_layers(digits):
    """``run=True`` (what ``mine`` asks): a token example runs for real after its short
    probes, with no fake pass, and gives the fake pass's layers; an image's probes are
    already fake passes of the example, so nothing more runs."""
    gpt2 = quietly(random_gpt2)
    ids = {"input_ids": torch.randint(0, 97, (1, 24), generator=torch.Generator().manual_seed(2))}
    cnn, images, _ = digits
    for model, batch, expected_real in [
        (gpt2, ids, [(1, 8), (2, 8), (1, 24)]),
        (cnn, images[:1], []),
    ]:
        plain = actscope.list_layers(model, batch)
        passes = RealPasses(model)
        try:
            found = actscope.list_layers(model, batch, run=True)
        finally:
            passes.remove()
        assert found == plain
        assert passes.real == expected_real
        assert passes.fake == (0 if expected_real else 2)
