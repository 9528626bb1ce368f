"""The meta of every wire blob, one ``TypedDict`` each (the encoders build them as such)."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from .enums import ExampleContext, Kind, PredictionTask, SaliencyMethod, SaliencyOver


class ErrorMeta(TypedDict):
    """A blob that answers ``key`` with an error instead of data (any panel)."""

    key: str
    edits: NotRequired[str]
    """The edits the answer was computed with (``edits_tag``); absent: the clean model."""
    error: str


class LayerViewErrorMeta(ErrorMeta):
    """A layer view that failed (the forward pass raised, the layer returned no tensor)."""

    layer: str
    input_index: int


class ValueSummary(TypedDict):
    """NaN and ±Inf counts and the finite range of an array."""

    nan: int
    posinf: int
    neginf: int
    min: float
    max: float


class Trimmed(TypedDict):
    shown: list[int]
    note: str


class SparseView(TypedDict):
    """How sparse a layer view is: its active (non-zero) values and their fraction."""

    active: int
    density: float


class ViewWindow(TypedDict):
    """The positions ``[start, stop)`` of ``positions`` a windowed sequence view holds
    exactly (``widget/window.py``); ``unit``: whose value at every position is ``column``.
    A windowed spatial view counts channels instead: ``column`` is ``unit``'s whole map
    (absent when the window holds that channel)."""

    start: int
    stop: int
    positions: int
    unit: NotRequired[int]
    clip: NotRequired[float]
    """The 99.9th percentile of the whole layer's finite |values| (a sample of them): the
    colour clip, the same for every window (a layer view; absent when none is finite)."""


class OverviewMeta(TypedDict):
    """The ``overview`` array: ``rows × cols`` tiles of ``tile_rows × tile_cols`` values, each
    its value of largest magnitude with the sign (NaN if it holds one)."""

    rows: int
    cols: int
    tile_rows: int
    tile_cols: int


class LayerViewMeta(ValueSummary):
    """One layer of one input (``panels/layer_view.py``). Arrays: :data:`LayerViewArray`."""

    key: str
    edits: NotRequired[str]
    """The edits the answer was computed with (``edits_tag``); absent: the clean model."""
    layer: str
    input_index: int
    kind: Kind
    shape: list[int]
    layer_shape: list[int]
    unit_axis: int | None
    n_units: int
    trimmed: Trimmed | None
    explained: NotRequired[float]
    """For a lens with a decoder: the fraction of its layer's variance on this input that the
    features' reconstruction explains."""
    sparse: NotRequired[SparseView]
    """Present when the values travel sparse (a lens's features): ``sp_counts``,
    ``sp_gaps`` and ``sp_vals`` instead of ``act``."""
    tokens: NotRequired[list[str]]
    window: NotRequired[ViewWindow]
    """Present when a sequence view is over the value limit: ``act`` holds these positions."""
    overview: NotRequired[OverviewMeta]
    """With ``window``: the whole layer as tiles (the ``overview`` array; a spatial view's
    is ``(channels, rows, cols)``, each channel's map)."""


LayerViewArray = Literal[
    "act",
    "overview",
    "column",
    "unit_max",
    "unit_mean",
    "unit_argmax",
    "unit_count",
    "sp_counts",
    "sp_gaps",
    "sp_vals",
    "image",
    "rank_max_units",
    "rank_max_max",
    "rank_max_mean",
    "rank_max_argmax",
    "rank_mean_units",
    "rank_mean_max",
    "rank_mean_mean",
    "rank_mean_argmax",
    "rank_max_count",
    "rank_mean_count",
    "rank_count_units",
    "rank_count_max",
    "rank_count_mean",
    "rank_count_argmax",
    "rank_count_count",
]


class SaliencyViewMeta(ValueSummary):
    """One saliency map (``panels/saliency.py``). Arrays: ``map`` and, over pixels, ``image``."""

    key: str
    edits: NotRequired[str]
    """The edits the answer was computed with (``edits_tag``); absent: the clean model."""
    input_index: int
    method: SaliencyMethod
    target: str
    over: SaliencyOver
    delta: float | None
    tokens: NotRequired[list[str]]


class UnitSummaryMeta(TypedDict):
    max: float | None
    median: float | None
    lowest: float | None
    active_fraction: float | None
    active_example_fraction: float | None
    n_examples: int
    positions: int
    nan_examples: int


class BandMeta(TypedDict):
    lower_q: float
    upper_q: float
    lower: float | None
    upper: float | None
    sampled: int


class ExampleRow(TypedDict):
    """One dataset example; its values in context are the array ``<group><n>``."""

    id: int
    value: float | None
    position: int | None
    context: NotRequired[ExampleContext]
    tokens: NotRequired[list[str]]
    peak: NotRequired[int | list[int]]
    start: NotRequired[int]
    box: NotRequired[list[int]]


