"""The ``Explorer`` widget: layout, selection and wiring; the panels do the rest.

Twin of ``js/src/explorer.ts``. The explorer holds the selection (layer, input, unit), what
the header and the input strip show, the status banner and the background jobs; each panel
(``panels/``) is a mixin that owns its traits, observers, job, encoder and key. The front
end renders from traits alone, which keeps saved notebooks and exported pages working
without a kernel; custom messages only prefetch while a kernel is live.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import anywidget
import torch
import traitlets
from torch import nn

from ..engine.errors import InputError
from ..engine.forward import ForwardFn
from ..engine.inputs import InputSet
from ..engine.lenses import register as register_lenses
from ..engine.outputs import OutputSelector
from . import sharing
from .contract import Job, StatusPlace
from .display import describe_model, inputs_info, message, thumbnails
from .jobs import Jobs
from .panels.attention import AttentionPanel
from .panels.base import as_trait_error
from .panels.edits import EditsPanel
from .panels.effects import EffectsPanel
from .panels.examples import ExamplesPanel
from .panels.layer_view import DEFAULT_MAX_VALUES, DEFAULT_TOP_K, LayerViewPanel
from .panels.lens import LensPanel
from .panels.outputs import OutputsPanel
from .panels.patching import PatchingPanel
from .panels.saliency import SaliencyPanel
from .panels.specific import SpecificPanel
from .session import Session

_STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"


class Explorer(
    LayerViewPanel,
    OutputsPanel,
    AttentionPanel,
    LensPanel,
    EffectsPanel,
    SpecificPanel,
    SaliencyPanel,
    ExamplesPanel,
    EditsPanel,
    PatchingPanel,
    anywidget.AnyWidget,
):
    """Click through the layers, inputs and units of any PyTorch model.

    Args:
        model: any ``torch.nn.Module`` (or a wrapper of one, such as nnsight's). It runs
            where it is (``device="auto"``) under ``torch.no_grad()`` and is left as found:
            hooks are removed after each pass, buffers restored.
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
        classes: the names of a classifier's classes (by default their indices).
        image_mean, image_std: the normalisation of image inputs, to show them as seen.
        max_length: tokens kept per text input.
        top_k: units listed in the ranking panel.
        max_view_values: values sent for one view at most; bigger views are trimmed
            (with a note) and rankings still cover every unit.
        prefetch: fetch the current input's other layers in the background.
        lenses: :class:`actscope.Lens` objects (or SAE-like objects): their features are
            layers ``"<layer>/<name>"``, under their layer in the tree, shown, ranked,
            mined, attributed to and edited as features.
        cache_bytes: the most bytes of activations (and outputs) the explorer keeps between
            views, the inputs seen longest ago dropped first (default: a quarter of the
            device's free memory, at most 8 GiB; ``ex.session.held_bytes()`` says what it
            holds).

    Traits (synced with the front end; set them from Python to drive the view; a bad value
    raises, shows in the widget, and the trait keeps its last good value):
        layer (str): the selected layer's name.
        input_index (int): the selected input.
        unit (int | None): the selected unit (channel, neuron) of the layer, if any.
        edits (list): the active edits (ablate, set, steer; see ``add_edit``): every view
            downstream shows the edited run.
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    # Selection: two-way. -------------------------------------------------------------------
    layer = traitlets.Unicode("").tag(sync=True)
    """Type: str. Default: the first leaf layer with a spatial or sequence output."""
    input_index = traitlets.Int(0).tag(sync=True)
    """Type: int. Default: 0."""
    unit = traitlets.Int(None, allow_none=True).tag(sync=True)
    """Type: int | None. Default: None (no unit selected). Reset when the layer changes."""
    position = traitlets.Int(None, allow_none=True).tag(sync=True)
    """Type: int | None. Default: None. The selected position (a token of a text input),
    shared by the views: the outputs panel's next tokens, the saliency target "token"."""

    # Written by Python. ----------------------------------------------------------------------
    model_info = traitlets.Dict().tag(sync=True)
    """Type: ``ModelInfo`` (name, device, dtype, n_params, training). Default: the model's,
    when the explorer is made."""
    layers_info: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    """Type: list of ``LayerInfo.to_dict()``, in tree order. Default: every layer offered
    (``layers=``), found when the explorer is made."""
    inputs_info: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    """Type: list of ``InputInfo`` (modality, label, text or shape). Default: one per input,
    in order."""
    thumbs = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob of RGB thumbnails (image inputs only). Default: empty for other
    inputs."""
    status = traitlets.Dict({"state": "ready", "message": ""}).tag(sync=True)
    """Type: ``Status`` (state: ready | busy | error, message, where). Default:
    {"state": "ready", "message": ""}."""
    job = traitlets.Dict({}).tag(sync=True)
    """Type: ``Job`` (name, state: running | done | cancelled | error, progress, message):
    the background job started from the widget, if any. Default: {} (none)."""
    snapshot_data = traitlets.Bytes(b"").tag(sync=True)
    """Type: compressed wire blob of precomputed views (see ``snapshot``). Default: empty."""

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
        classes: Sequence[str] | None = None,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        max_length: int = 512,
        top_k: int = DEFAULT_TOP_K,
        max_view_values: int = DEFAULT_MAX_VALUES,
        prefetch: bool = True,
        lenses: Sequence[Any] | None = None,
        cache_bytes: int | None = None,
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
        lens_names = register_lenses(model, lenses)
        if layers is not None:
            layers = [*layers, *(n for n in lens_names if n not in layers)]
        session = Session(
            model,
            input_set,
            forward=forward,
            device=device,
            layers=layers,
            outputs=outputs,
            unit_axes=unit_axes,
            cache_bytes=cache_bytes,
            first_layer=layer,
        )
        self.dataset = dataset
        """The dataset the examples panel shows examples from and mines (``dataset=``)."""
        self.indexes: list[Any] = [index] if index is not None else []
        """Activation indexes (``actscope.mine``) the examples panel reads from."""
        self._tokenizer = tokenizer
        self._max_length = max_length
        self._top_k = top_k
        self._max_values = max_view_values
        self._from_front = False
        self._jobs = Jobs(self._on_job)
        first = layer if layer is not None else session.default_layer()
        session.info(first)  # an unknown layer raises here, with suggestions
        self.session = session
        """The model, its inputs and their cached activations: ``session.activation(layer,
        input_index)`` gives the tensor a view shows."""
        self._init_attention()  # before the first layer is set
        super().__init__(
            model_info=describe_model(session.model, session.device),
            layers_info=[info.to_dict() for info in session.layers],
            inputs_info=inputs_info(input_set),
            thumbs=thumbnails(input_set),
            prefetch=prefetch,
            mining=self._mining_info(),
            classes=[str(c) for c in classes] if classes is not None else [],
        )
        self._opening = True  # the first layer view first, then the other panels' views
        self.layer = first  # its observers compute the first view (and raise on failure)
        self._opening = False
        self._refresh_attention()
        self._refresh_outputs()  # the views of input 0, which no change of input announces
        self._refresh_lens()
        self.on_msg(self._on_msg)

    # Validation: bad values raise TraitError-compatible errors (rolled back by traitlets). -----
    @traitlets.validate("layer")
    def _check_layer(self, proposal: Any) -> str:
        name = str(proposal["value"])
        return str(self._checked(name, lambda: self.session.info(name)))

    @traitlets.validate("input_index")
    def _check_input(self, proposal: Any) -> int:
        value, n = int(proposal["value"]), len(self.session.inputs)

        def test() -> None:
            if not 0 <= value < n:
                raise InputError(
                    f"input_index {value} is out of range: there are {n} inputs (0 to {n - 1})."
                )

        return int(self._checked(value, test))

    @traitlets.validate("unit")
    def _check_unit(self, proposal: Any) -> int | None:
        value = proposal["value"]
        if value is None or not self.layer:
            return value  # type: ignore[no-any-return]
        info = self.session.info(self.layer)

        def test() -> None:
            if not 0 <= int(value) < max(info.n_units, 1):
                raise InputError(
                    f"unit {value} is out of range for layer {self.layer!r}, which has "
                    f"{info.n_units} units (0 to {info.n_units - 1})."
                )

        return int(self._checked(int(value), test))

    # Reacting to the selection. --------------------------------------------------------------
    @traitlets.observe("layer")
    def _on_layer(self, change: Any) -> None:
        if change["old"] != change["new"]:
            self.unit = None

    def _view_ok(self) -> None:
        if self.status.get("state") != "ready":
            self.status = {"state": "ready", "message": self._ready_message()}

    def _ready_message(self) -> str:
        if self.session.model.training:
            return (
                "The model is in training mode: dropout and batch norm act as in training. "
                "Call model.eval() for repeatable activations."
            )
        return ""

    @traitlets.validate("position")
    def _check_position(self, proposal: Any) -> int | None:
        value = proposal["value"]
        if value is None:
            return None
        count = self._positions(self.input_index)

        def test() -> None:
            if not 0 <= int(value) < count:
                raise InputError(
                    f"position {value} is out of range: input {self.input_index} has {count} "
                    f"positions (0 to {count - 1})."
                )

        return int(self._checked(int(value), test))

    def _positions(self, index: int) -> int:
        """Tokens of a text input; positions of the current layer otherwise."""
        tokens = self.session.inputs.tokens(index)
        if tokens is not None:
            return len(tokens)
        return self.session.info(self.layer).n_positions if self.layer else 1

    @traitlets.observe("input_index")
    def _on_input_position(self, _change: Any) -> None:
        if self.position is not None and self.position >= self._positions(self.input_index):
            self.position = None

    def _show_error(self, exc: BaseException, where: StatusPlace) -> None:
        self.status = {"state": "error", "message": message(exc), "where": where}

    def _on_job(self, status: dict[str, Any]) -> None:
        job: Job = status  # type: ignore[assignment]
        self.job = dict(job)

    def set_state(self, sync_data: Any) -> None:
        """Apply a change from the front end. A bad value is rolled back by traitlets, the
        front end is sent the good value again, and the error shows in the widget."""
        self._from_front = True
        try:
            super().set_state(sync_data)
        except traitlets.TraitError as exc:
            self._show_error(exc, "input")
            self.send_state([k for k in sync_data if k in self.keys])
        finally:
            self._from_front = False

    def add_input(self, inputs: Any, label: str | None = None, *, select: bool = True) -> int:
        """Add one input (a string, a batch of one, a tensor: as the explorer's others) to the
        strip and select it; returns its index. A wrong form raises and changes nothing."""
        index = self.session.inputs.extend(inputs, label)
        self.inputs_info = [dict(info) for info in inputs_info(self.session.inputs)]
        self.thumbs = thumbnails(self.session.inputs)
        if select:
            self.input_index = index
        self._refresh_specific()  # the contrast is against every other input: one more
        return index

    # Jobs. ---------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the explorer's background jobs (mining, saliency) at their next progress
        report, as the widget's Cancel button does; what was mined so far is kept."""
        self._jobs.cancel()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the explorer's background jobs have ended (scripts and tests)."""
        self._jobs.wait(timeout)

    # Figures and sharing. ---------------------------------------------------------------------
    def figure(self, *args: Any, view: str = "layer", **options: Any) -> Any:
        """A plotly figure of a view, matching what the widget draws.

        ``view="layer"`` (the default): ``figure(layer=None, input_index=None, unit=None,
        sort="index", clip=True)`` — the layer view of the current selection, or of the
        given layer, input and unit; ``sort`` orders units as the widget does, ``clip``
        clips colours at the 99.9th percentile of |values|.

        Returns:
            A ``plotly.graph_objects.Figure``.
        """
        make = getattr(self, f"_figure_{view}", None)
        if make is None:
            views = sorted(
                n.removeprefix("_figure_") for n in dir(self) if n.startswith("_figure_")
            )
            raise InputError(f"No figure of view {view!r}: views are {', '.join(views)}.")
        return make(*args, **options)

    def snapshot(
        self,
        layers: Sequence[str] | None = None,
        inputs: Sequence[int] | None = None,
        units: Sequence[int] | None = None,
        *,
        saliency: Sequence[str] = (),
        precision: str = "u8",
        max_bytes: int = sharing.DEFAULT_MAX_BYTES,
    ) -> sharing.SnapshotInfo:
        """Precompute views so that a saved notebook or exported page can show them without
        a kernel; see :func:`actscope.widget.sharing.snapshot` for the arguments.

        Example::

            ex.snapshot(layers=["features.conv1", "classifier.fc2"], inputs=range(8))
            ex.to_html("explorer.html")
        """
        return sharing.snapshot(
            self,
            layers,
            inputs,
            units,
            saliency=saliency,
            precision=precision,
            max_bytes=max_bytes,
        )

    def to_html(self, path: str | pathlib.Path, *, title: str | None = None) -> pathlib.Path:
        """Write a standalone page: the explorer with its bundle and state inlined.

        The page needs no network and no kernel; opened from disk it shows the views the
        widget holds (``snapshot`` adds more).
        """
        return sharing.to_html(self, path, title=title)

    # Custom messages: answered by the panel that declares them. ---------------------------------
    def _on_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "hello":
            self.send({"type": "hello"})
            return
        if kind == "cancel":
            self._jobs.cancel()
            return
        for cls in type(self).__mro__:
            handler = vars(cls).get("messages", {}).get(kind)
            if handler is not None:
                try:
                    getattr(self, handler)(content, buffers)
                except Exception as exc:  # the front end has no one to raise to
                    self._show_error(as_trait_error(exc), "action")
                return
