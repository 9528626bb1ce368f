"""Custom messages: front end → Python (:data:`Request`) and back (:data:`Reply`)."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from .enums import PatchMetric


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
    start: NotRequired[int]
    """For a windowed view (``LayerViewMeta.window``): the first position wanted."""
    unit: NotRequired[int]
    """For a windowed view: the unit whose value at every position to add (``column``)."""


class PatchRequest(TypedDict):
    """Run an activation-patching sweep between two inputs (``Explorer.patch``)."""

    type: Literal["patch"]
    clean: int
    corrupted: int
    metric: NotRequired[PatchMetric]


Request = (
    HelloRequest | CancelRequest | MineRequest | OpenExampleRequest | FetchRequest | PatchRequest
)
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
