"""The saliency panel: which parts of the selected input drive the output or a unit.

Twin of ``js/src/panels/saliency.ts``. ``saliency_method`` and ``saliency_target`` say what
to compute; the map arrives in ``saliency_view``, tagged with
:func:`~actscope.widget.contract.saliency_key`. Slow methods run as a background job with
progress and Cancel.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, get_args

import torch
import traitlets
from torch import nn

from ...engine.errors import InputError, NoTopPredictionError, closest
from ...engine.hooks import Hooks
from ...engine.inputs import InputSet
from ...engine.saliency import METHODS, NextToken, Unit, saliency
from .. import wire
from ..contract import (
    ErrorMeta,
    SaliencyTarget,
    SaliencyTargetType,
    SaliencyViewMeta,
    saliency_key,
    saliency_target_key,
    snapshot_key,
)
from ..display import message, value_summary
from ..jobs import Progress
from .base import Panel, SnapshotPlan

TOP: SaliencyTarget = {"type": "top"}

# The settings the widget uses for each method, and the forward passes each takes (for
# its progress bar).
PRESETS: dict[str, tuple[dict[str, Any], int]] = {
    "integrated_gradients": (
        {"n_steps": 50, "internal_batch_size": 10, "return_delta": True},
        50 // 10 + 3,
    ),
    "smoothgrad": ({"n_samples": 25, "internal_batch_size": 5, "seed": 0}, 25 // 5 + 1),
}


def parse_target(value: Any) -> SaliencyTarget:
    """A saliency target from a trait value; bad ones raise :class:`InputError`."""
    types = get_args(SaliencyTargetType)
    if not isinstance(value, dict) or value.get("type") not in types:
        raise InputError(
            f"saliency_target {value!r} is not a target: use {{'type': 'top'}}, "
            "{'type': 'class', 'index': 3} or {'type': 'unit'} (the selected unit)."
        )
    extra = set(value) - {"type", "index"}
    if extra:
        raise InputError(f"saliency_target has unknown keys {sorted(extra)}: only type, index.")
    if value["type"] == "class":
        index = value.get("index", 0)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InputError(
                f"saliency_target index {index!r} must be a class (an output index) >= 0."
            )
        return {"type": "class", "index": index}
    return {"type": value["type"]}


def saliency_view_blob(
    scores: torch.Tensor,
    *,
    key: str,
    inputs: InputSet,
    input_index: int,
    method: Any,
    target_label: str,
    delta: float | None = None,
) -> bytes:
    """The blob of one saliency map: per pixel for images (channels summed, signed), per
    token for text, flattened otherwise."""
    s = scores.detach()[0].float()
    tokens = inputs.tokens(input_index)
    image = inputs.image(input_index)
    arrays: dict[str, Any] = {}
    if image is not None and s.ndim in (2, 3):
        over, arrays["map"], arrays["image"] = "pixels", (s.sum(0) if s.ndim == 3 else s), image
    elif tokens is not None:
        over, arrays["map"] = "tokens", s.reshape(-1)[: len(tokens)]
    else:
        over, arrays["map"] = "values", s.reshape(-1)
    meta: SaliencyViewMeta = {
        **value_summary(arrays["map"]),  # type: ignore[typeddict-item]  # as above
        "key": key,
        "input_index": input_index,
        "method": method,
        "target": target_label,
        "over": over,  # type: ignore[typeddict-item]
        "delta": delta,
    }
    if tokens is not None and over == "tokens":
        meta["tokens"] = tokens
    return wire.encode(arrays, meta)


def error_blob(key: str, text: str) -> bytes:
    meta: ErrorMeta = {"key": key, "error": text}
    return wire.encode({}, meta)


class SaliencyPanel(Panel):
    """Attributions of the top prediction, a class, or the selected unit to the input."""

    saliency_method = traitlets.Unicode("").tag(sync=True)
    """Type: str. Default: "" (off). One of ``actscope.saliency``'s methods: the panel shows
    its map for the current input and ``saliency_target``."""
    saliency_target = traitlets.Any(dict(TOP)).tag(sync=True)
    """Type: ``SaliencyTarget``. Default: {"type": "top"} (the top prediction);
    {"type": "class", "index": k}; or {"type": "unit"} (the selected unit of the layer)."""
    saliency_view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob (``SaliencyViewMeta``) of the current map, tagged with what it answers.
    Default: empty while ``saliency_method`` is off."""

    @traitlets.validate("saliency_method")
    def _check_method(self, proposal: Any) -> str:
        value = proposal["value"]

        def test() -> None:
            if not isinstance(value, str) or (value and value not in METHODS):
                hint = closest(str(value), METHODS)
                raise InputError(
                    f"Unknown saliency method {value!r}."
                    + (f" Did you mean {hint[0]!r}?" if hint else "")
                    + f" Methods: {', '.join(METHODS)}, or '' for none."
                )

        return str(self._checked(value, test))

    @traitlets.validate("saliency_target")
    def _check_target(self, proposal: Any) -> SaliencyTarget:
        parsed: list[SaliencyTarget] = []
        self._checked(proposal["value"], lambda: parsed.append(parse_target(proposal["value"])))
        return parsed[0]

    @traitlets.observe("saliency_method", "saliency_target", "unit", "input_index", "position")
    def _on_saliency_settings(self, change: Any) -> None:
        follows = {"unit": "unit", "position": "token"}.get(change["name"])
        if follows is not None and self.saliency_target.get("type") != follows:
            return
        self._refresh_saliency()

    def _refresh_saliency(self) -> None:
        """Start computing the saliency map for the current settings (in the background)."""
        method = self.saliency_method
        if not method or not self._ready():
            return
        index, layer, unit, position = self.input_index, self.layer, self.unit, self.position
        target: SaliencyTarget = dict(self.saliency_target)  # type: ignore[assignment]
        key = saliency_key(index, method, target, layer, unit, position)

        def work(progress: Progress) -> bytes:
            return self._saliency_blob(index, method, target, layer, unit, progress, position)

        def done(blob: bytes) -> None:
            self.saliency_view = blob

        def failed(exc: BaseException) -> None:
            self.saliency_view = self._tagged(error_blob(key, message(exc)), tag)

        tag = self._edit_tag()

        self._jobs.start("saliency", work, done, failed)

    def _saliency_scores(
        self,
        index: int,
        method: str,
        target: SaliencyTarget,
        layer: str,
        unit: int | None,
        progress: Progress | None = None,
        position: int | None = None,
    ) -> tuple[torch.Tensor, float | None]:
        """Attributions for input ``index``: ``(scores, completeness delta or None)``.

        Grad-CAM uses ``layer`` when it is spatial, else the last convolution.
        ``progress`` hears of every forward pass, and can cancel.
        """
        session = self.session
        goal: Any = None
        if target["type"] == "unit":
            if unit is None:
                raise InputError(
                    "Select a unit (a channel or a neuron) to explain, or pick another target."
                )
            goal = Unit.of(session.info(layer), unit)
        elif target["type"] == "class":
            goal = int(target.get("index", 0))
        elif target["type"] == "token":
            goal = NextToken(position=position)  # the last position when none is selected
        options, passes = PRESETS.get(method, ({}, 2))
        options = dict(options)
        if method == "grad_cam" and session.info(layer).kind == "spatial":
            options["layer"] = session.info(layer).name
        with counting_forwards(session.model, progress, passes), session.editing():
            result = saliency(
                session.model,
                session.inputs.example(index),  # text is already tokenized
                method,
                goal,
                forward=session.forward,
                device=session.device,
                **options,
            )
        if isinstance(result, tuple):
            scores, delta = result
            return scores, float(delta.abs().max())
        return result, None

    def _saliency_blob(
        self,
        index: int,
        method: str,
        target: SaliencyTarget,
        layer: str,
        unit: int | None,
        progress: Progress | None = None,
        position: int | None = None,
    ) -> bytes:
        """One saliency map as a blob tagged with what it answers (runs in a job's thread)."""
        tag = self._edit_tag()
        scores, delta = self._saliency_scores(
            index, method, target, layer, unit, progress, position
        )
        label = f"unit {unit} of {layer}" if target["type"] == "unit" else _label(target)
        if target["type"] == "token":
            label = f"the next token after position {'last' if position is None else position}"
        blob = saliency_view_blob(
            scores,
            key=saliency_key(index, method, target, layer, unit, position),
            inputs=self.session.inputs,
            input_index=index,
            method=method,
            target_label=label,
            delta=delta,
        )
        return self._tagged(blob, tag)

    def snapshot_entries(self, plan: SnapshotPlan) -> list[tuple[str, bytes]]:
        """Methods × inputs × (top prediction, each unit of the plan).

        A model without a single top prediction (an encoder's hidden states) gets, for that
        target, the note a live explorer would show; every other error raises.
        """
        entries = super().snapshot_entries(plan)
        for method, index, (target, unit) in itertools.product(
            plan.saliency, plan.inputs, list(_targets(plan))
        ):
            key = saliency_key(index, method, target, self.layer, unit)
            try:
                blob = self._saliency_blob(index, method, target, self.layer, unit)
            except NoTopPredictionError as exc:
                blob = self._tagged(error_blob(key, message(exc)), self._edit_tag())
            entries.append((snapshot_key("saliency", key), blob))
        return entries


def _targets(plan: SnapshotPlan) -> Iterator[tuple[SaliencyTarget, int | None]]:
    yield TOP, None
    for unit in plan.units:
        yield {"type": "unit"}, unit


def _label(target: SaliencyTarget) -> str:
    key = saliency_target_key(target, "", None)
    return "top prediction" if key == "top" else key.replace(":", " ")


@contextmanager
def counting_forwards(model: nn.Module, progress: Any, expected: int) -> Iterator[None]:
    """Report each forward pass of ``model`` to ``progress`` (which may cancel the work)."""
    if progress is None:
        yield
        return
    calls = [0]

    def count(_module: nn.Module, _args: Any) -> None:
        calls[0] += 1
        progress.update(min(calls[0], expected - 1), expected, f"pass {calls[0]} of ~{expected}")

    with Hooks() as hooks:
        hooks.pre(model, count)
        yield
