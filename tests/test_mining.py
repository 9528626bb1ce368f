"""mine(): exactness against a brute-force sort, statistics, strategies and dataset forms.

The brute force runs the same batches through ``actscope.capture``, keeps every
activation, and sorts with numpy (ties: lower example id; positions: first maximum).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset

import actscope
from actscope.engine.mining import keys as K
from actscope.engine.mining import mine

from .model_state import assert_unchanged, record

# -- tiny models whose layers show their input, so the brute force is plain arithmetic ----------


class SeqProbe(nn.Module):
    """``seq``: (B, T, D) as given; ``vec``: (B, D) the mean over tokens; ``flip``: (B, D, T)."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Identity()
        self.vec = nn.Identity()
        self.flip = nn.Identity()

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        self.flip(x.transpose(1, 2))
        self.vec(x.mean(1))
        return self.seq(x)


class MapProbe(nn.Module):
    """``map``: (B, C, H, W) as given."""

    def __init__(self) -> None:
        super().__init__()
        self.map = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.map(x)


def tied_sequences(
    n: int, seed: int = 0, t: int = 9, d: int = 6, padding: str = "right"
) -> dict[str, torch.Tensor]:
    """Values in {-1.5, ..., 1.5} (many ties, zeros), random lengths.

    ``padding``: ``"right"`` (tokens first), ``"left"`` (padding first) or ``"holes"``
    (any positions masked, at least one kept).
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-3, 4, (n, t, d), generator=g).float() / 2
    lengths = torch.randint(1, t + 1, (n,), generator=g)
    mask = (torch.arange(t)[None] < lengths[:, None]).long()
    if padding == "left":
        mask = mask.flip(1)
    elif padding == "holes":
        mask = (torch.rand(n, t, generator=g) < 0.6).long()
        mask[:, 0] = 1
    return {"x": x, "attention_mask": mask}


def batches_of(data, batch_size):
    """The batches mine() makes from a dict of batched tensors or a batch tensor."""
    n = len(data["x"]) if isinstance(data, dict) else len(data)
    for i in range(0, n, batch_size):
        if isinstance(data, dict):
            yield {k: v[i : i + batch_size] for k, v in data.items()}
        else:
            yield data[i : i + batch_size]


# -- brute force ----------------------------------------------------------------------------------


def brute_force(model, batches, layer, *, forward=None, unit_axis=None, masked=True):
    """Per-example maxima (B, U), their first positions, active counts and valid positions."""
    maxima, argmax = [], []
    active, positions = 0, 0
    for batch in batches:
        with torch.no_grad(), actscope.capture(model, [layer]) as acts:
            (forward or _call)(model, batch)
        x = acts[layer].float().numpy()
        if unit_axis is not None:  # units to the end, positions flattened in order
            x = np.moveaxis(x, 1 + unit_axis, -1)
        elif x.ndim == 4:
            x = np.moveaxis(x, 1, -1)
        x = x.reshape(x.shape[0], -1, x.shape[-1]) if x.ndim > 2 else x[:, None, :]
        valid = np.ones(x.shape[:2], dtype=bool)
        if masked and isinstance(batch, dict) and "attention_mask" in batch:
            mask = batch["attention_mask"].numpy().astype(bool)
            if mask.shape[1] == x.shape[1]:
                valid = mask
        values = np.where(valid[:, :, None], x, -np.inf)
        maxima.append(values.max(1))
        argmax.append(values.argmax(1))
        active += ((x > 0) & valid[:, :, None]).sum((0, 1))
        positions += int(valid.sum())
    return np.concatenate(maxima), np.concatenate(argmax), active, positions


def _call(model, batch):
    return model(**batch) if isinstance(batch, dict) else model(batch)


def expected_top(maxima, argmax, k, offset=0):
    """(U, k) ids, values, positions by value descending, then id ascending."""
    n, units = maxima.shape
    ids = np.arange(n) + offset
    out_ids, out_values, out_pos = [], [], []
    for u in range(units):
        order = np.lexsort((ids, -maxima[:, u]))[:k]
        out_ids.append(ids[order])
        out_values.append(maxima[order, u])
        out_pos.append(argmax[order, u])
    return np.array(out_ids), np.array(out_values), np.array(out_pos)


def assert_top_exact(index, layer, expected, k):
    ids, values, positions = expected
    arrays = index.tensors()
    n = ids.shape[1]
    np.testing.assert_array_equal(arrays[f"{layer}/top_ids"][:, :n].numpy(), ids)
    np.testing.assert_array_equal(arrays[f"{layer}/top_values"][:, :n].numpy(), values)
    np.testing.assert_array_equal(arrays[f"{layer}/top_positions"][:, :n].numpy(), positions)
    assert (arrays[f"{layer}/top_ids"][:, n:] == -1).all()
    for unit in (0, ids.shape[0] - 1):
        top = index.top(layer, unit)
        assert len(top) == min(k, len(ids[unit]))
        np.testing.assert_array_equal(top.ids.numpy(), ids[unit])


def bucket_of(v: float, buckets: K.Buckets) -> int:
    """The histogram bucket of one value, from frexp (independent of the bit trick)."""
    if math.isnan(v):
        raise ValueError("NaN")
    magnitude = abs(v)
    if magnitude < 2.0**buckets.min_exp:
        return buckets.zero
    if magnitude >= 2.0**buckets.max_exp:
        m = buckets.per_side
    else:
        mantissa, exponent = math.frexp(magnitude)  # magnitude = mantissa * 2**exponent
        e = exponent - 1
        m = (e - buckets.min_exp) * (1 << buckets.bits) + int(
            (2 * mantissa - 1) * (1 << buckets.bits)
        )
    return buckets.zero + 1 + m if v > 0 else buckets.zero - 1 - m


# -- exactness ------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["pruned", "full"])
@pytest.mark.parametrize(
    ("batch_size", "padding", "length"),
    [
        (1, "right", 9),
        (7, "right", 9),
        (64, "right", 9),
        (7, "left", 9),
        (7, "holes", 9),
        (16, "right", 70),
    ],
)
def test_sequences_with_ties_and_padding_equal_brute_force(strategy, batch_size, padding, length):
    model = SeqProbe().eval()
    data = tied_sequences(61, padding=padding, t=length)
    k = 10
    before = record(model)
    index = mine(
        model,
        data,
        ["seq", "vec", "flip"],
        k=k,
        batch_size=batch_size,
        strategy=strategy,
        unit_axes={"flip": 0},
        progress=False,
    )
    assert_unchanged(model, before)
    assert index.n_examples == 61
    for layer, unit_axis in (("seq", None), ("vec", None), ("flip", 0)):
        maxima, argmax, active, positions = brute_force(
            model, batches_of(data, batch_size), layer, unit_axis=unit_axis
        )
        assert_top_exact(index, layer, expected_top(maxima, argmax, k), k)
        arrays = index.tensors()
        np.testing.assert_array_equal(arrays[f"{layer}/active_positions"].numpy(), active)
        assert int(arrays[f"{layer}/positions"]) == positions
        np.testing.assert_array_equal(arrays[f"{layer}/lowest"].numpy(), maxima.min(0))
        np.testing.assert_array_equal(
            arrays[f"{layer}/active_examples"].numpy(), (maxima > 0).sum(0)
        )
    # Padding was ignored: the token layer counts only real tokens.
    assert int(index.tensors()["seq/positions"]) == int(data["attention_mask"].sum())
    assert index.layer("seq").kind == "sequence" and index.layer("flip").unit_axis == 0


@pytest.mark.parametrize("reservoir", [100, 20, 5])
def test_strategies_give_identical_indexes(reservoir):
    """Also the sample's side table on the CPU path: whole columns while every pair is a
    candidate (100), a table that fills and merges (20), batches wider than it (5)."""
    model = SeqProbe().eval()
    data = tied_sequences(200, seed=3, t=17, d=12)
    data["x"] = torch.randn(data["x"].shape, generator=torch.Generator().manual_seed(1))
    kwargs = {"k": 5, "batch_size": 16, "unit_axes": {"flip": 0}, "progress": False}
    kwargs["reservoir"] = reservoir
    pruned = mine(model, data, ["seq", "vec", "flip"], strategy="pruned", **kwargs).tensors()
    full = mine(model, data, ["seq", "vec", "flip"], strategy="full", **kwargs).tensors()
    assert pruned.keys() == full.keys()
    for name in pruned:
        assert torch.equal(pruned[name], full[name]), name


@pytest.mark.parametrize("strategy", ["pruned", "full"])
def test_spatial_maps_equal_brute_force(strategy):
    model = MapProbe().eval()
    g = torch.Generator().manual_seed(5)
    images = (torch.randint(-2, 5, (45, 3, 4, 5), generator=g) / 4).float()
    index = mine(model, images, ["map"], k=8, batch_size=10, strategy=strategy, progress=False)
    maxima, argmax, active, positions = brute_force(model, batches_of(images, 10), "map")
    assert_top_exact(index, "map", expected_top(maxima, argmax, 8), 8)
    np.testing.assert_array_equal(index.tensors()["map/active_positions"].numpy(), active)
    assert positions == 45 * 20
    # A flat position is h * W + w.
    top = index.top("map", 2)
    h, w = index.location("map", top.positions[0])
    assert float(images[top.ids[0], 2, h, w]) == float(top.values[0])


def test_digits_cnn_equals_brute_force(digits):
    from actscope.demo.digits import digits_data

    model, _, _ = digits
    images, _ = digits_data()
    images = images[:600]
    layers = ["features.conv3", "features.relu4", "classifier.fc1"]
    before = record(model)
    index = mine(model, images, layers, k=12, batch_size=128, progress=False)
    assert_unchanged(model, before)
    for layer in layers:
        maxima, argmax, active, _ = brute_force(model, batches_of(images, 128), layer)
        assert_top_exact(index, layer, expected_top(maxima, argmax, 12), 12)
        np.testing.assert_array_equal(index.tensors()[f"{layer}/active_positions"].numpy(), active)
        counts = index.tensors()[f"{layer}/histogram"]
        expected = np.zeros_like(counts.numpy())
        for u in range(maxima.shape[1]):
            for v in maxima[:, u]:
                expected[u, bucket_of(float(v), index.settings.buckets)] += 1
        np.testing.assert_array_equal(counts.numpy(), expected)
    assert index.layer("features.conv3").kind == "spatial"
    assert index.layer("classifier.fc1").kind == "vector"


@pytest.mark.slow
def test_minilm_on_real_text_equals_brute_force(minilm):
    from actscope.demo.text import corpus

    model, tokenizer = minilm
    texts = corpus(48)
    layer = "encoder.layer.2.intermediate"
    before = record(model)
    index = mine(
        model,
        texts,
        [layer],
        k=6,
        batch_size=16,
        tokenizer=tokenizer,
        max_length=64,
        progress=False,
    )
    assert_unchanged(model, before)
    batches = [
        dict(
            tokenizer(
                texts[i : i + 16], return_tensors="pt", padding=True, truncation=True, max_length=64
            )
        )
        for i in range(0, 48, 16)
    ]
    maxima, argmax, active, positions = brute_force(model, batches, layer)
    assert_top_exact(index, layer, expected_top(maxima, argmax, 6), 6)
    np.testing.assert_array_equal(index.tensors()[f"{layer}/active_positions"].numpy(), active)
    assert positions == sum(int(b["attention_mask"].sum()) for b in batches)
    assert index.n_examples == 48 and index.layer(layer).n_units == 1536
    # Padding matters here: the same pass without the mask would give other maxima.
    unmasked = brute_force(model, batches, layer, masked=False)[0]
    assert not np.array_equal(unmasked, maxima)


def test_nan_counts_as_minus_infinity_and_is_counted():
    model = SeqProbe().eval()
    data = tied_sequences(20, seed=2)
    data["attention_mask"][:] = 1
    data["x"][3, 0, 1] = float("nan")
    index = mine(model, data, ["seq"], k=20, batch_size=8, progress=False)
    top = index.top("seq", 1)
    assert top.ids[-1] == 3 and top.values[-1] == float("-inf")
    assert index.summary("seq", 1).nan_examples == 1
    assert index.summary("seq", 0).nan_examples == 0


# -- statistics -----------------------------------------------------------------------------------


def test_histogram_and_quantiles_are_within_a_bucket_of_the_truth():
    model = SeqProbe().eval()
    g = torch.Generator().manual_seed(7)
    data = {"x": torch.randn(500, 5, 4, generator=g).exp() - 0.8}
    index = mine(model, data, ["seq"], k=3, batch_size=64, progress=False)
    maxima, _, _, _ = brute_force(model, batches_of(data, 64), "seq")
    buckets = index.settings.buckets
    qs = [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]
    for u in range(4):
        truth = np.sort(maxima[:, u])
        hist = index.histogram("seq", u)
        assert int(hist.counts.sum()) == 500
        assert float(hist.edges[0]) == truth[0] and float(hist.edges[-1]) == truth[-1]
        assert bool((hist.edges[1:] >= hist.edges[:-1]).all())
        estimates = index.quantiles("seq", u, qs)
        for q, estimate in zip(qs, estimates.tolist(), strict=True):
            exact = truth[max(math.ceil(q * 500), 1) - 1]
            bound = max(abs(exact) * 2.0**-buckets.bits, 2.0 ** (buckets.min_exp + 1))
            assert abs(estimate - exact) <= bound + 1e-6, (u, q, estimate, exact)
        assert estimates[0] == truth[0] and estimates[-1] == truth[-1]
        rebinned = index.histogram("seq", u, bins=10)
        assert rebinned.edges.shape == (11,) and rebinned.counts.sum().item() == pytest.approx(500)


def test_mostly_zero_maxima_count_alike_on_both_paths():
    """The CPU path bins only the nonzero maxima and adds the zeros to one bucket; on
    ReLU-like data (most maxima 0, some -0.0, tiny, negative, NaN or infinite) it must
    give the dense path's histogram, lowest values and active examples."""
    g = torch.Generator().manual_seed(5)
    x = torch.relu(torch.randn(300, 6, 40, generator=g) - 2.2)
    x[::7] = -x[::7]  # -0.0 where 0, and negative maxima
    x[5, 2, :10] = 1e-6  # below the smallest bucket: the zero bucket
    x[9, 0, 3] = float("nan")
    x[11, 4, 7] = float("inf")
    x[13, :, 8] = float("-inf")
    data = {"x": x}
    model = SeqProbe().eval()
    kwargs = {"k": 4, "batch_size": 64, "progress": False}
    sparse = mine(model, data, ["seq"], strategy="pruned", **kwargs)
    dense = mine(model, data, ["seq"], strategy="full", **kwargs).tensors()
    maxima, _, _, _ = brute_force(model, batches_of(data, 64), "seq")
    assert (maxima == 0).mean() > 0.8  # the case this path is for
    for name, tensor in sparse.tensors().items():
        assert torch.equal(tensor, dense[name]), name
    hist = sparse.tensors()["seq/histogram"]
    zero = sparse.settings.buckets.zero
    small = 2.0**sparse.settings.buckets.min_exp
    np.testing.assert_array_equal(hist[:, zero].numpy(), (np.abs(maxima) < small).sum(0))
    assert (hist.sum(1) == 300).all()


