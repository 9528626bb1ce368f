"""The contract between the Python widget and its front end, declared once.

Everything that crosses the boundary is declared here: the synced traits (:class:`Traits`),
the meta of every wire blob, the custom messages, the enums and the key strings that tag
what a blob answers. The TypeScript side is generated from this file::

    python -m actscope.widget.typescript   # writes js/src/traits.ts and the key fixture

and ``tests/test_contract.py`` fails when the generated files are out of date, so the two
sides cannot drift. The Python encoders build their metas as these ``TypedDict``s, so mypy
rejects a key that is not declared.

Terms (one word per idea, on both sides; ``docs/architecture.md`` has the glossary):
``layer`` a module call's dotted name; ``input_index`` the number of an input; ``unit``
a channel, neuron or feature; ``position`` a token or spatial location (flat); ``kind`` a
layer's layout; ``modality`` what an input is; ``job`` background work; ``index`` only ever
an :class:`~actscope.ActivationIndex`; ``key`` the string saying what a blob answers;
``type`` the tag of a union (messages, saliency targets).
"""

from __future__ import annotations

from typing import Literal, NewType, NotRequired, TypedDict

Blob = NewType("Blob", bytes)
"""A ``Bytes`` trait holding a wire blob (``wire.py``); ``DataView | null`` in the browser."""

# -- enums -------------------------------------------------------------------------------------

Kind = Literal["spatial", "sequence", "vector", "other", "none"]
Modality = Literal["image", "text", "tensor", "dict", "tuple"]
StatusState = Literal["ready", "busy", "error"]
StatusPlace = Literal["view", "input", "action", "mining", "saliency", "examples"]
JobName = Literal["saliency", "examples", "mining"]
JobState = Literal["running", "done", "cancelled", "error"]
SaliencyMethod = Literal[
    "gradient", "input_x_gradient", "integrated_gradients", "smoothgrad", "grad_cam"
]
SaliencyTargetType = Literal["top", "class", "unit"]
SaliencyOver = Literal["pixels", "tokens", "values"]
ExampleContext = Literal["text", "image", "plain"]
RankBy = Literal["max", "mean"]
SnapshotPanel = Literal["layer_view", "saliency", "examples"]
"""The panels a snapshot files entries under (see :func:`snapshot_key`)."""

SALIENCY_LABELS: dict[str, str] = {
    "gradient": "gradient",
    "input_x_gradient": "input × gradient",
    "integrated_gradients": "integrated gradients",
    "smoothgrad": "SmoothGrad",
    "grad_cam": "Grad-CAM",
}
"""How the widget names each saliency method."""

EXAMPLE_BANDS = 10
"""Quantile bands of the examples panel."""

# -- trait values ------------------------------------------------------------------------------


class LayerInfoDict(TypedDict):
    """``LayerInfo.to_dict()`` (``engine/layers.py``): one entry of ``layers_info``."""

    name: str
    type: str
    shape: list[int] | None
    unit_axis: int | None
    n_units: int
    n_positions: int
    kind: Kind
    output: str
    outputs: dict[str, list[int]]
    batch_axis: int | None
    dtype: str
    calls: int
    depth: int
    parent: str
    is_leaf: bool
    aliases: list[str]


class InputInfo(TypedDict):
    """One entry of ``inputs_info``: what the input strip shows of an input."""

    modality: Modality
    label: str
    text: NotRequired[str]
    shape: NotRequired[list[int]]


class ModelInfo(TypedDict):
    name: str
    device: str
    dtype: str
    n_params: int
    training: bool


class Status(TypedDict):
    """The banner: ready, busy or an error, and where the error came from."""

    state: StatusState
    message: str
    where: NotRequired[StatusPlace]


class Job(TypedDict, total=False):
    """The background job started from the widget, if any (``jobs.py``)."""

    name: JobName
    state: JobState
    progress: float | None
    message: str


class SaliencyTarget(TypedDict):
    """What the saliency panel explains: the top prediction, a class (``index``), or the
    selected unit of the current layer."""

    type: SaliencyTargetType
    index: NotRequired[int]


class MiningInfo(TypedDict):
    has_dataset: bool
    layers: list[str]


