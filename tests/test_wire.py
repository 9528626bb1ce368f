"""The wire format: round trips, precision, NaN/Inf, alignment, compression."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actscope.widget import wire


def test_float16_round_trip_keeps_relative_precision():
    torch.manual_seed(0)
    x = torch.randn(128, 1536) * 3
    meta, arrays = wire.decode(wire.encode({"act": x}, {"layer": "l", "input": 3}))
    assert meta == {"layer": "l", "input": 3}
    assert arrays["act"].shape == (128, 1536)
    np.testing.assert_allclose(arrays["act"], x.numpy(), rtol=1e-3, atol=1e-3 * 3)


def test_huge_and_tiny_layers_survive_float16():
    for scale in (1e7, 1e-7):
        x = torch.linspace(-1, 1, 1000) * scale
        _, arrays = wire.decode(wire.encode({"a": x}))
        assert np.isfinite(arrays["a"]).all(), "no overflow to Inf"
        np.testing.assert_allclose(arrays["a"], x.numpy(), rtol=2e-3, atol=scale * 1e-3)


def test_nan_and_inf_survive_both_precisions():
    x = torch.tensor([1.0, float("nan"), float("inf"), float("-inf"), -2.0])
    for precision in ("f16", "u8"):
        _, arrays = wire.decode(wire.encode({"a": x}, precision=precision))
        a = arrays["a"]
        assert np.isnan(a[1]), precision
        assert a[2] == np.inf, precision
        assert a[3] == -np.inf, precision
        assert a[0] == pytest.approx(1.0, abs=0.02)
        assert a[4] == pytest.approx(-2.0, abs=0.02)


def test_bytes_per_value():
    x = torch.randn(64, 1000)
    f16 = wire.encode({"a": x})
    u8 = wire.encode({"a": x}, precision="u8")
    assert len(f16) / x.numel() < 2.01
    assert len(u8) / x.numel() < 1.01


def test_uint8_quantisation_error_is_within_one_step():
    x = torch.rand(10_000) * 10 - 3
    _, arrays = wire.decode(wire.encode({"a": x}, precision="u8"))
    step = (x.max() - x.min()).item() / wire.U8_LEVELS
    assert np.abs(arrays["a"] - x.numpy()).max() <= step / 2 + 1e-6


def test_arrays_are_8_byte_aligned_and_integers_exact():
    blob = wire.encode(
        {"odd": torch.ones(3, dtype=torch.uint8), "ids": torch.tensor([5, -1, 2**30])}
    )
    header_len = int.from_bytes(blob[4:8], "little")
    import json

    header = json.loads(blob[8 : 8 + header_len])
    data_start = (8 + header_len + 7) // 8 * 8
    assert all((data_start + s["offset"]) % 8 == 0 for s in header["arrays"].values())
    _, arrays = wire.decode(blob)
    assert arrays["ids"].tolist() == [5, -1, 2**30]
    assert arrays["odd"].dtype == np.uint8


def test_compressed_blobs_round_trip():
    x = torch.zeros(100_000)
    blob = wire.encode({"a": x}, compress=True)
    assert blob[:4] == wire.MAGIC_COMPRESSED
    assert len(blob) < 2_000
    _, arrays = wire.decode(blob)
    assert (arrays["a"] == 0).all()


def test_not_a_blob():
    with pytest.raises(ValueError, match="bad magic"):
        wire.decode(b"hello world!")
