"""The one encoder for data that crosses to the browser: tensors as compact binary.

A *blob* is::

    b"ACT1" | uint32 LE header length | header JSON (UTF-8) | zero padding to 8 | arrays...

The header is ``{"meta": {...}, "arrays": {name: {"dtype", "shape", "offset", "nbytes",
"scale", "zero"}}}``; offsets count from the start of the data section (the first multiple
of 8 after the header) and are multiples of 8, so the browser views each array in place
(``js/src/wire.ts`` is the decoder). A value decodes as ``stored * scale + zero``.

Array encodings:

- ``f16``: float16 of ``x / scale`` with ``scale`` a power of two chosen so the largest
  finite magnitude lands near 2**14: no overflow to Inf, and small layers keep float16's
  full relative precision. NaN and ±Inf survive as themselves. 2 bytes a value.
- ``u8``: ``round((x - zero) / scale)`` in 0..252, with 253 = -Inf, 254 = +Inf, 255 = NaN.
  1 byte a value, 1/252 of the range as precision.
- ``u8raw``, ``u16``, ``i32``, ``f32``: as is (images, indices — ``u16`` for those below
  65,536, such as the feature indices of a sparse view —, exact scalars).

A blob compressed with zlib (``deflate``, which browsers undo natively with
``DecompressionStream``) starts with ``b"ACZ1"`` instead.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch

MAGIC = b"ACT1"
MAGIC_COMPRESSED = b"ACZ1"
ALIGN = 8
F16_TARGET_EXP = 14  # the largest magnitude is scaled to within [2**13, 2**14]
U8_NEG_INF, U8_POS_INF, U8_NAN, U8_LEVELS = 253, 254, 255, 252

Precision = Literal["f16", "u8", "f32"]
ArrayLike = torch.Tensor | np.ndarray


def encode(
    arrays: Mapping[str, ArrayLike],
    meta: Mapping[str, Any] | None = None,
    *,
    precision: Precision = "f16",
    compress: bool = False,
    precisions: Mapping[str, Precision] | None = None,
) -> bytes:
    """Pack ``arrays`` (floating ones at ``precision``, or per name at ``precisions``; others
    as they are) and ``meta``."""
    specs: dict[str, dict[str, Any]] = {}
    chunks: list[bytes] = []
    for name, value in arrays.items():
        spec, data = encode_array(value, (precisions or {}).get(name, precision))
        specs[name] = spec
        chunks.append(data)
    offset = 0
    for spec, data in zip(specs.values(), chunks, strict=True):
        spec["offset"] = offset  # from the start of the data section
        spec["nbytes"] = len(data)
        offset = _align(offset + len(data))
    head = _header_bytes({"meta": dict(meta or {}), "arrays": specs})
    out = bytearray(MAGIC + struct.pack("<I", len(head)) + head)
    out += b"\0" * (_align(len(out)) - len(out))
    for data in chunks:
        out += data
        out += b"\0" * (_align(len(out)) - len(out))
    blob = bytes(out)
    return compress_blob(blob) if compress else blob


def compress_blob(blob: bytes) -> bytes:
    return MAGIC_COMPRESSED + zlib.compress(blob, 6)


def encode_array(value: ArrayLike, precision: Precision = "f16") -> tuple[dict[str, Any], bytes]:
    """One array's header entry (without offset) and its bytes."""
    if isinstance(value, np.ndarray):
        if value.dtype in (np.uint8, np.bool_):
            return _spec("u8raw", list(value.shape)), np.ascontiguousarray(
                value, np.uint8
            ).tobytes()
        value = torch.from_numpy(np.array(value))  # a writable copy
    shape = list(value.shape)
    if value.dtype == torch.uint8:
        return _spec("u8raw", shape), _host_bytes(value)
    if value.dtype in (torch.bool,):
        return _spec("u8raw", shape), _host_bytes(value.to(torch.uint8))
    if value.dtype == torch.uint16:  # indices below 65,536: two bytes each
        return _spec("u16", shape), _host_bytes(value)
    if not value.is_floating_point():
        return _spec("i32", shape), _host_bytes(value.to(torch.int32))
    if precision == "u8":
        return _encode_u8(value, shape)
    if precision == "f32":  # exact (a selected unit's values)
        return _spec("f32", shape), _host_bytes(value.to(torch.float32))
    return _encode_f16(value, shape)