class Traits(TypedDict):
    """Every synced trait of ``Explorer`` (``widget/explorer.py`` and its panels)."""

    # selection (explorer.py)
    layer: str
    input_index: int
    unit: int | None
    # about the model and inputs (explorer.py)
    model_info: ModelInfo
    layers_info: list[LayerInfoDict]
    inputs_info: list[InputInfo]
    thumbs: Blob
    status: Status
    job: Job
    prefetch: bool
    snapshot_data: Blob
    # layer view panel (panels/layer_view.py)
    layer_view: Blob
    # saliency panel (panels/saliency.py)
    saliency_method: SaliencyMethod | Literal[""]
    saliency_target: SaliencyTarget
    saliency_view: Blob
    # examples panel (panels/examples.py)
    examples_view: Blob
    examples_band: int
    mining: MiningInfo


# -- blob metas ----------------------------------------------------------------------------------


class ErrorMeta(TypedDict):
    """A blob that answers ``key`` with an error instead of data (any panel)."""

    key: str
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


class LayerViewMeta(ValueSummary):
    """One layer of one input (``panels/layer_view.py``). Arrays: :data:`LayerViewArray`."""

    key: str
    layer: str
    input_index: int
    kind: Kind
    shape: list[int]
    layer_shape: list[int]
    unit_axis: int | None
    n_units: int
    trimmed: Trimmed | None
    tokens: NotRequired[list[str]]


LayerViewArray = Literal[
    "act",
    "image",
    "rank_max_units",
    "rank_max_max",
    "rank_max_mean",
    "rank_max_argmax",
    "rank_mean_units",
    "rank_mean_max",
    "rank_mean_mean",
    "rank_mean_argmax",
]


class SaliencyViewMeta(ValueSummary):
    """One saliency map (``panels/saliency.py``). Arrays: ``map`` and, over pixels, ``image``."""

    key: str
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


# -- custom messages -------------------------------------------------------------------------


class HelloRequest(TypedDict):
    type: Literal["hello"]


class CancelRequest(TypedDict):
    type: Literal["cancel"]


class MineRequest(TypedDict):
    type: Literal["mine"]


class OpenExampleRequest(TypedDict):
    type: Literal["open_example"]
    id: int


class FetchRequest(TypedDict):
    """Prefetch a layer view while a kernel is live."""

    type: Literal["fetch"]
    id: int
    layer: str
    input_index: int


Request = HelloRequest | CancelRequest | MineRequest | OpenExampleRequest | FetchRequest
"""Front end → Python."""


class HelloReply(TypedDict):
    type: Literal["hello"]


class LayerViewReply(TypedDict):
    """Carries one layer-view blob as its buffer (none with ``error``)."""

    type: Literal["layer_view"]
    id: int
    key: str
    error: NotRequired[str]


Reply = HelloReply | LayerViewReply
"""Python → front end."""

# -- keys ------------------------------------------------------------------------------------------

KEYS: dict[str, str] = {
    "layer_view": "{input_index}|{layer}",
    "saliency": "{input_index}|{method}|{target}",
    "examples": "{layer}|{unit}|{band}",
    "snapshot": "{panel}|{key}",
}
"""What a blob answers, per panel, as templates (the TypeScript twins are generated)."""


def layer_view_key(input_index: int, layer: str) -> str:
    return KEYS["layer_view"].format(input_index=input_index, layer=layer)


def saliency_target_key(target: SaliencyTarget, layer: str, unit: int | None) -> str:
    """``"top"``, ``"class:<k>"`` or ``"unit:<layer>:<unit>"`` (``"unit:<layer>:"`` with no
    unit selected); js: ``saliencyTargetKey``."""
    if target["type"] == "class":
        return f"class:{target.get('index', 0)}"
    if target["type"] == "unit":
        return f"unit:{layer}:{'' if unit is None else unit}"
    return "top"


def saliency_key(
    input_index: int, method: str, target: SaliencyTarget, layer: str, unit: int | None
) -> str:
    label = saliency_target_key(target, layer, unit)
    return KEYS["saliency"].format(input_index=input_index, method=method, target=label)


def examples_key(layer: str, unit: int, band: int) -> str:
    return KEYS["examples"].format(layer=layer, unit=unit, band=band)


def snapshot_key(panel: SnapshotPanel, key: str) -> str:
    return KEYS["snapshot"].format(panel=panel, key=key)
