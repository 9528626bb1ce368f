"""The outputs panel: what the model predicts for the selected input.

Twin of ``js/src/panels/outputs.ts``. A classifier shows its top classes with
probabilities beside the input's label; a causal language model shows the text coloured by
each token's loss, and at the selected position (the ``position`` trait, shared with the
other views) its top next tokens. Computed by :func:`actscope.predictions` as a quiet job.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import torch
import traitlets

from ...engine.errors import ActscopeError
from ...engine.lm import Predictions, predictions_of
from .. import wire
from ..contract import OutputsViewMeta, UnavailableMeta, outputs_key, snapshot_key
from ..jobs import Progress
from .base import Panel, SnapshotPlan

TOP_K = 10
CACHE_INPUTS = 8


def token_names(tokenizer: Any, ids: Iterable[int]) -> dict[str, str]:
    """The text of each token id (ids as strings: JSON keys)."""
    unique = sorted({int(i) for i in ids})
    if tokenizer is None:
        return {str(i): str(i) for i in unique}
    texts = tokenizer.convert_ids_to_tokens(unique)
    return {str(i): str(t) for i, t in zip(unique, texts, strict=True)}


def unavailable_blob(key: str, why: str) -> bytes:
    meta: UnavailableMeta = {"key": key, "unavailable": why}
    return wire.encode({}, meta)


def outputs_blob(
    found: Predictions,
    *,
    input_index: int,
    label: str,
    classes: list[str],
    tokenizer: Any,
    tokens: list[str] | None,
    input_ids: torch.Tensor | None = None,
) -> bytes:
    """The blob of one input's predictions (the first example of ``found``)."""
    ids = found.ids[0].cpu()
    if found.task == "classes":
        names = {
            str(int(i)): classes[int(i)] if int(i) < len(classes) else str(int(i)) for i in ids
        }
    else:
        names = token_names(tokenizer, ids.reshape(-1).tolist())
    meta: OutputsViewMeta = {
        "key": outputs_key(input_index),
        "input_index": input_index,
        "task": found.task,  # type: ignore[typeddict-item]
        "label": label,
        "names": names,
    }
    arrays: dict[str, Any] = {"ids": ids, "probs": found.probs[0].float().cpu()}
    if found.next_prob is not None and found.loss is not None:
        arrays["next_prob"] = found.next_prob[0].float().cpu()
        arrays["loss"] = found.loss[0].float().cpu()
        if input_ids is not None:
            arrays["input_ids"] = input_ids.reshape(-1).cpu().int()
    if tokens is not None:
        meta["tokens"] = tokens
    return wire.encode(arrays, meta, precisions={"probs": "f16"})


def _input_ids(example: Any) -> torch.Tensor | None:
    ids = example.get("input_ids") if isinstance(example, dict) else example
    return ids if isinstance(ids, torch.Tensor) and not ids.is_floating_point() else None


class OutputsPanel(Panel):
    """The model's predictions for the selected input."""

    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """Type: list of str. Default: [] (classes are named by their index). The names of a
    classifier's classes."""
    outputs_view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob (``OutputsViewMeta``, or ``UnavailableMeta`` for a model with no
    classes or next tokens to predict, such as an encoder) of the selected input."""

    _tokenizer: Any = None

    @traitlets.observe("input_index")
    def _on_outputs_input(self, _change: Any) -> None:
        self._refresh_outputs()

    def _predictions(self, index: int) -> Predictions:
        cache: OrderedDict[int, Predictions] = self.__dict__.setdefault(
            "_outputs_cache", OrderedDict()
        )
        if index in cache:
            cache.move_to_end(index)
            return cache[index]
        session = self.session
        logits, named = session.output(index)
        found = predictions_of(
            session.model, session.inputs.example(index), logits, TOP_K, named=named
        )
        cache[index] = found
        while len(cache) > CACHE_INPUTS:
            cache.popitem(last=False)
        return found

    def _outputs_blob(self, index: int) -> bytes:
        try:
            found = self._predictions(index)
        except ActscopeError as exc:
            return unavailable_blob(outputs_key(index), str(exc))
        inputs = self.session.inputs
        return outputs_blob(
            found,
            input_index=index,
            label=inputs.labels[index] if not inputs.labels[index].startswith("#") else "",
            classes=list(self.classes),
            tokenizer=inputs.tokenizer or self._tokenizer,
            tokens=inputs.tokens(index),
            input_ids=_input_ids(inputs.example(index)),
        )

    def _refresh_outputs(self) -> None:
        if not self._ready():
            return
        index = self.input_index

        def work(progress: Progress) -> bytes:
            progress.check()
            return self._outputs_blob(index)

        def done(blob: bytes) -> None:
            self.outputs_view = blob

        def failed(exc: BaseException) -> None:
            self.outputs_view = unavailable_blob(outputs_key(index), f"{type(exc).__name__}: {exc}")

        self._jobs.start("outputs", work, done, failed, quiet=True)

    def snapshot_entries(self, plan: SnapshotPlan) -> list[tuple[str, bytes]]:
        entries = super().snapshot_entries(plan)
        for i in plan.inputs:
            if plan.layers:
                self.session.activations(i)  # the pass the layer views take, output kept
            entries.append((snapshot_key("outputs", outputs_key(i)), self._outputs_blob(i)))
        return entries

    def _figure_outputs(self, input_index: int | None = None, *, k: int = TOP_K) -> Any:
        """``ex.figure(view="outputs")``: the top predictions, as bars; for a language model
        the tokens coloured by their loss."""
        from .. import figures

        index = self.input_index if input_index is None else input_index
        found = self._predictions(index)
        inputs = self.session.inputs
        if found.task == "classes":
            names = list(self.classes)
            labels = [names[i] if i < len(names) else str(i) for i in found.ids[0][:k].tolist()]
            return figures.vector_figure(
                found.probs[0][:k].cpu(),
                labels=labels,
                title=f"predictions · input {inputs.labels[index]}",
                clip=False,
            )
        assert found.loss is not None
        tokens = inputs.tokens(index) or [str(i) for i in range(found.loss.shape[1])]
        loss = torch.nan_to_num(found.loss[0].float().cpu(), nan=0.0)
        return figures.tokens_figure(loss, tokens, title=f"loss of each next token · input {index}")