def _encode_f16(value: torch.Tensor, shape: list[int]) -> tuple[dict[str, Any], bytes]:
    peak = _finite_peak(value)
    exponent = math.ceil(math.log2(peak)) - F16_TARGET_EXP if peak > 0 else 0
    scale = 2.0**exponent
    scaled = value if exponent == 0 else value / scale
    return _spec("f16", shape, scale=scale), _host_bytes(scaled.to(torch.float16))


def _encode_u8(value: torch.Tensor, shape: list[int]) -> tuple[dict[str, Any], bytes]:
    x = value.float()
    finite = torch.isfinite(x)
    if bool(finite.any()):
        lo = float(x[finite].min())
        hi = float(x[finite].max())
    else:
        lo = hi = 0.0
    scale = (hi - lo) / U8_LEVELS if hi > lo else 1.0
    codes = ((x - lo) / scale).round().clamp(0, U8_LEVELS).nan_to_num(0)
    codes = codes.masked_fill(x == float("inf"), U8_POS_INF)
    codes = codes.masked_fill(x == float("-inf"), U8_NEG_INF)
    codes = codes.masked_fill(torch.isnan(x), U8_NAN)
    return _spec("u8", shape, scale=scale, zero=lo), _host_bytes(codes.to(torch.uint8))


def _finite_peak(value: torch.Tensor) -> float:
    if value.numel() == 0:
        return 0.0
    return float(torch.where(torch.isfinite(value), value.abs(), 0).amax())


def _spec(dtype: str, shape: list[int], scale: float = 1.0, zero: float = 0.0) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "scale": scale, "zero": zero}


def _host_bytes(value: torch.Tensor) -> bytes:
    return value.detach().contiguous().cpu().numpy().tobytes()


def _header_bytes(header: Mapping[str, Any]) -> bytes:
    text = json.dumps(header, separators=(",", ":"), allow_nan=False, default=_json_default)
    return text.encode()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


# -- decoding (the browser's twin lives in js/src/wire.ts; this one serves tests and tools) --

DTYPES = {
    "f16": np.float16,
    "u8": np.uint8,
    "u8raw": np.uint8,
    "u16": np.uint16,
    "i32": np.int32,
    "f32": np.float32,
}


def decode(blob: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)`` from a blob; floating arrays come back as float32."""
    if blob[:4] == MAGIC_COMPRESSED:
        blob = zlib.decompress(blob[4:])
    if blob[:4] != MAGIC:
        raise ValueError("not an actscope blob (bad magic)")
    (length,) = struct.unpack("<I", blob[4:8])
    header = json.loads(blob[8 : 8 + length])
    start = _align(8 + length)
    arrays: dict[str, np.ndarray] = {}
    for name, spec in header["arrays"].items():
        raw = np.frombuffer(
            blob,
            dtype=DTYPES[spec["dtype"]],
            count=math.prod(spec["shape"]),
            offset=start + spec["offset"],
        ).reshape(spec["shape"])
        arrays[name] = _decode_values(raw, spec)
    return header["meta"], arrays


def with_meta(blob: bytes, **extra: Any) -> bytes:
    """An uncompressed ``blob`` with ``extra`` added to its meta; the arrays are copied as
    they are (their offsets count from the data section, which moves with the header)."""
    if blob[:4] != MAGIC:
        raise ValueError("not an uncompressed actscope blob (bad magic)")
    (length,) = struct.unpack("<I", blob[4:8])
    header = json.loads(blob[8 : 8 + length])
    header["meta"] = {**header["meta"], **extra}
    head = _header_bytes(header)
    out = bytearray(MAGIC + struct.pack("<I", len(head)) + head)
    out += b"\0" * (_align(len(out)) - len(out))
    return bytes(out) + blob[_align(8 + length) :]


def read_meta(blob: bytes) -> dict[str, Any]:
    """The meta of an uncompressed blob, without decoding its arrays."""
    if blob[:4] != MAGIC:
        raise ValueError("not an uncompressed actscope blob (bad magic)")
    (length,) = struct.unpack("<I", blob[4:8])
    meta: dict[str, Any] = json.loads(blob[8 : 8 + length])["meta"]
    return meta


def _decode_values(raw: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    if spec["dtype"] == "f16":
        return raw.astype(np.float32) * np.float32(spec["scale"])
    if spec["dtype"] == "u8":
        out = raw.astype(np.float32) * np.float32(spec["scale"]) + np.float32(spec["zero"])
        out[raw == U8_NEG_INF] = -np.inf
        out[raw == U8_POS_INF] = np.inf
        out[raw == U8_NAN] = np.nan
        return out
    return raw.copy()
