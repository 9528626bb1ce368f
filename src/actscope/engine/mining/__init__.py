"""Top-activating dataset examples: a streaming miner, true quantiles, shareable indexes.

``actscope.mine(model, dataset, layers=[...], k=20)`` makes one pass over a dataset and
returns an :class:`ActivationIndex`; see :func:`mine` for what it keeps and how.

One job per file:

============== ===============================================================
``miner``      ``mine``: the loop, hooks, progress, interruption
``reduce``     one layer's output → per-example maxima, positions, active counts
``lensed``     a lens's features encoded and reduced a cache-sized chunk at a time
``state``      the running statistics of a layer; update and exact merge
``keys``       integer keys that make top-k, samples and histograms exact
``sources``    every dataset form → batches with global example ids
``distributed`` sharding across ranks and merging with collectives
``index``      ``ActivationIndex``: queries, merge
``results``    the dataclasses queries return; quantile arithmetic
``storage``    save/load as safetensors + JSON
``contexts``   examples re-run on demand: token windows, marked images
============== ===============================================================
"""

from __future__ import annotations

from .contexts import Context, ImageContext, PlainContext, TextContext
from .index import ActivationIndex
from .meta import LayerMeta
from .miner import MiningCancelled, MiningInterrupted, mine
from .results import Band, Example, Examples, Histogram, UnitSummary

__all__ = [
    "ActivationIndex",
    "Band",
    "Context",
    "Example",
    "Examples",
    "Histogram",
    "ImageContext",
    "LayerMeta",
    "MiningCancelled",
    "MiningInterrupted",
    "PlainContext",
    "TextContext",
    "UnitSummary",
    "mine",
]
