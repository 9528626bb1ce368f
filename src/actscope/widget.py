"""The ``Explorer`` widget: synced traits and a few commands, no algorithm.

It turns trait changes into :class:`~actscope.session.Session` calls and the results into
wire blobs. The front end (``js/src/model.ts`` mirrors these traits) renders from traits
alone, which is what keeps saved notebooks and exported pages working without a kernel.
Custom messages only *prefetch* data while a kernel is live.
"""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import anywidget
import torch
import traitlets
from torch import nn

from . import examples_payload, payloads, wire
from . import snapshot as snapshot_module
from ._structure import OutputSelector
from .errors import ActscopeError, InputError, NoTopPredictionError
from .inputs import ForwardFn, InputSet
from .jobs import Jobs, Progress
from .session import Session, describe_model

_STATIC = pathlib.Path(__file__).parent / "static"


class Explorer(anywidget.AnyWidget):
    """Click through the layers, inputs and units of any PyTorch model.

    Args:
        model: any ``torch.nn.Module``. It runs where it is (``device="auto"``) under
            ``torch.no_grad()`` and is never modified: hooks are removed after each pass.
        inputs: an image batch ``(N, C, H, W)``, a batch tensor, a list of tensors (one
            example each, no batch axis), a list of strings (with ``tokenizer``) or a list
            of dicts of tensors.
        tokenizer: a Hugging Face tokenizer, for text inputs.
        labels: one label per input, shown in the input strip.
        layers: the layers to offer (dotted names); by default every submodule.
        dataset, index: data to mine top-activating examples from, or a ready
            :class:`ActivationIndex` (see ``actscope.mine``).
        device: ``"auto"`` (where the model is) or an explicit device matching the model.
        forward: ``forward(model, batch)`` when a batch is not fed as ``model(batch)`` or
            ``model(**batch)``.
        outputs: per layer, which tensor of a tuple/dict output to show.
        unit_axes: per layer, which axis of one example's output indexes units.
        layer: the layer selected first.
        image_mean, image_std: the normalisation of image inputs, to show them as seen.
        max_length: tokens kept per text input.
        top_k: units listed in the ranking panel.
        max_view_values: values sent for one view at most; bigger views are trimmed
            (with a note) and rankings still cover every unit.
        prefetch: fetch the current input's other layers in the background.

    Traits (synced with the front end; set them from Python to drive the view):
        layer (str): the selected layer's name.
        input_index (int): the selected input.
        unit (int | None): the selected unit (channel, neuron) of the layer, if any.
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    # Selection: two-way. -----------------------------------------------------------------
    layer = traitlets.Unicode("").tag(sync=True)
    """Type: str. Default: the first leaf layer with a spatial or sequence output."""
    input_index = traitlets.Int(0).tag(sync=True)
    """Type: int. Default: 0."""
    unit = traitlets.Int(None, allow_none=True).tag(sync=True)
    """Type: int | None. Default: None (no unit selected). Reset when the layer changes."""

    # Written by Python. --------------------------------------------------------------------
    model_info = traitlets.Dict().tag(sync=True)
    """Type: dict (name, device, dtype, n_params, training)."""
    layers_info: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    """Type: list of ``LayerInfo.to_dict()``, in tree order."""
    inputs_info: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    """Type: list of dict (kind, label, text or shape)."""
    thumbs = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob of RGB thumbnails (image inputs only). Written once."""
    view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob for the current (layer, input): activation and ranking, tagged."""
    status = traitlets.Dict({"state": "ready", "message": ""}).tag(sync=True)
    """Type: dict (state: ready | busy | error, message, where)."""
    saliency_method = traitlets.Unicode("").tag(sync=True)
    """Type: str. Default: "" (off). One of ``actscope.saliency`` methods: the saliency
    panel shows its map for the current input and ``saliency_target``."""
    saliency_target = traitlets.Unicode("top").tag(sync=True)
    """Type: str. Default: "top". "top" (the top prediction), "class:<k>", or "unit" (the
    selected unit of the current layer)."""
    saliency_view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob of the current saliency map, tagged with what it answers."""
    task = traitlets.Dict({}).tag(sync=True)
    """Type: dict (kind, state: running | done | cancelled | error, progress, message):
    the background job started from the widget, if any."""
    examples = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob of the selected unit's top dataset examples, histogram and quantile
    bands (``examples_payload.py``), tagged with (layer, unit, band)."""
    examples_band = traitlets.Int(-1).tag(sync=True)
    """Type: int. Default: -1 (none). The quantile band whose sampled examples to show."""
    mining = traitlets.Dict({}).tag(sync=True)
    """Type: dict (has_dataset: bool, layers: the layers an index covers)."""
    snapshot_data = traitlets.Bytes(b"").tag(sync=True)
    """Type: compressed wire blob of precomputed views (see ``snapshot``). Default: empty."""
    prefetch = traitlets.Bool(True).tag(sync=True)
    """Type: bool. Default: True. While a kernel is live, fetch the current input's other
    layers in the background so that moving between layers needs no round trip."""

    def __init__(
        self,
        model: nn.Module,
        inputs: Any,
        tokenizer: Any = None,
        labels: Sequence[Any] | None = None,
        layers: Sequence[str] | None = None,
        dataset: Any = None,
        index: Any = None,
        device: str | torch.device = "auto",
        *,
        forward: ForwardFn | None = None,
        outputs: Mapping[str, OutputSelector] | None = None,
        unit_axes: Mapping[str, int] | None = None,
        layer: str | None = None,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        max_length: int = 512,
        top_k: int = payloads.DEFAULT_TOP_K,
        max_view_values: int = payloads.DEFAULT_MAX_VALUES,
        prefetch: bool = True,
    ) -> None:
        if not (_STATIC / "widget.js").is_file():
            raise RuntimeError(
                f"The actscope front-end bundle is missing ({_STATIC / 'widget.js'}). "
                "Build it with `make build` (or reinstall with `pip install -e .`)."
            )
        input_set = InputSet.from_user(
            inputs,
            tokenizer=tokenizer,
            labels=labels,
            max_length=max_length,
            image_mean=image_mean,
            image_std=image_std,
        )
        self.session = Session(
            model,
            input_set,
            forward=forward,
            device=device,
            layers=layers,
            outputs=outputs,
            unit_axes=unit_axes,
        )
        self.dataset = dataset
        self.indexes: list[Any] = [index] if index is not None else []
        """Activation indexes (``actscope.mine``) the examples panel reads from."""
        self._tokenizer = tokenizer
        self._max_length = max_length
        self._top_k = top_k
        self._max_values = max_view_values
        self._from_front = False
        self._jobs = Jobs(self._on_task)
        first = layer if layer is not None else self.session.default_layer()
        self.session.info(first)  # an unknown layer raises here, with suggestions
        super().__init__(
            model_info=describe_model(model, self.session.device),
            layers_info=[info.to_dict() for info in self.session.layers],
            inputs_info=payloads.inputs_info(input_set),
            thumbs=payloads.thumbnails(input_set),
            layer=first,  # its observer computes the first view (and raises on failure)
            prefetch=prefetch,
            mining=self._mining_state(),
        )
        self.on_msg(self._on_msg)

    # Validation: bad values raise in Python and show in the widget. --------------------------
    @traitlets.validate("layer")
    def _check_layer(self, proposal: Any) -> str:
        name = str(proposal["value"])
        if hasattr(self, "session"):
            self._guard(lambda: self.session.info(name))
        return name

    @traitlets.validate("input_index")
    def _check_input(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if hasattr(self, "session") and not 0 <= value < len(self.session.inputs):
            self._guard(
                lambda: _raise(
                    InputError(
                        f"input_index {value} is out of range: there are "
                        f"{len(self.session.inputs)} inputs (0 to {len(self.session.inputs) - 1})."
                    )
                )
            )
        return value

    @traitlets.validate("unit")
    def _check_unit(self, proposal: Any) -> int | None:
        value = proposal["value"]
        if value is None or not hasattr(self, "session") or not self.layer:
            return value  # type: ignore[no-any-return]
        info = self.session.info(self.layer)
        if not 0 <= int(value) < max(info.n_units, 1):
            self._guard(
                lambda: _raise(
                    InputError(
                        f"unit {value} is out of range for layer {self.layer!r}, which has "
                        f"{info.n_units} units (0 to {info.n_units - 1})."
                    )
                )
            )
        return int(value)

    # Reacting to the selection. --------------------------------------------------------------
    @traitlets.observe("layer")
    def _on_layer(self, change: Any) -> None:
        if change["old"] != change["new"]:
            self.unit = None
        self._refresh(raise_errors=not self._from_front)

    @traitlets.observe("input_index")
    def _on_input(self, _change: Any) -> None:
        self._refresh(raise_errors=not self._from_front)
        self._refresh_saliency()

    @traitlets.observe("unit", "examples_band")
    def _on_examples_settings(self, change: Any) -> None:
        if change["name"] == "unit" and self.examples_band != -1:
            self.examples_band = -1  # its observer refreshes
            return
        self._refresh_examples()

    def _index_for(self, layer: str) -> Any:
        return next((i for i in self.indexes if layer in i.layers), None)

    def _mining_state(self) -> dict[str, Any]:
        layers = sorted({name for i in self.indexes for name in i.layers})
        return {"has_dataset": self.dataset is not None, "layers": layers}

    def _refresh_examples(self) -> None:
        """Start computing the examples panel for the selected unit (in the background)."""
        if not hasattr(self, "session") or self.unit is None:
            return
        layer, unit, band = self.layer, int(self.unit), self.examples_band
        index = self._index_for(layer)
        if index is None:
            self.examples = examples_payload.missing_blob(
                layer,
                unit,
                band,
                can_mine=self.dataset is not None,
                mined=self.mining.get("layers", []),
            )
            return
        context = self._context_options()

        def work(progress: Progress) -> bytes:
            progress.check()
            return examples_payload.examples_blob(index, layer, unit, band, context=context)

        def done(blob: bytes) -> None:
            self.examples = blob

        def failed(exc: BaseException) -> None:
            self.examples = examples_payload.error_blob(layer, unit, band, _message(exc))

        self._jobs.start("examples", work, done, failed)

    def _context_options(self) -> examples_payload.ContextOptions | None:
        if self.dataset is None:
            return None
        inputs = self.session.inputs
        return examples_payload.ContextOptions(
            model=self.session.model,
            dataset=self.dataset,
            tokenizer=self._tokenizer,
            forward=self.session.forward,
            outputs=self.session.outputs or None,
            max_length=self._max_length,
            image_mean=inputs.image_mean,
            image_std=inputs.image_std,
        )

    def mine(
        self,
        layers: Sequence[str] | None = None,
        k: int = 20,
        *,
        batch_size: int = 32,
        background: bool | None = None,
        **options: Any,
    ) -> None:
        """Mine the dataset for ``layers`` (default: the current one) and show the results.

        In a kernel this runs in the background with progress and a Cancel button in the
        widget (``background=False`` waits for it). The index is added to ``ex.indexes``.
        Options are those of :func:`actscope.mine`.
        """
        if self.dataset is None:
            raise InputError(
                "This explorer has no dataset to mine: pass Explorer(..., dataset=...) or a "
                "ready index with Explorer(..., index=actscope.mine(...))."
            )
        from .mining import MiningInterrupted, mine

        chosen = list(layers) if layers is not None else [self.layer]
        for name in chosen:
            self.session.info(name)  # unknown layers raise with suggestions
        session, dataset = self.session, self.dataset

        def work(progress: Progress) -> Any:
            def report(state: dict[str, Any]) -> None:
                seen = int(state.get("examples", 0))
                progress.update(seen, state.get("total"), f"{seen:,} examples")

            try:
                return mine(
                    session.model,
                    dataset,
                    chosen,
                    k,
                    batch_size=batch_size,
                    device=session.device,
                    tokenizer=self._tokenizer,
                    forward=session.forward,
                    outputs=session.outputs or None,
                    unit_axes=session.unit_axes or None,
                    max_length=self._max_length,
                    progress=False,
                    callback=report,
                    **options,
                )
            except MiningInterrupted as stopped:
                if not progress.cancelled:
                    raise
                return stopped.index  # Cancel keeps what was mined so far

        def done(index: Any) -> None:
            self.indexes.append(index)
            self.mining = self._mining_state()
            self._refresh_examples()

        def failed(exc: BaseException) -> None:
            self.status = {"state": "error", "message": _message(exc), "where": "mining"}

        self._jobs.start("mining", work, done, failed, background=background)

    def _open_example(self, example_id: int) -> None:
        """Make dataset example ``example_id`` an input of the explorer, and select it."""
        label = f"example {example_id}"
        inputs = self.session.inputs
        if label in inputs.labels:
            self.input_index = inputs.labels.index(label)
            return
        from .mining.sources import make_source

        source = make_source(
            self.dataset, batch_size=1, tokenizer=self._tokenizer, max_length=self._max_length
        )
        batch = source.fetch([example_id])
        text = (
            self.dataset[example_id]
            if isinstance(self.dataset, list) and isinstance(self.dataset[example_id], str)
            else None
        )
        index = inputs.add(batch, label, text)
        self.inputs_info = payloads.inputs_info(inputs)
        self.thumbs = payloads.thumbnails(inputs)
        self.input_index = index

    @traitlets.observe("saliency_method", "saliency_target", "unit")
    def _on_saliency_settings(self, change: Any) -> None:
        if change["name"] == "unit" and self.saliency_target != "unit":
            return
        self._refresh_saliency()

    def _refresh_saliency(self) -> None:
        """Start computing the saliency map for the current settings (in the background)."""
        method = self.saliency_method
        if not method or not hasattr(self, "session"):
            return
        index, target, layer, unit = self.input_index, self.saliency_target, self.layer, self.unit
        key = _saliency_key(index, method, target, layer, unit)

        def work(progress: Progress) -> bytes:
            return self._saliency_blob(index, method, target, layer, unit, progress)

        def done(blob: bytes) -> None:
            self.saliency_view = blob

        def failed(exc: BaseException) -> None:
            self.saliency_view = payloads.saliency_error(key, _message(exc))

        self._jobs.start("saliency", work, done, failed)

    def _saliency_blob(
        self,
        index: int,
        method: str,
        target: str,
        layer: str,
        unit: int | None,
        progress: Progress | None = None,
    ) -> bytes:
        """One saliency map as a blob tagged with what it answers (runs in a job's thread)."""
        scores, delta = self.session.saliency(
            index, method, target, layer=layer, unit=unit, progress=progress
        )
        return payloads.saliency_view(
            scores,
            key=_saliency_key(index, method, target, layer, unit),
            inputs=self.session.inputs,
            input_index=index,
            method=method,
            target_label=f"unit {unit} of {layer}" if target == "unit" else target,
            delta=delta,
        )

    def _on_task(self, status: dict[str, Any]) -> None:
        self.task = status

    def set_state(self, sync_data: Any) -> None:
        """Apply a change from the front end (errors then show in the widget only)."""
        self._from_front = True
        try:
            super().set_state(sync_data)
        finally:
            self._from_front = False

    def _refresh(self, *, raise_errors: bool) -> None:
        """Recompute ``view`` for the current selection."""
        layer, index = self.layer, self.input_index
        try:
            self.view = self._view_blob(layer, index)
        except Exception as exc:
            self.view = payloads.error_view(layer, index, _message(exc))
            self.status = {"state": "error", "message": _message(exc), "where": "view"}
            if raise_errors:
                raise
            return
        if self.status.get("state") != "ready":
            self.status = {"state": "ready", "message": self._ready_message()}

    def _view_blob(self, layer: str, index: int) -> bytes:
        act = self.session.activation(layer, index)
        return payloads.layer_view(
            self.session.info(layer),
            act,
            input_index=index,
            inputs=self.session.inputs,
            top_k=self._top_k,
            max_values=self._max_values,
        )

    def _ready_message(self) -> str:
        if self.session.model.training:
            return (
                "The model is in training mode: dropout and batch norm act as in training. "
                "Call model.eval() for repeatable activations."
            )
        return ""

    def _guard_front(self, action: Any) -> None:
        """Run an action the front end asked for; errors show in the widget."""
        try:
            action()
        except Exception as exc:  # the front end has no one to raise to
            self.status = {"state": "error", "message": _message(exc), "where": "action"}

    def _guard(self, check: Any) -> None:
        """Run a check; on failure show the error in the widget, then raise it."""
        try:
            check()
        except ActscopeError as exc:
            self.status = {"state": "error", "message": _message(exc), "where": "input"}
            raise

    # Figures. ---------------------------------------------------------------------------------
    def figure(
        self,
        layer: str | None = None,
        input_index: int | None = None,
        unit: int | None = None,
        *,
        sort: str = "index",
        clip: bool = True,
    ) -> Any:
        """A plotly figure of a view, matching what the widget draws.

        Args:
            layer, input_index: default to the current selection.
            unit: a unit of the layer: for sequences, the tokens coloured by it; for
                spatial layers, its map over the input. Without it, the whole layer.
            sort: ``"index"``, ``"max"`` or ``"mean"``: the order of units (as in the widget).
            clip: clip the colour range at the 99.9th percentile of |values|.

        Returns:
            A ``plotly.graph_objects.Figure``.
        """
        from . import figures
        from .ranking import unit_stats

        name = layer if layer is not None else self.layer
        index = input_index if input_index is not None else self.input_index
        info = self.session.info(name)
        act = self.session.activation(name, index).float().cpu()
        label = self.session.inputs.labels[index]
        title = f"{name} ({info.type}) · input {label}"
        tokens = self.session.inputs.tokens(index)
        axis = payloads.unit_axis_of(info.kind)
        order = None
        if sort != "index":
            stats = unit_stats(act, axis)
            key = stats.max if sort == "max" else stats.mean
            order = torch.sort(-key.nan_to_num(nan=float("-inf")), stable=True).indices
        if unit is not None:
            if not 0 <= unit < act.shape[axis]:
                raise InputError(
                    f"unit {unit} is out of range for {name!r} ({act.shape[axis]} units)."
                )
            if info.kind == "sequence":
                values = act[:, unit]
                return figures.tokens_figure(
                    values,
                    tokens or [str(t) for t in range(len(values))],
                    title=f"{title} · neuron {unit}",
                )
            if info.kind == "spatial":
                return figures.channel_figure(
                    act[unit], self.session.inputs.image(index), title=f"{title} · channel {unit}"
                )
        if info.kind == "spatial":
            return figures.spatial_figure(act, title=title, order=order, clip=clip)
        if info.kind == "vector":
            return figures.vector_figure(act, title=title, clip=clip)
        if info.kind == "sequence":
            return figures.sequence_figure(act, tokens, title=title, order=order, clip=clip)
        # other layouts: (units, positions) drawn as positions × units
        return figures.sequence_figure(act.T, None, title=title, order=order, clip=clip)

    # Sharing. ---------------------------------------------------------------------------------
    def snapshot(
        self,
        layers: Sequence[str] | None = None,
        inputs: Sequence[int] | None = None,
        units: Sequence[int] | None = None,
        *,
        saliency: Sequence[str] = (),
        precision: wire.Precision = "u8",
        max_bytes: int = snapshot_module.DEFAULT_MAX_BYTES,
    ) -> snapshot_module.SnapshotInfo:
        """Precompute views so that a saved notebook or exported page can show them without
        a kernel.

        Args:
            layers: layers to include (default: every layer with a tensor output).
            inputs: input indices to include (default: all).
            units: units of the current layer whose extras to include: saliency maps with
                the unit as target, and top examples when the explorer has an index. The
                views themselves hold every unit.
            saliency: saliency methods to include, for every chosen input, with the top
                prediction as target (and each of ``units``).
            precision: ``"u8"`` (1 byte a value, 1/252 of each view's range) or ``"f16"``.
            max_bytes: the limit on the estimated size before compression; over it, an
                error gives the estimate and how to shrink the snapshot.

        Returns:
            What the snapshot holds (views, bytes), also kept in the widget state.

        Example::

            ex.snapshot(layers=["features.conv1", "classifier.fc2"], inputs=range(8))
            ex.to_html("explorer.html")
        """
        chosen = list(range(len(self.session.inputs))) if inputs is None else list(inputs)
        extra = [
            (f"saliency|{key}", blob)
            for key, blob in self._saliency_entries(chosen, saliency, list(units or []))
        ]
        extra += self._examples_entries(layers, list(units or []))
        blob, info = snapshot_module.build(
            self.session,
            layers=layers,
            inputs=inputs,
            precision=precision,
            max_bytes=max_bytes,
            top_k=self._top_k,
            max_view_values=self._max_values,
            extra=extra,
        )
        self.snapshot_data = blob
        return info

    def _examples_entries(
        self, layers: Sequence[str] | None, units: Sequence[int]
    ) -> list[tuple[str, bytes]]:
        """Examples panels for the snapshot: each of ``units`` of each indexed layer, with
        every quantile band opened in turn."""
        names = [self.layer] if layers is None else list(layers)
        context = self._context_options()
        entries = []
        for name in names:
            index = self._index_for(name)
            if index is None:
                continue
            for unit in units:
                for band in range(-1, examples_payload.BANDS):
                    blob = examples_payload.examples_blob(index, name, unit, band, context=context)
                    entries.append(
                        (f"examples|{examples_payload.examples_key(name, unit, band)}", blob)
                    )
        return entries

    def _saliency_entries(
        self, inputs: Sequence[int], methods: Sequence[str], units: Sequence[int]
    ) -> list[tuple[str, bytes]]:
        """Saliency maps for the snapshot: methods × inputs × (top prediction, each unit).

        A model without a single top prediction (an encoder's hidden states) gets, for that
        target, the note a live explorer would show; every other error raises.
        """
        targets: list[tuple[str, int | None]] = [("top", None)] + [("unit", u) for u in units]
        entries = []
        for method, index, (target, unit) in itertools.product(methods, inputs, targets):
            key = _saliency_key(index, method, target, self.layer, unit)
            try:
                blob = self._saliency_blob(index, method, target, self.layer, unit)
            except NoTopPredictionError as exc:
                blob = payloads.saliency_error(key, _message(exc))
            entries.append((key, blob))
        return entries

    def to_html(self, path: str | pathlib.Path, *, title: str | None = None) -> pathlib.Path:
        """Write a standalone page: the explorer with its bundle and state inlined.

        The page needs no network and no kernel; opened from disk it shows the views the
        widget holds (``snapshot`` adds more).
        """
        from . import export

        info = self.model_info
        name = title or f"actscope: {info.get('name', 'model')}"
        n = len(self.session.inputs)
        note = f"{info.get('name', '')} · {n} inputs · saved from a live session"
        return export.write_page(
            export.page(export.widget_state(self), title=name, note=note), path
        )

    # Custom messages: prefetching while a kernel is live. -------------------------------------
    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "hello":
            self.send({"type": "hello"})
        elif kind == "cancel":
            self._jobs.cancel()
        elif kind == "mine":
            self._guard_front(self.mine)
        elif kind == "open_example":
            self._guard_front(lambda: self._open_example(int(content["id"])))
        elif kind == "fetch":
            self._answer_fetch(content)

    def _answer_fetch(self, content: dict[str, Any]) -> None:
        reply = {
            "type": "block",
            "id": content.get("id"),
            "layer": content.get("layer"),
            "input": content.get("input"),
        }
        try:
            blob = self._view_blob(str(content["layer"]), int(content["input"]))
        except Exception as exc:
            self.send({**reply, "error": _message(exc)})
            return
        self.send(reply, [blob])


def _saliency_key(index: int, method: str, target: str, layer: str, unit: int | None) -> str:
    """What a saliency map answers (the front end computes the same key: app.ts)."""
    return payloads.saliency_key(
        index, method, f"unit:{layer}:{unit}" if target == "unit" else target
    )


def _message(exc: BaseException) -> str:
    if isinstance(exc, ActscopeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _raise(exc: BaseException) -> None:
    raise exc
