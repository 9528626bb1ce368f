"""Standalone pages: the explorer with its own bundle and saved state, no network, no kernel.

The page inlines the widget's CSS and ES module (loaded through a ``blob:`` URL, so it
works opened from disk) and the synced traits as JSON, bytes as base64. In the page, an
in-memory model (``js/src/standalone.ts``) stands in for Jupyter's widget manager.
"""

from __future__ import annotations

import base64
import html
import json
import pathlib
import re
from typing import Any

from .errors import ActscopeError

TEMPLATE = pathlib.Path(__file__).parent / "templates" / "standalone.html"
STATIC = pathlib.Path(__file__).parent / "static"


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
    from . import __version__

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
