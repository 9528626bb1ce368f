"""actscope: explore what a PyTorch model computes inside, in a Jupyter widget.

The engine (``list_layers``, ``capture``, ``rank_units``...) is plain PyTorch and works
without the widget; :class:`Explorer` shows it all in JupyterLab, Notebook 7, VS Code and
Colab, and in exported pages with no kernel.
"""

from __future__ import annotations

from .capture import Activations, capture
from .errors import (
    ActscopeError,
    ForwardError,
    IndexFileError,
    InputError,
    LayerNotFoundError,
    LayerOutputError,
)
from .layers import LayerInfo, list_layers
from .mining import ActivationIndex, MiningCancelled, MiningInterrupted, mine
from .ranking import Ranking, contrast, rank_units, unit_stats
from .saliency import Unit, saliency
from .widget import Explorer

__version__ = "0.1.0"

__all__ = [
    "ActivationIndex",
    "Activations",
    "ActscopeError",
    "Explorer",
    "ForwardError",
    "IndexFileError",
    "InputError",
    "LayerInfo",
    "LayerNotFoundError",
    "LayerOutputError",
    "MiningCancelled",
    "MiningInterrupted",
    "Ranking",
    "Unit",
    "__version__",
    "capture",
    "contrast",
    "list_layers",
    "mine",
    "rank_units",
    "saliency",
    "unit_stats",
]
