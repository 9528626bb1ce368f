"""actscope's engine: plain PyTorch, no widget.

Everything the explorer shows is computed here, as functions that take a model and inputs
and return tensors or small dataclasses. Nothing in this package imports the widget side
(anywidget, traitlets, ipywidgets), so it loads fast and runs anywhere: a script, a test,
every rank of a ``torchrun`` job.

============== ===============================================================
``batch``      walking batch trees (the one ``map_tensors``)
``hooks``      temporary, thread-bound module hooks
``names``      layer names: calls (``name#k``), aliases, wrappers
``forward``    running the model; errors that name the failing module
``preserve``   buffers left as found by every forward pass
``inputs``     what users pass, normalised; devices and dtypes
``outputs``    picking the tensor of a module's output
``capture``    ``capture``: layer outputs during forward passes
``layers``     ``list_layers``: names, shapes, unit axes, view kinds
``ranking``    ``rank_units``, ``unit_stats``, ``contrast``
``saliency/``  ``saliency``: five attribution methods, one per file
``mining/``    ``mine``: top-activating examples, ``ActivationIndex``
============== ===============================================================
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
    NoTopPredictionError,
)
from .layers import LayerInfo, list_layers
from .mining import ActivationIndex, MiningCancelled, MiningInterrupted, mine
from .ranking import Ranking, contrast, rank_units, unit_stats
from .saliency import Unit, saliency

__all__ = [
    "ActivationIndex",
    "Activations",
    "ActscopeError",
    "ForwardError",
    "IndexFileError",
    "InputError",
    "LayerInfo",
    "LayerNotFoundError",
    "LayerOutputError",
    "MiningCancelled",
    "MiningInterrupted",
    "NoTopPredictionError",
    "Ranking",
    "Unit",
    "capture",
    "contrast",
    "list_layers",
    "mine",
    "rank_units",
    "saliency",
    "unit_stats",
]
