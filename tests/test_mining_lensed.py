"""Mining a lens's features with the encode fused into the reduction (the CPU path): only
real tokens are encoded, a chunk of rows at a time, and the index equals the one made by
encoding whole batches (``Lens(pointwise=False)``) bit for bit, and a brute-force sort."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import actscope
from actscope.engine.errors import LayerOutputError
from actscope.engine.mining import entries, lensed, mine

from .model_state import assert_unchanged, record
from .test_mining import SeqProbe, assert_top_exact, batches_of, expected_top, tied_sequences

FEATURES = "seq/tied"


class TiedLens:
    """A ReLU of an integer matrix over tied inputs: many ties, many zeros; records the
    shapes it was asked to encode."""

    def __init__(
        self,
        d: int = 6,
        n: int = 11,
        nan_at: tuple[int, int] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        g = torch.Generator().manual_seed(4)
        self.w = torch.randint(-1, 2, (d, n), generator=g).float()
        self.nan_at = nan_at  # (value of x[..., 0] that turns into NaN, feature)
        self.dtype = dtype
        self.shapes: list[tuple[int, ...]] = []

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        f = torch.relu(x @ self.w)
        if self.dtype == torch.float64:  # maxima that differ only below float32's precision
            f = f.double() + x[..., :1].double().abs() * 1e-12
        if self.nan_at is not None:
            value, feature = self.nan_at
            f[..., feature] = torch.where(x[..., 0] == value, float("nan"), f[..., feature])
        return f.to(self.dtype)


def mined(data, lens, batch_size, pointwise=True, k=4, **kwargs):
    model = SeqProbe().eval()
    before = record(model)
    index = mine(
        model,
        data,
        FEATURES,
        k=k,
        batch_size=batch_size,
        strategy="pruned",
        lenses=[actscope.Lens("seq", lens.encode, name="tied", pointwise=pointwise)],
        progress=False,
        **kwargs,
    )
    assert_unchanged(model, before)
    return index


@pytest.fixture(params=[(5, "dense"), (64, "dense"), (5, "sparse"), (64, "sparse")])
def small_chunks(request, monkeypatch):
    """Chunks of 5 rows (most examples split across chunks) or 64 (most chunks hold whole
    examples only), reduced densely or from their nonzero entries wherever those allow it
    (a chunk with a negative or NaN value never does)."""
    rows, path = request.param
    monkeypatch.setattr(lensed, "CHUNK_BYTES", rows * 4 * 11)
    monkeypatch.setattr(lensed, "MIN_ROWS", 1)
    monkeypatch.setattr(entries, "MAX_DENSITY", 1.0 if path == "sparse" else -1.0)
    taken = []
    add = entries.Entries.add

    def spy(self, features, start):
        taken.append(add(self, features, start))
        return taken[-1]

    monkeypatch.setattr(entries.Entries, "add", spy)
    return path, taken


def assert_path(small_chunks) -> None:
    """Every chunk went the fixture's way."""
    path, taken = small_chunks
    assert taken
    assert all(taken) if path == "sparse" else not any(taken)


@pytest.mark.parametrize(
    ("batch_size", "padding", "length"),
    [(1, "right", 9), (7, "right", 9), (64, "right", 9), (7, "left", 9), (7, "holes", 9),
     (16, "right", 70), (9, "none", 9), (7, "right-empty", 9), (7, "holes-empty", 9)],
)  # fmt: skip
def test_fused_mining_equals_encoding_whole_batches(small_chunks, batch_size, padding, length):
    data = tied_sequences(61, padding=padding.split("-")[0].replace("none", "right"), t=length)
    if padding == "none":
        data = {"x": data["x"]}
    if padding.endswith("empty"):  # examples with no real token, between others
        data["attention_mask"][[2, 3, 9, 40]] = 0
    fused_lens, whole_lens = TiedLens(), TiedLens()
    fused = mined(data, fused_lens, batch_size).tensors()
    whole = mined(data, whole_lens, batch_size, pointwise=False).tensors()
    assert fused.keys() == whole.keys()
    for name in fused:
        assert torch.equal(fused[name], whole[name]), name
    # Only real tokens were encoded, as rows; whole batches were encoded with their padding.
    real = int(data["attention_mask"].sum()) if "attention_mask" in data else 61 * length
    rows = [shape for shape in fused_lens.shapes if len(shape) == 2]
    assert sum(shape[0] for shape in rows) == real
    probes = [shape for shape in fused_lens.shapes if len(shape) == 3]
    assert len(probes) == 2 and all(shape[0] <= 2 for shape in probes)  # the layer probes
    assert all(len(shape) == 3 for shape in whole_lens.shapes)
    assert_path(small_chunks)


def test_fused_mining_equals_a_brute_force_sort(small_chunks):
    data = tied_sequences(40, seed=6, padding="holes", t=12)
    lens = TiedLens()
    index = mined(data, lens, 8, k=5)
    maxima, argmax, active = [], [], 0
    for batch in batches_of(data, 8):
        f = lens.encode(batch["x"]).numpy()
        valid = batch["attention_mask"].numpy().astype(bool)[:, :, None]
        values = np.where(valid, f, -np.inf)
        maxima.append(values.max(1))
        argmax.append(values.argmax(1))
        active += ((f > 0) & valid).sum((0, 1))
    maxima_all, argmax_all = np.concatenate(maxima), np.concatenate(argmax)
    assert_top_exact(index, FEATURES, expected_top(maxima_all, argmax_all, 5), 5)
    arrays = index.tensors()
    np.testing.assert_array_equal(arrays[f"{FEATURES}/active_positions"].numpy(), active)
    assert int(arrays[f"{FEATURES}/positions"]) == int(data["attention_mask"].sum())
    assert_path(small_chunks)


