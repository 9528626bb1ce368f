"""Snapshots: views precomputed once into a compact, compressed blob for kernel-free reading.

A snapshot is one wire blob (deflate-compressed, ``ACZ1``) whose arrays are other wire
blobs, each filed under a key::

    view|<input>|<layer>              one layer of one input (payloads.layer_view)
    examples|<layer>|<unit>           top dataset examples of a unit (when mining is on)
    saliency|<input>|<method>|<target>  a saliency map

Views are stored as uint8 with scale and offset (1 byte a value before compression) and
the browser inflates the whole snapshot natively (``DecompressionStream``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import payloads, wire
from .errors import ActscopeError
from .session import Session

DEFAULT_MAX_BYTES = 25_000_000
"""The limit on a snapshot's estimated size: it lives in the notebook (base64: ×4/3)."""

VIEW_OVERHEAD_BYTES = 1_200
"""Bytes a view adds beyond its values: header, rankings, thumbnail (estimated)."""


@dataclass(frozen=True)
class SnapshotInfo:
    """What a snapshot holds."""

    views: int
    entries: int
    values: int
    bytes: int
    """Compressed size, as stored in the widget state."""

    def __str__(self) -> str:
        return (
            f"snapshot: {self.views} views ({self.values:,} values) in {self.entries} entries, "
            f"{self.bytes / 1e6:.2f} MB compressed"
        )


def view_key(input_index: int, layer: str) -> str:
    return f"view|{input_index}|{layer}"


def estimate_bytes(session: Session, layers: Sequence[str], inputs: Sequence[int]) -> int:
    """Uncompressed size of the views (uint8), from the layer shapes seen by list_layers.

    Text inputs differ in length; the estimate scales sequence layers by each input's own
    token count.
    """
    total = 0
    for layer in layers:
        info = session.info(layer)
        values = int(np.prod(info.shape)) if info.shape else 0
        for i in inputs:
            scale = _length_ratio(session, i) if info.kind == "sequence" else 1.0
            total += int(values * scale) + VIEW_OVERHEAD_BYTES
    return total


def _length_ratio(session: Session, i: int) -> float:
    """Tokens of input ``i`` over tokens of input 0 (the one list_layers ran on)."""
    ids = session.inputs.example(i)
    first = session.inputs.example(0)
    if isinstance(ids, dict) and isinstance(first, dict) and "input_ids" in ids:
        return float(ids["input_ids"].shape[-1]) / float(first["input_ids"].shape[-1])
    return 1.0


def build(
    session: Session,
    *,
    layers: Iterable[str] | None = None,
    inputs: Iterable[int] | None = None,
    precision: wire.Precision = "u8",
    max_bytes: int = DEFAULT_MAX_BYTES,
    top_k: int = payloads.DEFAULT_TOP_K,
    max_view_values: int = payloads.DEFAULT_MAX_VALUES,
    extra: Iterable[tuple[str, bytes]] = (),
) -> tuple[bytes, SnapshotInfo]:
    """Precompute views of ``layers`` × ``inputs`` (default: every drawable layer, every input).

    Raises:
        ActscopeError: when the estimated size is over ``max_bytes``, with the estimate and
            how to shrink it.
    """
    names = [i.name for i in session.layers if i.kind != "none"] if layers is None else list(layers)
    for name in names:
        session.info(name)  # unknown layers raise with suggestions
    chosen = list(range(len(session.inputs))) if inputs is None else [int(i) for i in inputs]
    for i in chosen:
        session.inputs.example(i)  # out-of-range inputs raise
    per_value = 1 if precision == "u8" else 2
    estimate = estimate_bytes(session, names, chosen) * per_value
    if estimate > max_bytes:
        raise ActscopeError(
            f"This snapshot would be about {estimate / 1e6:.1f} MB before compression "
            f"({len(names)} layers × {len(chosen)} inputs), over the limit of "
            f"{max_bytes / 1e6:.1f} MB. Shrink it: pass fewer layers (layers=[...]), fewer "
            "inputs (inputs=range(8)), or raise max_bytes= if the notebook may grow that much."
        )
    entries: list[tuple[str, bytes]] = []
    values = 0
    for i in chosen:
        if len(names) > 1:
            session.activations(i)  # one pass for all the layers (not one just for the first)
        for name in names:
            act = session.activation(name, i)
            values += min(act.numel(), max_view_values)
            blob = payloads.layer_view(
                session.info(name),
                act,
                input_index=i,
                inputs=session.inputs,
                top_k=top_k,
                max_values=max_view_values,
                precision=precision,
            )
            entries.append((view_key(i, name), blob))
    n_views = len(entries)
    entries.extend(extra)
    blob = pack(entries)
    return blob, SnapshotInfo(views=n_views, entries=len(entries), values=values, bytes=len(blob))


def pack(entries: Sequence[tuple[str, bytes]]) -> bytes:
    """Entries (key, blob) as one compressed blob."""
    arrays = {f"e{n}": np.frombuffer(blob, dtype=np.uint8) for n, (_, blob) in enumerate(entries)}
    return wire.encode(arrays, {"keys": [k for k, _ in entries]}, compress=True)


def unpack(blob: bytes) -> dict[str, bytes]:
    """The entries of a snapshot by key (for tests and tools)."""
    meta, arrays = wire.decode(blob)
    return {key: arrays[f"e{n}"].tobytes() for n, key in enumerate(meta["keys"])}
