"""actscope: explore what a PyTorch model computes inside, in a Jupyter widget.

The engine (``list_layers``, ``capture``, ``rank_units``, ``mine``, ``saliency``...) is plain
PyTorch and works without the widget; :class:`Explorer` shows it all in JupyterLab,
Notebook 7, VS Code, Colab, marimo and Voilà, and in exported pages with no kernel.

``Explorer`` is loaded on first use, so that ``import actscope; actscope.mine(...)`` (a
script, every rank of a ``torchrun`` job) never imports anywidget, traitlets or ipywidgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import lenses
from .engine import (
    ActivationIndex,
    Activations,
    ActscopeError,
    Edit,
    Effect,
    ForwardError,
    IndexFileError,
    InputError,
    LayerInfo,
    LayerNotFoundError,
    LayerOutputError,
    Lens,
    LogitEffects,
    LogitLens,
    MiningCancelled,
    MiningInterrupted,
    NextToken,
    NoTopPredictionError,
    Overview,
    Predictions,
    Ranking,
    Unit,
    attention,
    capture,
    contrast,
    effect,
    head_scores,
    intervene,
    list_layers,
    lm_parts,
    logit_diff,
    logit_effects,
    logit_lens,
    mine,
    overview,
    overview_each,
    patching_sweep,
    predictions,
    rank_units,
    saliency,
    specific_units,
    unit_means,
    unit_stats,
    units_at,
)

if TYPE_CHECKING:
    from .widget import Explorer

__version__ = "0.1.0"

__all__ = [
    "ActivationIndex",
    "Activations",
    "ActscopeError",
    "Edit",
    "Effect",
    "Explorer",
    "ForwardError",
    "IndexFileError",
    "InputError",
    "LayerInfo",
    "LayerNotFoundError",
    "LayerOutputError",
    "Lens",
    "LogitEffects",
    "LogitLens",
    "MiningCancelled",
    "MiningInterrupted",
    "NextToken",
    "NoTopPredictionError",
    "Overview",
    "Predictions",
    "Ranking",
    "Unit",
    "__version__",
    "attention",
    "capture",
    "contrast",
    "effect",
    "head_scores",
    "intervene",
    "lenses",
    "list_layers",
    "lm_parts",
    "logit_diff",
    "logit_effects",
    "logit_lens",
    "mine",
    "overview",
    "overview_each",
    "patching_sweep",
    "predictions",
    "rank_units",
    "saliency",
    "specific_units",
    "unit_means",
    "unit_stats",
    "units_at",
]

_LAZY = {"Explorer": "actscope.widget"}


def __getattr__(name: str) -> Any:
    """Load the widget side on first use (PEP 562)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'actscope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
