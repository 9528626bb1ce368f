"""The outputs panel: what the model predicts for the selected input.

Twin of ``js/src/panels/outputs.ts``. A classifier shows its top classes with
probabilities beside the input's label; a causal language model shows the text coloured by
each token's loss, and at the selected position (the ``position`` trait, shared with the
other views) its top next tokens. Computed by :func:`actscope.predictions` as a quiet job.
"""

from __future__ import annotations

import time
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

INLINE_SECONDS = 0.03
"""An outputs view that took less than this last time is computed at once, not in a job."""

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
    extra: dict[str, torch.Tensor] | None = None,
) -> bytes:
    """The blob of one input's predictions (the first example of ``found``); ``extra``
    arrays (the clean run's, beside an edited one) travel as they are given."""
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
    arrays.update(extra or {})
    return wire.encode(arrays, meta, precisions={"probs": "f16", "clean_probs": "f16"})


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
    classes or next tokens to predict, such as an encoder) of the selected input. Default:
    input 0's, computed when the explorer is made."""

    _tokenizer: Any = None

    @traitlets.observe("input_index")
    def _on_outputs_input(self, _change: Any) -> None:
        self._refresh_outputs()

    def _predictions(self, index: int, *, edited: bool = True) -> Predictions:
        """Input ``index``'s predictions, with the active edits unless ``edited=False``."""
        cache: OrderedDict[tuple[int, bool], Predictions] = self.__dict__.setdefault(
            "_outputs_cache", OrderedDict()
        )
        key = (index, edited and bool(self.session.edits))
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        session = self.session
        logits, named = session.output(index, edited=edited)
        found = predictions_of(
            session.model, session.inputs.example(index), logits, TOP_K, named=named
        )
        cache[key] = found
        while len(cache) > CACHE_INPUTS:
            cache.popitem(last=False)
        return found

    def _clean_probs(self, index: int, ids: torch.Tensor) -> torch.Tensor:
        """The clean run's probabilities of ``ids`` (``(k,)`` or ``(tokens, k)``)."""
        logits, _ = self.session.output(index, edited=False)
        probs = logits[0].float().softmax(-1).cpu()
        return probs.gather(-1, ids.long().reshape(*probs.shape[:-1], -1)).reshape(ids.shape)

    def _compare_predictions(
        self, index: int, k: int
    ) -> tuple[tuple[list[str], torch.Tensor], torch.Tensor]:
        """``((labels, edited probs), clean probs)`` of the edited run's top ``k``
        predictions (a language model's at the selected position, else its last)."""
        found = self._predictions(index)
        ids = found.ids[0].cpu()
        clean = self._clean_probs(index, ids)
        probs = found.probs[0].float().cpu()
        if found.task != "classes":
            at = self.position if self.position is not None else ids.shape[0] - 1
            ids, probs, clean = ids[at], probs[at], clean[at]
        ids, probs, clean = ids[:k], probs[:k], clean[:k]
        inputs = self.session.inputs
        if found.task == "classes":
            names = list(self.classes)
            labels = [names[i] if i < len(names) else str(i) for i in ids.tolist()]
        else:
            text = token_names(inputs.tokenizer or self._tokenizer, ids.tolist())
            labels = [text[str(i)] for i in ids.tolist()]
        return (labels, probs), clean

    def _outputs_blob(self, index: int) -> bytes:
        tag = self._edit_tag()
        try:
            found = self._predictions(index)
            clean = self._predictions(index, edited=False) if tag else None
        except ActscopeError as exc:
            return self._tagged(unavailable_blob(outputs_key(index), str(exc)), tag)
        inputs = self.session.inputs
        extra: dict[str, torch.Tensor] = {}
        if clean is not None:
            extra["clean_probs"] = self._clean_probs(index, found.ids[0].cpu())
            if clean.loss is not None:
                extra["clean_loss"] = clean.loss[0].float().cpu()
        blob = outputs_blob(
            found,
            input_index=index,
            label=inputs.labels[index] if not inputs.labels[index].startswith("#") else "",
            classes=list(self.classes),
            tokenizer=inputs.tokenizer or self._tokenizer,
            tokens=inputs.tokens(index),
            input_ids=_input_ids(inputs.example(index)),
            extra=extra,
        )
        return self._tagged(blob, tag)

    def _outputs_quick(self) -> bool:
        """Whether the last outputs view took under :data:`INLINE_SECONDS`."""
        return bool(self.__dict__.get("_outputs_seconds", INLINE_SECONDS) < INLINE_SECONDS)

    def _refresh_outputs(self) -> None:
        """The outputs view again: at once when the last one took under
        :data:`INLINE_SECONDS` (a small model: the view then is not a thread hop behind a
        click), else in a background job."""
        if not self._ready():
            return
        index = self.input_index
        generation = self.__dict__["_outputs_generation"] = (
            self.__dict__.get("_outputs_generation", 0) + 1
        )

        def work(progress: Progress) -> bytes:
            progress.check()
            start = time.perf_counter()
            blob = self._outputs_blob(index)
            self.__dict__["_outputs_seconds"] = time.perf_counter() - start
            return blob

        def done(blob: bytes) -> None:
            if self.__dict__.get("_outputs_generation") == generation:  # not overtaken
                self.outputs_view = blob

        def failed(exc: BaseException) -> None:
            why = f"{type(exc).__name__}: {exc}"
            self.outputs_view = self._tagged(unavailable_blob(outputs_key(index), why), tag)

        tag = self._edit_tag()
        if self._outputs_quick():
            self._jobs.cancel("outputs")
            try:
                blob = work(Progress(post=lambda _status: None, name="outputs"))
            except Exception as exc:
                failed(exc)
                return
            done(blob)
            return
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
