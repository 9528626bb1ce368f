"""Lenses: features of a layer as layers of their own (see :mod:`actscope.engine.lenses`).

``actscope.Lens(layer, encode, decode)`` wraps any map (a SAELens ``SAE`` as it is, a
module, a function); ``actscope.Lens.linear(layer, directions)`` a probe or directions;
:func:`pca` fits the first principal directions of a layer over data.
"""

from __future__ import annotations

from .engine.lenses import Lens
from .engine.pca import pca

__all__ = ["Lens", "pca"]
