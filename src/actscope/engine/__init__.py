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
``lm``         ``predictions``, ``logit_lens``, ``lm_parts``
``attention``  ``attention`` patterns, ``head_scores``
``directions`` where a unit writes in the residual stream; ``logit_effects``
``lenses``     ``Lens``: features of a layer (SAEs, probes, PCA) as virtual layers
``overview``   ``overview``: a whole (positions, units) layer as max-|value| tiles;
               ``overview_each``: each head of a pattern, each channel of a map
``search``     ``units_at`` (which fire on a token), ``specific_units`` (a group's)
``saliency/``  ``saliency``: five attribution methods, one per file
``mining/``    ``mine``: top-activating examples, ``ActivationIndex``
============== ===============================================================
"""

from __future__ import annotations

from .attention import attention, head_scores
from .capture import Activations, capture
from .directions import LogitEffects, logit_effects
from .discovery import list_layers
from .effects import Effect, effect, logit_diff, unit_means
from .errors import (
    ActscopeError,
    ForwardError,
    IndexFileError,
    InputError,
    LayerNotFoundError,
    LayerOutputError,
    NoTopPredictionError,
)
from .interventions import Edit, intervene
from .layers import LayerInfo
from .lenses import Lens
from .lm import LogitLens, Predictions, lm_parts, logit_lens, predictions
from .mining import ActivationIndex, MiningCancelled, MiningInterrupted, mine
from .overview import Overview, overview, overview_each
from .patching import patching_sweep
from .ranking import Ranking, contrast, rank_units, unit_stats
from .saliency import NextToken, Unit, saliency
from .search import specific_units, units_at

__all__ = [
    "ActivationIndex",
    "Activations",
    "ActscopeError",
    "Edit",
    "Effect",
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
    "attention",
    "capture",
    "contrast",
    "effect",
    "head_scores",
    "intervene",
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