@pytest.mark.parametrize("padding", ["none", "holes"])
def test_nan_features_are_mined_as_when_encoding_whole_batches(small_chunks, padding):
    data = tied_sequences(30, seed=8, t=9, padding="right" if padding == "none" else padding)
    if padding == "none":
        data["attention_mask"][:] = 1  # every value counts, NaNs included
    fused = mined(data, TiedLens(nan_at=(1.5, 3)), 7).tensors()
    whole = mined(data, TiedLens(nan_at=(1.5, 3)), 7, pointwise=False).tensors()
    assert int(fused[f"{FEATURES}/nan_examples"][3]) > 0
    assert False in small_chunks[1]  # a chunk with a NaN is reduced densely
    for name in fused:
        assert torch.equal(fused[name], whole[name]), name


class JumpLens(TiedLens):
    """A JumpReLU written as ``pre * (pre > t)``: every negative pre-activation gives -0.0."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        pre = x @ self.w
        return pre * (pre > 0.5)


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit (``torch.equal`` takes -0.0 for 0.0)."""
    if a.dtype.is_floating_point and a.dtype == b.dtype and a.element_size() in (4, 8):
        view = torch.int32 if a.element_size() == 4 else torch.int64
        return torch.equal(a.view(view), b.view(view))
    return torch.equal(a, b)


def test_negative_zeros_are_stored_as_zeros_on_every_path(small_chunks):
    data = tied_sequences(40, seed=10, t=9, padding="holes")
    assert torch.signbit(JumpLens().encode(data["x"])).any()  # the lens does emit -0.0
    fused = mined(data, JumpLens(), 6).tensors()
    whole = mined(data, JumpLens(), 6, pointwise=False).tensors()
    for name in fused:
        assert same_bits(fused[name], whole[name]), name
    sample = fused[f"{FEATURES}/sample_values"]
    assert (sample == 0).any() and not torch.signbit(sample[sample == 0]).any()
    assert_path(small_chunks)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_features_of_any_precision_are_mined_as_when_encoding_whole_batches(small_chunks, dtype):
    data = tied_sequences(40, seed=9, t=9, padding="holes")
    data["x"] = data["x"] + torch.linspace(0, 1e-3, 9)[None, :, None]  # few exact ties
    fused = mined(data, TiedLens(dtype=dtype), 6).tensors()
    whole = mined(data, TiedLens(dtype=dtype), 6, pointwise=False).tensors()
    for name in fused:
        assert torch.equal(fused[name], whole[name]), name
    assert_path(small_chunks)


def test_features_mined_along_another_axis_encode_whole_batches():
    data = tied_sequences(20, seed=3, t=11)
    lens = TiedLens()
    along = mined(data, lens, 5, unit_axes={FEATURES: 0}).tensors()
    assert all(len(shape) == 3 for shape in lens.shapes)  # not rows: positions are the units
    whole = mined(data, TiedLens(), 5, pointwise=False, unit_axes={FEATURES: 0}).tensors()
    assert along[f"{FEATURES}/top_ids"].shape[0] == 11  # one "unit" per position
    for name in along:
        assert torch.equal(along[name], whole[name]), name


def test_an_encode_that_needs_whole_sequences_is_named_with_the_fix():
    w = torch.randn(6, 11)

    def encode(x: torch.Tensor) -> torch.Tensor:  # keeps only the first row of a 2-D input
        return x @ w if x.ndim == 3 else (x @ w)[:1]

    data = tied_sequences(10, t=9)
    model = SeqProbe().eval()
    before = record(model)
    with pytest.raises(actscope.MiningInterrupted, match=r"pointwise=False") as info:
        mine(model, data, "seq/lens", k=2, batch_size=5, strategy="pruned",
             lenses=[actscope.Lens("seq", encode)], progress=False)  # fmt: skip
    assert isinstance(info.value.__cause__, LayerOutputError)
    assert "into shape (1, 11), expected (29, 11)" in str(info.value)
    assert_unchanged(model, before)
    whole = actscope.Lens("seq", encode, pointwise=False)
    index = mine(model, data, "seq/lens", k=2, batch_size=5, strategy="pruned",
                 lenses=[whole], progress=False)  # fmt: skip
    assert index.n_examples == 10


def test_chunks_hold_many_rows_within_a_byte_bound():
    """Enough rows that the encoder's weights are read once per many rows (a 16k-feature
    SAE: 128), never more than the byte bound (a 2**20-feature one: 64 rows)."""
    assert lensed.rows_per_chunk(16384) == 128
    assert lensed.rows_per_chunk(1 << 20) * 4 * (1 << 20) <= lensed.MAX_BYTES
    assert lensed.rows_per_chunk(1 << 20) >= 64
    assert lensed.rows_per_chunk(1 << 30) == 1  # a row over the bound is still encoded
    assert lensed.rows_per_chunk(11) * 4 * 11 <= lensed.CHUNK_BYTES  # small lenses: 8 MB
