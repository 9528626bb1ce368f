"""Index files: safetensors arrays plus JSON metadata, checked on the way in. No pickle.

The file holds ``ActivationIndex.tensors()`` (histograms trimmed to their occupied columns,
stored as int32 when they fit) and one metadata entry, ``"actscope"``, a JSON object::

    {"format": "actscope.ActivationIndex", "version": 1, "actscope": "0.1.0",
     "model": "BertModel", "n_examples": 2000, "k": 20, "reservoir": 100, "seed": 0,
     "histogram": {"bits": 3, "min_exp": -12, "max_exp": 12},
     "layers": [{"name": ..., "kind": ..., "shape": [...], "unit_axis": ..., "n_units": ...,
                 "batch_axis": ..., "output": ..., "type": ..., "histogram_offset": ...}],
     "settings": {...how it was mined...}, "sha256": "<hash of every array>"}

Loading re-derives the sort and sample keys from ids, values and the seed, and checks the
format, every array's name, dtype and shape, the checksum and that each histogram row
counts every example; anything else raises :class:`actscope.IndexFileError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any

import torch

from ..errors import IndexFileError
from . import keys as K
from .index import ActivationIndex
from .meta import LayerMeta, Settings
from .state import LayerState

FORMAT = "actscope.ActivationIndex"
VERSION = 1
_INT32_MAX = torch.iinfo(torch.int32).max


def _owned(t: torch.Tensor) -> torch.Tensor:
    """``t`` contiguous in a storage of its own (safetensors refuses tensors that share
    one, such as the layers' views of one mined state)."""
    if t.is_contiguous() and t.untyped_storage().nbytes() == t.nbytes:
        return t
    return t.clone(memory_format=torch.contiguous_format)


def save(index: ActivationIndex, path: str | os.PathLike[str]) -> None:
    """Write ``index`` to ``path`` (see the module docstring for the layout)."""
    from safetensors.torch import save_file

    from actscope import __version__

    tensors = index.tensors()
    layers = []
    for name in index.layers:
        meta = index.layer(name).to_dict()
        hist = tensors[f"{name}/histogram"]
        used = hist.any(dim=0).nonzero().squeeze(1)
        first = int(used[0]) if used.numel() else 0
        last = int(used[-1]) + 1 if used.numel() else 0
        trimmed = hist[:, first:last]
        if trimmed.numel() == 0 or int(trimmed.max()) <= _INT32_MAX:
            trimmed = trimmed.to(torch.int32)
        tensors[f"{name}/histogram"] = trimmed
        meta["histogram_offset"] = first
        layers.append(meta)
    tensors = {k: _owned(v) for k, v in tensors.items()}
    settings = index.settings
    header = {
        "format": FORMAT,
        "version": VERSION,
        "actscope": __version__,
        "model": settings.model,
        "n_examples": index.n_examples,
        "k": settings.k,
        "reservoir": settings.reservoir,
        "seed": settings.seed,
        "histogram": {
            "bits": settings.buckets.bits,
            "min_exp": settings.buckets.min_exp,
            "max_exp": settings.buckets.max_exp,
        },
        "layers": layers,
        "settings": settings.extra,
        "sha256": _checksum(tensors),
    }
    target = pathlib.Path(path)
    partial = target.with_name(target.name + ".partial")
    save_file(tensors, str(partial), metadata={"format": FORMAT, "actscope": json.dumps(header)})
    partial.replace(target)  # never leave a half-written index under the real name


def load(path: str | os.PathLike[str]) -> ActivationIndex:
    """Read and check an index file; see the module docstring for what is checked."""
    from safetensors import safe_open

    where = pathlib.Path(path)
    if not where.is_file():
        raise IndexFileError(f"There is no index file at {str(where)!r}.")
    try:
        with safe_open(str(where), framework="pt") as handle:
            metadata = handle.metadata() or {}
            names = list(handle.keys())
            raw = metadata.get("actscope")
            if raw is None:
                raise IndexFileError(
                    f"{str(where)!r} is a safetensors file but not an actscope index: it has no "
                    f"actscope metadata (it holds {len(names)} tensors, e.g. {names[:3]}). "
                    "Index files are written by ActivationIndex.save."
                )
            header = _parse_header(raw, where)
            tensors = {name: handle.get_tensor(name) for name in names}
    except IndexFileError:
        raise
    except Exception as exc:  # safetensors' own error type varies between versions
        raise IndexFileError(
            f"{str(where)!r} is not an actscope index: it is not a readable safetensors file "
            f"(truncated or corrupted?): {exc}"
        ) from exc
    if _checksum(tensors) != header.get("sha256"):
        raise IndexFileError(
            f"{str(where)!r} is corrupted: its arrays do not match the checksum saved with "
            "them. Copy the file again, or mine again."
        )
    try:
        return _build(header, tensors, where)
    except IndexFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise IndexFileError(f"{str(where)!r} is not a valid actscope index: {exc}") from exc


def _parse_header(raw: str, where: pathlib.Path) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise IndexFileError(f"{str(where)!r} has corrupted index metadata: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise IndexFileError(f"{str(where)!r} is not an actscope index (unknown format).")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise IndexFileError(
            f"{str(where)!r} is an index of format version {version}, newer than this actscope "
            f"reads ({VERSION}): upgrade actscope."
        )
    return header


def _build(
    header: dict[str, Any], tensors: dict[str, torch.Tensor], where: pathlib.Path
) -> ActivationIndex:
    hist_settings = header["histogram"]
    buckets = K.Buckets(
        int(hist_settings["bits"]), int(hist_settings["min_exp"]), int(hist_settings["max_exp"])
    )
    k, reservoir, seed = int(header["k"]), int(header["reservoir"]), int(header["seed"])
    n_examples = int(header["n_examples"])
    metas: list[LayerMeta] = []
    states: dict[str, LayerState] = {}
    for entry in header["layers"]:
        meta = LayerMeta.from_dict(entry)
        name, units = meta.name, meta.n_units

        def get(field: str, dtype: torch.dtype, shape: tuple[int, ...], name: str = name) -> Any:
            key = f"{name}/{field}"
            if key not in tensors:
                raise IndexFileError(f"{str(where)!r} is corrupted: array {key!r} is missing.")
            tensor = tensors[key]
            if tensor.dtype != dtype or tuple(tensor.shape) != shape:
                raise IndexFileError(
                    f"{str(where)!r} is corrupted: array {key!r} is {tensor.dtype} "
                    f"{tuple(tensor.shape)}, expected {dtype} {shape}."
                )
            return tensor

        top_ids = get("top_ids", torch.int64, (units, k))
        top_values = get("top_values", torch.float32, (units, k))
        top_key = K.top_keys(top_values.nan_to_num(nan=float("-inf")), top_ids.clamp(min=0))
        top_key = top_key.masked_fill(top_ids < 0, K.EMPTY_TOP)
        sample_ids = get("sample_ids", torch.int64, (units, reservoir))
        sample_key = K.sample_keys(sample_ids, K.unit_hashes(units, seed)[:, None], seed)
        stored = tensors.get(f"{name}/histogram")
        if stored is None or stored.ndim != 2 or stored.shape[0] != units:
            raise IndexFileError(f"{str(where)!r} is corrupted: layer {name!r} has no histogram.")
        offset = int(entry.get("histogram_offset", 0))
        if offset < 0 or offset + stored.shape[1] > buckets.n:
            raise IndexFileError(f"{str(where)!r} is corrupted: bad histogram of {name!r}.")
        hist = torch.zeros(units, buckets.n, dtype=torch.int64)
        hist[:, offset : offset + stored.shape[1]] = stored.to(torch.int64)
        if n_examples and bool((hist.sum(1) != n_examples).any()):
            raise IndexFileError(
                f"{str(where)!r} is corrupted: the histograms of {name!r} do not count "
                f"{n_examples} examples."
            )
        states[name] = LayerState(
            top_key=top_key,
            top_pos=get("top_positions", torch.int64, (units, k)),
            sample_key=sample_key,
            sample=get("sample_values", torch.float32, (units, reservoir)),
            hist=hist,
            lowest=get("lowest", torch.float32, (units,)),
            active_examples=get("active_examples", torch.int64, (units,)),
            nan_examples=get("nan_examples", torch.int64, (units,)),
            active=get("active_positions", torch.int64, (units,)),
            positions=get("positions", torch.int64, (1,)).expand(units).clone(),
        )
        metas.append(meta)
    settings = Settings(
        k=k,
        reservoir=reservoir,
        seed=seed,
        buckets=buckets,
        model=str(header.get("model", "")),
        extra=dict(header.get("settings") or {}),
    )
    return ActivationIndex(metas, states, n_examples=n_examples, settings=settings)


def _checksum(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()