class ExamplesViewMeta(TypedDict):
    """A unit's dataset examples (``panels/examples.py``). Arrays: ``hist_edges``,
    ``hist_counts``, and ``top<n>`` / ``band<n>`` per row with a context."""

    key: str
    layer: str
    unit: int
    band: int
    summary: UnitSummaryMeta
    bands: list[BandMeta]
    top: list[ExampleRow]
    band_rows: NotRequired[list[ExampleRow]]
    has_context: bool


class ExamplesMissingMeta(TypedDict):
    """The answer for a unit of a layer that no index covers."""

    key: str
    layer: str
    unit: int
    missing: Literal[True]
    can_mine: bool
    mined: list[str]


class UnavailableMeta(TypedDict):
    """The answer of a panel that does not apply (an encoder has no next-token predictions,
    a layer outputs no attention pattern): the panel says why, quietly."""

    key: str
    edits: NotRequired[str]
    """The edits the answer was computed with (``edits_tag``); absent: the clean model."""
    unavailable: str


class OutputsViewMeta(TypedDict):
    """What the model predicts for one input (``panels/outputs.py``). Arrays: ``ids`` and
    ``probs``, ``(k,)`` classes or ``(tokens, k)`` next tokens; for a language model also
    ``next_prob`` and ``loss`` ``(tokens,)``, of the token that actually follows (NaN at
    the last position), and ``input_ids`` ``(tokens,)``, the input's own token ids. With
    edits, the clean run's ``clean_probs`` of the same ids and (a language model)
    ``clean_loss``."""

    key: str
    edits: NotRequired[str]
    """The edits the answer was computed with (``edits_tag``); absent: the clean model."""
    input_index: int
    task: PredictionTask
    label: str
    names: dict[str, str]
    """The text of every id in ``ids`` (class names, or tokens)."""
    tokens: NotRequired[list[str]]


class AttentionViewMeta(TypedDict):
    """One attention layer's patterns for one input (``panels/attention.py``). Arrays:
    ``pattern`` ``(heads, queries, keys)``, one byte a probability; ``overview`` with
    ``overview``."""

    key: str
    edits: NotRequired[str]
    """The edits the answer was computed with (``edits_tag``); absent: the clean model."""
    input_index: int
    layer: str
    heads: int
    queries: int
    keys: int
    scores: dict[str, list[float]]
    """Each head score (``HeadScore``), per head."""
    tokens: NotRequired[list[str]]
    trimmed: Trimmed | None
    window: NotRequired[ViewWindow]
    """Present when the pattern is over the limit: ``pattern`` holds these queries, every key."""
    overview: NotRequired[OverviewMeta]
    """Present when the pattern is over the limit: the ``overview`` array ``(heads, rows,
    cols)`` holds each head's whole pattern as tiles, each its largest probability."""


class LensViewMeta(TypedDict):
    """The logit lens of one input (``panels/lens.py``). Arrays: ``ids`` and ``probs``
    ``(layers, tokens, k)``; ``token`` ``(tokens,)`` the token followed, and its
    ``token_rank`` and ``token_prob`` ``(layers, tokens)``."""

    key: str
    edits: NotRequired[str]
    """The edits the answer was computed with (``edits_tag``); absent: the clean model."""
    input_index: int
    layers: list[str]
    tokens: list[str]
    """The tokens decoded: the input's from position ``first`` on."""
    first: int
    """The first position decoded (the panel decodes a long input's last 64)."""
    names: dict[str, str]


class EffectsViewMeta(TypedDict):
    """What a unit writes to the logits (``panels/effects.py``). Arrays: ``promoted``,
    ``promoted_values``, ``suppressed``, ``suppressed_values`` ``(k,)``."""

    key: str
    layer: str
    unit: int
    names: dict[str, str]


class SpecificViewMeta(TypedDict):
    """The units most specific to a group of inputs (``panels/specific.py``): the group
    mean of each input's maximum minus the mean over the explorer's other inputs. Arrays
    ``(k,)``: ``units``, ``difference``, ``group_mean``, ``others_mean``."""

    key: str
    layer: str
    group: list[int]
    others: int
    """How many inputs the group is contrasted with."""


class PatchingViewMeta(TypedDict):
    """An activation-patching sweep (``panels/patching.py``): input ``clean`` patched into
    ``corrupted`` at each layer (its ``site``) and position. Arrays: ``values`` ``(layers,
    positions)``, the metric on each patched run (NaN where a layer has fewer positions);
    ``clean_value`` and ``corrupted_value`` the metric unpatched."""

    key: str
    clean: int
    corrupted: int
    layers: list[str]
    site: str
    metric: str
    clean_value: float
    corrupted_value: float
    tokens: NotRequired[list[str]]


class SnapshotMeta(TypedDict):
    """A snapshot: entry ``e<n>`` is a blob filed under ``keys[n]`` (see :func:`snapshot_key`)."""

    keys: list[str]


class DrawnDetail(TypedDict):
    """The detail of the ``actscope:drawn`` DOM event a layer view fires once painted
    (browser tests and benchmarks listen for it), beside ``data-drawn`` on the root."""

    layer: str
    input_index: int
    t: float


class ThumbsMeta(TypedDict):
    count: int
    total: int