def test_reservoir_is_the_seeded_bottom_of_every_example():
    model = SeqProbe().eval()
    data = tied_sequences(300, seed=4)
    index = mine(model, data, ["seq"], k=2, batch_size=32, reservoir=16, seed=11, progress=False)
    maxima, _, _, _ = brute_force(model, batches_of(data, 32), "seq")
    ids = torch.arange(300)
    units = K.unit_hashes(maxima.shape[1], 11)
    keys = K.sample_keys(ids[:, None], units[None, :], 11)  # (N, U)
    arrays = index.tensors()
    for u in range(maxima.shape[1]):
        chosen = keys[:, u].argsort()[:16]
        assert arrays["seq/sample_ids"][u].tolist() == chosen.tolist()
        np.testing.assert_array_equal(arrays["seq/sample_values"][u].numpy(), maxima[chosen, u])
    other = mine(model, data, ["seq"], k=2, batch_size=32, reservoir=16, seed=12, progress=False)
    assert not torch.equal(other.tensors()["seq/sample_ids"], arrays["seq/sample_ids"])
    # Different units draw (nearly) disjoint samples.
    a, b = set(arrays["seq/sample_ids"][0].tolist()), set(arrays["seq/sample_ids"][1].tolist())
    assert len(a & b) < 8


def test_quantile_samples_come_from_their_bands():
    model = SeqProbe().eval()
    g = torch.Generator().manual_seed(8)
    data = {"x": torch.randn(2000, 3, 2, generator=g)}
    index = mine(model, data, ["seq"], k=5, batch_size=250, reservoir=200, progress=False)
    maxima, _, _, _ = brute_force(model, batches_of(data, 250), "seq")
    bands = index.quantile_samples("seq", 1, bands=4, n=6)
    assert [(b.lower_q, b.upper_q) for b in bands] == [
        (0, 0.25),
        (0.25, 0.5),
        (0.5, 0.75),
        (0.75, 1),
    ]
    assert sum(b.sampled for b in bands) == 200
    truth = np.sort(maxima[:, 1])
    seen = set()
    for band in bands:
        assert len(band.examples) == 6 and band.sampled >= 30
        values = band.examples.values.numpy()
        assert (np.diff(values) <= 0).all()  # best first
        np.testing.assert_array_equal(values, maxima[band.examples.ids.numpy(), 1])
        # Each sample's true rank among all examples lies near its band.
        ranks = np.searchsorted(truth, values, side="right") / len(truth)
        assert (ranks >= band.lower_q - 0.1).all() and (ranks <= band.upper_q + 0.1).all()
        seen |= set(band.examples.ids.tolist())
    assert len(seen) == 24
    custom = index.quantile_samples("seq", 1, bands=[0, 0.9, 0.99, 1], n=2)
    assert [b.upper_q for b in custom] == [0.9, 0.99, 1.0]


