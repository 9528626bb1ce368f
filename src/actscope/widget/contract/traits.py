"""The values of the synced traits, and :class:`Traits`: every synced trait of ``Explorer``."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from .enums import (
    Blob,
    EditOp,
    EditView,
    HeadScore,
    JobName,
    JobState,
    Kind,
    Modality,
    SaliencyMethod,
    SaliencyTargetType,
    StatusPlace,
    StatusState,
)


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
    features_of: str
    """The layer a lens's features read (``""`` for an ordinary layer)."""


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
    """What the saliency panel explains: the top prediction, a class (``index``), the
    selected unit of the current layer, or (a language model) the next token after the
    selected position."""

    type: SaliencyTargetType
    index: NotRequired[int]


class EditSpec(TypedDict):
    """One edit of the ``edits`` trait: ``op`` by ``amount`` on ``units`` (None: all) of
    ``layer`` at ``positions`` (None: all; tokens, or flat locations ``y * W + x``)."""

    layer: str
    units: list[int] | None
    positions: list[int] | None
    op: EditOp
    amount: float


class MiningInfo(TypedDict):
    has_dataset: bool
    layers: list[str]


class Traits(TypedDict):
    """Every synced trait of ``Explorer`` (``widget/explorer.py`` and its panels)."""

    # selection (explorer.py)
    layer: str
    input_index: int
    unit: int | None
    position: int | None
    # about the model and inputs (explorer.py)
    model_info: ModelInfo
    layers_info: list[LayerInfoDict]
    inputs_info: list[InputInfo]
    thumbs: Blob
    status: Status
    job: Job
    prefetch: bool
    store_bytes: int
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
    # outputs panel (panels/outputs.py)
    classes: list[str]
    outputs_view: Blob
    # attention panel (panels/attention.py)
    attention_view: Blob
    attention_layers: dict[str, str]
    head: int | None
    head_score: HeadScore
    attention_start: int
    # logit lens panel (panels/lens.py)
    lens_view: Blob
    # logit effects of the selected unit (panels/effects.py)
    effects_view: Blob
    # the units most specific to a group of inputs (panels/specific.py)
    contrast_group: list[int]
    specific_view: Blob
    # activation patching (panels/patching.py)
    patching_view: Blob
    # edits (panels/edits.py)
    edits: list[EditSpec]
    edit_view: EditView
