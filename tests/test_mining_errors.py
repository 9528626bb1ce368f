"""mine() on bad input: a clear error naming the problem and the fix, the model untouched."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import actscope
from actscope.engine.errors import ActscopeError, InputError, LayerNotFoundError, LayerOutputError
from actscope.engine.mining import MiningCancelled, MiningInterrupted, mine
from actscope.engine.mining.run import interrupts_deferred

from .model_state import assert_unchanged, record
from .test_mining import MapProbe, SeqProbe, batches_of, brute_force, expected_top


@pytest.fixture
def probe():
    model = MapProbe().eval()
    return model, record(model)


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 2, 3, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "dataset",
    [[], torch.empty(0, 2, 3, 3), iter([]), DataLoader(torch.empty(0, 2, 3, 3), batch_size=4)],
    ids=["list", "tensor", "iterator", "DataLoader"],
)
def test_empty_dataset(probe, dataset):
    model, before = probe
    with pytest.raises(InputError, match="The dataset is empty"):
        mine(model, dataset, ["map"], progress=False)
    assert_unchanged(model, before)


def test_k_larger_than_the_dataset_keeps_every_example_and_says_so(probe):
    model, before = probe
    data = images(5)
    with pytest.warns(UserWarning, match="k=20 is more than the dataset's 5 examples"):
        index = mine(model, data, ["map"], k=20, progress=False)
    assert_unchanged(model, before)
    assert index.k == 20 and index.n_examples == 5
    top = index.top("map", 1)
    assert len(top) == 5 and sorted(top.ids.tolist()) == [0, 1, 2, 3, 4]
    # The empty slots keep shards mergeable: 5 + 5 examples fill 10 of the 20.
    with pytest.warns(UserWarning, match="k=20"):
        more = mine(model, images(5, seed=1), ["map"], k=20, id_offset=5, progress=False)
    assert len(index.merge(more).top("map", 1)) == 10


def test_layer_not_in_the_model(probe):
    model, before = probe
    with pytest.raises(LayerNotFoundError, match=r"No layer named 'mapp'.*Did you mean 'map'"):
        mine(model, images(4), ["mapp"], progress=False)
    with pytest.raises(InputError, match="No layers to mine"):
        mine(model, images(4), [], progress=False)
    assert_unchanged(model, before)


def test_layer_that_returns_nothing_or_does_not_run(probe):
    class Partial(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = torch.nn.Identity()
            self.unused = torch.nn.Identity()

        def forward(self, x):
            return self.used(x)

    model = Partial().eval()
    with pytest.raises(LayerOutputError, match="'unused' did not run"):
        mine(model, images(4), ["unused"], progress=False)
    with pytest.raises(LayerOutputError, match="no call 'used#1'"):
        mine(model, images(4), ["used#1"], progress=False)


def test_bad_arguments(probe):
    model, before = probe
    for kwargs, pattern in [
        ({"k": 0}, "k must be a positive int"),
        ({"batch_size": -1}, "batch_size must be a positive int"),
        ({"reservoir": 0}, "reservoir must be a positive int"),
        ({"id_offset": -3}, "id_offset must be >= 0"),
    ]:
        with pytest.raises(InputError, match=pattern):
            mine(model, images(4), ["map"], progress=False, **kwargs)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        mine("model", images(4), ["map"])
    with pytest.raises(InputError, match="no tokenizer was given"):
        mine(model, ["some", "text"], ["map"], progress=False)
    with pytest.raises(InputError, match=r"shuffle=False"):
        mine(model, DataLoader(images(8), batch_size=4, shuffle=True), ["map"], progress=False)
    assert_unchanged(model, before)


def test_mixed_shapes_in_a_list_are_named_before_mining(probe):
    model, before = probe
    data = [*images(5), torch.zeros(2, 4, 4)]
    with pytest.raises(InputError, match=r"Inputs 0 and 5 have shapes \(2, 3, 3\) and \(2, 4, 4\)"):
        mine(model, data, ["map"], batch_size=4, progress=False)
    assert_unchanged(model, before)
    index = mine(model, data, ["map"], k=3, batch_size=1, progress=False)  # the fix it suggests
    assert index.n_examples == 6


class Ragged(Dataset):
    """Example 9 has another shape."""

    def __len__(self) -> int:
        return 12

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.zeros(2, 4, 4) if i == 9 else images(12)[i]


def test_mixed_shapes_midway_keep_what_was_mined(probe):
    model, before = probe
    with pytest.raises(
        MiningInterrupted, match=r"batch 2 .*examples from id 8.*have shapes"
    ) as err:
        mine(model, Ragged(), ["map"], batch_size=4, progress=False)
    assert_unchanged(model, before)
    assert isinstance(err.value.__cause__, InputError)
    assert err.value.batch == 2 and err.value.start == 8
    assert err.value.index.n_examples == 8


def test_batches_whose_units_change_midway(probe):
    model, before = probe
    batches = [images(4), images(4, 1), torch.zeros(4, 3, 3, 3)]
    with pytest.raises(MiningInterrupted, match=r"has 3 units in this batch .* but 2 in the first"):
        mine(model, iter(batches), ["map"], progress=False)
    assert_unchanged(model, before)


def failing(batches, at):
    for i, batch in enumerate(batches):
        if i == at:
            raise OSError("the disk went away")
        yield batch


def test_dataset_that_raises_midway_leaves_a_valid_index(probe):
    model, before = probe
    data = images(40)
    batches = list(batches_of(data, 8))
    with pytest.raises(MiningInterrupted) as err:
        mine(model, failing(batches, 3), ["map"], k=5, progress=False)
    assert_unchanged(model, before)
    error = err.value
    assert isinstance(error, ActscopeError) and isinstance(error.__cause__, OSError)
    message = str(error)
    assert "batch 3 (examples from id 24): OSError: the disk went away" in message
    assert "24 examples" in message and ".index" in message and "id_offset" in message
    assert error.batch == 3
    # The partial index is exactly the index of the first 3 batches.
    partial = error.index
    assert partial.n_examples == 24
    maxima, argmax, _, _ = brute_force(model, batches[:3], "map")
    ids, values, _ = expected_top(maxima, argmax, 5)
    np.testing.assert_array_equal(partial.tensors()["map/top_ids"].numpy(), ids)
    np.testing.assert_array_equal(partial.tensors()["map/top_values"].numpy(), values)
    # ...and the rest can be mined and merged in.
    rest = mine(model, data[24:], ["map"], k=5, batch_size=8, id_offset=24, progress=False)
    whole = mine(model, data, ["map"], k=5, batch_size=8, progress=False)
    merged = partial.merge(rest).tensors()
    for name, tensor in whole.tensors().items():
        assert torch.equal(merged[name], tensor), name


def test_model_that_raises_midway(probe):
    class Fragile(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.map = torch.nn.Identity()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls == 5:  # two probe passes, then batches 0, 1, 2
                raise RuntimeError("CUDA out of memory (simulated)")
            return self.map(x)

    model = Fragile().eval()
    with pytest.raises(MiningInterrupted, match=r"batch 2 .*ForwardError.*out of memory") as err:
        mine(model, images(20), ["map"], batch_size=5, progress=False)
    assert err.value.index.n_examples == 10


def test_ctrl_c_leaves_a_valid_index(probe):
    model, before = probe

    def interrupt(progress):
        if progress["batch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(
        MiningCancelled, match=r"interrupted at batch 2 \(examples from id 10\)"
    ) as err:
        mine(model, images(30), ["map"], batch_size=5, progress=False, callback=interrupt)
    assert_unchanged(model, before)
    assert isinstance(err.value, KeyboardInterrupt) and isinstance(err.value, MiningInterrupted)
    assert err.value.index.n_examples == 10
    assert err.value.index.top("map", 0).ids.max() < 10


def test_ctrl_c_inside_an_update_waits_for_it_to_finish():
    done = []

    def update():
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("finished after the signal")

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with pytest.raises(KeyboardInterrupt):
            update()
        assert done == ["finished after the signal"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        # A process that ignores Ctrl-C (a background job) goes on ignoring it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        update()
        assert done == ["finished after the signal"] * 2
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_hooks_are_removed_after_every_failure():
    model = SeqProbe().eval()
    before = record(model)
    data = {"x": torch.randn(10, 4, 3)}
    with pytest.raises(MiningInterrupted):
        mine(model, failing(batches_of(data, 2), 2), ["seq", "vec"], progress=False)
    with pytest.raises(MiningCancelled):
        mine(model, data, ["seq"], batch_size=2, progress=False, callback=_raise_interrupt)
    assert_unchanged(model, before)
    assert actscope.list_layers(model, data["x"][:1])  # still a working model


def _raise_interrupt(_progress):
    raise KeyboardInterrupt


def test_training_mode_is_flagged_and_left_alone():
    model = MapProbe()  # training mode
    with pytest.warns(UserWarning, match=r"training mode.*model.eval\(\)"):
        mine(model, images(4), ["map"], k=2, progress=False)
    assert model.training