def test_summary_and_unit_table_agree():
    model = SeqProbe().eval()
    data = tied_sequences(80, seed=9)
    index = mine(model, data, ["seq"], k=4, batch_size=16, progress=False)
    maxima, _, active, positions = brute_force(model, batches_of(data, 16), "seq")
    table = index.unit_table("seq")
    for u in range(maxima.shape[1]):
        s = index.summary("seq", u)
        assert s.max == maxima[:, u].max() == float(table["max"][u])
        assert s.active_fraction == pytest.approx(active[u] / positions)
        assert s.active_example_fraction == pytest.approx((maxima[:, u] > 0).mean())
        assert s.median == pytest.approx(float(table["median"][u]))


# -- dataset forms --------------------------------------------------------------------------------


class RowDataset(Dataset):
    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


class RowStream(IterableDataset):
    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __iter__(self):
        return iter(self.x)


def test_every_dataset_form_gives_the_same_index():
    model = MapProbe().eval()
    images = torch.randn(37, 2, 3, 3, generator=torch.Generator().manual_seed(2))
    kwargs = {"k": 6, "batch_size": 8, "progress": False}
    reference = mine(model, images, ["map"], **kwargs).tensors()
    forms = {
        "list of tensors": list(images),
        "Dataset": RowDataset(images),
        "IterableDataset": RowStream(images),
        "DataLoader": DataLoader(RowDataset(images), batch_size=8),
        "generator": (images[i : i + 8] for i in range(0, 37, 8)),
        "list of batches (iterator)": iter(list(images.split(8))),
        "(input, label) DataLoader": DataLoader(
            torch.utils.data.TensorDataset(images, torch.arange(37)), batch_size=8
        ),
    }
    for name, dataset in forms.items():
        forward = (lambda m, b: m(b[0])) if "label" in name else None
        got = mine(model, dataset, ["map"], forward=forward, **kwargs).tensors()
        for key in reference:
            assert torch.equal(got[key], reference[key]), (name, key)


