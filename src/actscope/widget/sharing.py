"""Sharing: snapshots for saved notebooks, and standalone pages that need no kernel.

A *snapshot* precomputes views into one compressed wire blob (``ACZ1``) in the
``snapshot_data`` trait; its arrays are other wire blobs, each filed under
``snapshot_key(panel, key)``::

    layer_view|<input_index>|<layer>          one layer of one input
    saliency|<input_index>|<method>|<target>  a saliency map
    examples|<layer>|<unit>|<band>            a unit's dataset examples

Layer views are stored as uint8 with scale and offset (1 byte a value before compression);
the browser inflates the whole snapshot natively (``DecompressionStream``). Each panel
says what it adds (``Panel.snapshot_entries``).

A *standalone page* (:func:`to_html`) inlines the widget's CSS and ES module (loaded
through a ``blob:`` URL, so it works opened from disk) and the synced traits as JSON,
bytes as base64. In the page, an in-memory model (``js/src/standalone.ts``) stands in for
Jupyter's widget manager.
"""

from __future__ import annotations

import base64
import html
import json
import math
import pathlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine.errors import ActscopeError
from . import wire
from .contract import SnapshotMeta
from .panels.base import SnapshotPlan

if TYPE_CHECKING:
    from .explorer import Explorer
    from .session import Session

TEMPLATE = pathlib.Path(__file__).parent / "templates" / "standalone.html"
STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"

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


