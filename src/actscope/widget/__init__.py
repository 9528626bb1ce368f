"""actscope's widget side: the ``Explorer`` anywidget, its panels, the wire format,
snapshots and standalone pages. Imports anywidget and traitlets; the engine never
imports this package."""

from __future__ import annotations

from .explorer import Explorer

__all__ = ["Explorer"]