def test_text_forms_give_the_same_index(minilm):
    model, tokenizer = minilm
    texts = ["a short one", "a much longer sentence about cats and dogs", "x", "hello world again"]
    layer = "encoder.layer.0.intermediate"
    kwargs = {"k": 3, "batch_size": 4, "progress": False}
    reference = mine(model, texts, [layer], tokenizer=tokenizer, **kwargs).tensors()
    encoded = tokenizer(texts, return_tensors="pt", padding=True)
    forms = {
        "BatchEncoding": encoded,
        "list of dicts, padded by the tokenizer": [
            tokenizer(t, return_tensors="pt") for t in texts
        ],
        "DataLoader of strings": DataLoader(
            texts,
            batch_size=4,
            collate_fn=lambda b: dict(tokenizer(b, return_tensors="pt", padding=True)),
        ),
    }
    for name, dataset in forms.items():
        got = mine(model, dataset, [layer], tokenizer=tokenizer, **kwargs).tensors()
        for key in reference:
            assert torch.allclose(got[key].double(), reference[key].double(), atol=1e-5), (
                name,
                key,
            )


def test_progress_callback_reports_every_batch():
    model = MapProbe().eval()
    images = torch.randn(25, 1, 2, 2)
    seen = []
    mine(model, images, ["map"], k=2, batch_size=10, progress=False, callback=seen.append)
    assert [(s["batch"], s["examples"], s["done"]) for s in seen] == [
        (1, 10, False),
        (2, 20, False),
        (3, 25, False),
        (3, 25, True),
    ]
    assert all(s["total"] == 25 and s["world"] == 1 for s in seen)


def test_progress_bar_can_be_shown_and_hidden(capsys):
    model = MapProbe().eval()
    images = torch.randn(6, 1, 2, 2)
    mine(model, images, ["map"], k=2, batch_size=3, progress=True)
    assert "mining" in capsys.readouterr().err
    mine(model, images, ["map"], k=2, batch_size=3, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("strategy", ["pruned", "full"])
def test_half_precision_model(strategy):
    model = SeqProbe().eval().half()
    data = tied_sequences(40, seed=12)
    data["x"] = data["x"].half()
    before = record(model)
    index = mine(model, data, ["seq"], k=5, batch_size=8, strategy=strategy, progress=False)
    assert_unchanged(model, before)
    maxima, argmax, active, _ = brute_force(model, batches_of(data, 8), "seq")
    assert_top_exact(index, "seq", expected_top(maxima, argmax, 5), 5)
    np.testing.assert_array_equal(index.tensors()["seq/active_positions"].numpy(), active)