def snapshot(
    explorer: Explorer,
    layers: Sequence[str] | None = None,
    inputs: Sequence[int] | None = None,
    units: Sequence[int] | None = None,
    *,
    saliency: Sequence[str] = (),
    precision: str = "u8",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> SnapshotInfo:
    """Precompute views into ``explorer.snapshot_data`` (``Explorer.snapshot``).

    Args:
        explorer: the explorer.
        layers: layers to include (default: every layer with a tensor output).
        inputs: input indices to include (default: all).
        units: units of the current layer (of each of ``layers`` when given) whose extras
            to include: saliency maps with the unit as target, top examples when the
            explorer has an index, and logit effects for a language model. The views
            themselves hold every unit.
        saliency: saliency methods to include, for every chosen input, with the top
            prediction as target (and each of ``units``).
        precision: ``"u8"`` (1 byte a value, 1/252 of each view's range) or ``"f16"``.
        max_bytes: the limit on the estimated size before compression; over it, an
            error gives the estimate and how to shrink the snapshot. What it leaves holds
            the further windows of long views (``widget/window.py``), in order while they
            fit; the page says which positions it did not save.

    Returns:
        What the snapshot holds (views, bytes), also kept in the widget state.

    Raises:
        ActscopeError: when the estimated size is over ``max_bytes``, with the estimate and
            how to shrink it.
    """
    session = explorer.session
    names = [i.name for i in session.layers if i.kind != "none"] if layers is None else list(layers)
    for name in names:
        session.info(name)  # unknown layers raise with suggestions
    chosen = list(range(len(session.inputs))) if inputs is None else [int(i) for i in inputs]
    for i in chosen:
        session.inputs.example(i)  # out-of-range inputs raise
    if precision not in ("u8", "f16"):
        raise ActscopeError(f"precision must be 'u8' or 'f16', not {precision!r}.")
    per_value = 1 if precision == "u8" else 2
    estimate = estimate_bytes(session, names, chosen, explorer._max_values) * per_value
    if estimate > max_bytes:
        raise ActscopeError(
            f"This snapshot would be about {estimate / 1e6:.1f} MB before compression "
            f"({len(names)} layers × {len(chosen)} inputs), over the limit of "
            f"{max_bytes / 1e6:.1f} MB. Shrink it: pass fewer layers (layers=[...]), fewer "
            "inputs (inputs=range(8)), or raise max_bytes= if the notebook may grow that much."
        )
    plan = SnapshotPlan(
        layers=names,
        asked_layers=None if layers is None else list(layers),
        inputs=chosen,
        units=list(units or []),
        saliency=list(saliency),
        precision=precision,
        max_view_values=explorer._max_values,
        top_k=explorer._top_k,
        window_bytes=max(0, max_bytes - estimate),
    )
    entries = explorer.snapshot_entries(plan)
    views = [wire.read_meta(b) for key, b in entries if key.startswith("layer_view|")]
    values = sum(min(int(np.prod(m["shape"])), plan.max_view_values) for m in views)
    n_views = len(views)
    blob = pack(entries)
    explorer.snapshot_data = blob
    return SnapshotInfo(views=n_views, entries=len(entries), values=values, bytes=len(blob))


def estimate_bytes(
    session: Session, layers: Sequence[str], inputs: Sequence[int], max_values: int | None = None
) -> int:
    """Uncompressed size of the views (uint8), from the layer shapes seen by list_layers.

    Text inputs differ in length; the estimate scales sequence layers by each input's own
    token count. A view over ``max_values`` holds that many (a sequence view's window and
    its overview tiles: ``widget/window.py``).
    """
    from ..engine.overview import tile_sizes
    from .window import OVERVIEW_TILES

    total = 0
    for layer in layers:
        info = session.info(layer)
        values = int(np.prod(info.shape)) if info.shape else 0
        for i in inputs:
            scale = _length_ratio(session, i) if info.kind == "sequence" else 1.0
            shown = int(values * scale)
            if max_values is not None and shown > max_values:
                tiles = 0
                dense = not info.features_of  # a lens's view travels sparse, without tiles
                if dense and info.kind == "sequence" and info.shape and len(info.shape) == 2:
                    rows = max(1, int(info.shape[0] * scale))
                    ty, tx = tile_sizes((rows, int(info.shape[1])), OVERVIEW_TILES, OVERVIEW_TILES)
                    tiles = math.ceil(rows / ty) * math.ceil(int(info.shape[1]) / tx)
                    tiles += 16 * int(info.shape[1])  # the whole layer's unit statistics
                elif dense and info.kind == "spatial" and info.shape and len(info.shape) == 3:
                    tiles = max_values // 4 + 16 * int(info.shape[0])  # channels' tiles, stats
                shown = max_values + tiles
            total += shown + VIEW_OVERHEAD_BYTES
    return total


def _length_ratio(session: Session, i: int) -> float:
    """Tokens of input ``i`` over tokens of input 0 (the one list_layers ran on)."""
    ids = session.inputs.example(i)
    first = session.inputs.example(0)
    if isinstance(ids, dict) and isinstance(first, dict) and "input_ids" in ids:
        return float(ids["input_ids"].shape[-1]) / float(first["input_ids"].shape[-1])
    return 1.0


def pack(entries: Sequence[tuple[str, bytes]]) -> bytes:
    """Entries (key, blob) as one compressed blob."""
    arrays = {f"e{n}": np.frombuffer(blob, dtype=np.uint8) for n, (_, blob) in enumerate(entries)}
    meta: SnapshotMeta = {"keys": [k for k, _ in entries]}
    return wire.encode(arrays, meta, compress=True)


def unpack(blob: bytes) -> dict[str, bytes]:
    """The entries of a snapshot by key (for tests and tools)."""
    meta, arrays = wire.decode(blob)
    return {key: arrays[f"e{n}"].tobytes() for n, key in enumerate(meta["keys"])}


# -- standalone pages ------------------------------------------------------------------------------


def to_html(
    explorer: Explorer, path: str | pathlib.Path, *, title: str | None = None
) -> pathlib.Path:
    """Write ``explorer`` as a standalone page at ``path`` (``Explorer.to_html``)."""
    info = explorer.model_info
    name = title or f"actscope: {info.get('name', 'model')}"
    n = len(explorer.session.inputs)
    note = f"{info.get('name', '')} · {n} inputs · saved from a live session"
    return write_page(page(widget_state(explorer), title=name, note=note), path)


def widget_state(widget: Any) -> dict[str, Any]:
    """The synced traits actscope's classes declare, JSON-ready (bytes as ``{"$b64": ...}``).

    (anywidget adds ``_esm``/``_css`` through a dynamic subclass, so walk the MRO.)
    """
    names: list[str] = []
    for cls in type(widget).__mro__:
        if cls.__module__.startswith("actscope") and hasattr(cls, "class_own_traits"):
            names += [n for n in cls.class_own_traits(sync=True) if n not in names]
    state: dict[str, Any] = {}
    for name in names:
        if name.startswith("_"):
            continue
        value = getattr(widget, name)
        if isinstance(value, bytes | bytearray | memoryview):
            value = {"$b64": base64.b64encode(bytes(value)).decode()}
        state[name] = value
    return state


def page(state: dict[str, Any], *, title: str, note: str = "") -> str:
    """The HTML of a standalone page for ``state``."""
    from actscope import __version__

    esm = (STATIC / "widget.js").read_text(encoding="utf-8")
    css = (STATIC / "widget.css").read_text(encoding="utf-8")
    return TEMPLATE.read_text(encoding="utf-8").format(
        version=__version__,
        title=html.escape(title),
        note=html.escape(note),
        css=_inline(css, "style"),
        state=_inline(json.dumps(state, separators=(",", ":"), allow_nan=False), "script"),
        esm=_inline(esm, "script"),
    )


def write_page(text: str, path: str | pathlib.Path) -> pathlib.Path:
    """Write ``text`` to ``path``; a path that cannot be written is a clear error."""
    target = pathlib.Path(path).expanduser()
    if target.is_dir():
        raise ActscopeError(
            f"{target} is a folder: give a file name such as {target / 'explorer.html'}."
        )
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ActscopeError(
            f"Cannot write {target}: {exc.strerror or exc}. Pick a folder you can write to."
        ) from exc
    return target


def _inline(text: str, tag: str) -> str:
    """Text safe inside ``<tag>...</tag>``: no closing tag can end it early."""
    return re.sub(rf"</(?={tag})", r"<\\/", text, flags=re.IGNORECASE)
