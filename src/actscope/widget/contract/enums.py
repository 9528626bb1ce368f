"""The enums of the contract (and a few constants both sides share)."""

from __future__ import annotations

from typing import Literal, NewType

Blob = NewType("Blob", bytes)
"""A ``Bytes`` trait holding a wire blob (``wire.py``); ``DataView | null`` in the browser."""

Kind = Literal["spatial", "sequence", "vector", "other", "none"]
Modality = Literal["image", "text", "tensor", "dict", "tuple"]
StatusState = Literal["ready", "busy", "error"]
StatusPlace = Literal["view", "input", "action", "mining", "saliency", "examples"]
JobName = Literal["saliency", "examples", "mining", "patching"]
JobState = Literal["running", "done", "cancelled", "error"]
SaliencyMethod = Literal[
    "gradient", "input_x_gradient", "integrated_gradients", "smoothgrad", "grad_cam"
]
SaliencyTargetType = Literal["top", "class", "unit", "token"]
SaliencyOver = Literal["pixels", "tokens", "values"]
ExampleContext = Literal["text", "image", "plain"]
RankBy = Literal["max", "mean", "count"]
HeadScore = Literal["previous_token", "induction", "first_token", "entropy"]
"""How the attention panel ranks heads (``engine/attention.py: head_scores``)."""
PredictionTask = Literal["classes", "next_tokens"]
EditOp = Literal["scale", "value", "add"]
"""What an edit of the widget does to its units: multiply them (``scale``, 0 ablates), set
them (``value``) or add to them (``add``: steering), by its ``amount``."""
PatchMetric = Literal["top_logprob", "logit_diff"]
"""The patching panel's metrics: the log-probability of the clean run's top prediction, or
the logit difference between the clean run's and the corrupted run's top predictions."""
EditView = Literal["edited", "clean", "difference"]
"""What the layer view shows while edits are active: the edited run, the clean run, or
edited minus clean."""
SnapshotPanel = Literal[
    "layer_view", "saliency", "examples", "outputs", "attention", "lens", "effects", "specific"
]
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
