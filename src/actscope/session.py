"""A model, its inputs and the activations seen so far: the state behind one explorer.

``Session`` is plain Python and torch (no traitlets): the widget asks it for tensors and
payloads, and users can ask it the same things (``ex.session.activation(layer, i)``).
The first look at an input runs the model only up to the selected layer, keeping that
layer alone; the first look at a second layer of the input captures every layer in one
pass. Results stay on the model's device in a small LRU cache, so moving between layers
then costs no forward pass.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import torch
from torch import nn

from ._structure import OutputSelector
from .capture import Activations, capture, resolve_modules, split_call, this_thread_only
from .errors import InputError, LayerNotFoundError, LayerOutputError
from .inputs import ForwardFn, InputSet, model_float_dtype, move, resolve_device
from .layers import LayerInfo, canonical, list_layers, per_example
from .runner import run_forward


class Session:
    """Everything the explorer knows about one model and one set of inputs."""

    def __init__(
        self,
        model: nn.Module,
        inputs: InputSet,
        *,
        forward: ForwardFn | None = None,
        device: str | torch.device = "auto",
        layers: Sequence[str] | None = None,
        outputs: Mapping[str, OutputSelector] | None = None,
        unit_axes: Mapping[str, int] | None = None,
        cache_size: int = 4,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
        self.model = model
        self.inputs = inputs
        self.forward = forward
        self.device = resolve_device(model, device)
        self.float_dtype = model_float_dtype(model)
        self.outputs = dict(outputs or {})
        self.unit_axes = dict(unit_axes or {})
        if layers is not None:
            resolve_modules(model, layers)  # unknown names raise with suggestions
        self._wanted = list(layers) if layers is not None else None
        self._cache: OrderedDict[int, Activations] = OrderedDict()
        self._single: dict[int, Activations] = {}  # inputs seen through one layer only
        self._cache_size = cache_size
        self.layers: list[LayerInfo] = self._discover()
        self._by_name = {info.name: info for info in self.layers}

    # Layers ------------------------------------------------------------------------------
    def _discover(self) -> list[LayerInfo]:
        infos = list_layers(
            self.model,
            self.inputs.example(0),
            forward=self.forward,
            device=self.device,
            outputs=self.outputs,
            unit_axes=self.unit_axes,
        )
        if self._wanted is None:
            return infos
        wanted = {split_call(n)[0] for n in self._wanted}
        return [i for i in infos if split_call(i.name)[0] in wanted]

    def info(self, layer: str) -> LayerInfo:
        """The :class:`LayerInfo` of a layer shown in this session."""
        try:
            return self._by_name[layer]
        except KeyError:
            raise LayerNotFoundError(layer, self._by_name) from None

    def default_layer(self) -> str:
        """The layer shown first: the first leaf with a drawable output."""
        for info in self.layers:
            if info.is_leaf and info.kind in ("spatial", "sequence"):
                return info.name
        for info in self.layers:
            if info.kind != "none":
                return info.name
        raise LayerOutputError("No layer of this model returned a tensor for the first input.")

    # Activations -------------------------------------------------------------------------
    def activations(self, index: int) -> Activations:
        """Every shown layer's output for input ``index`` (one forward pass, then cached)."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        acts = self._run(index, self._wanted)  # None: every submodule
        self._single.pop(index, None)
        self._cache[index] = acts
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return acts

    def _layer_activations(self, layer: str, index: int) -> Activations:
        """Activations holding ``layer`` for input ``index``.

        The first look at an input hooks only that layer and stops the forward pass once
        its output is in hand: keeping one output instead of every module's is faster
        (fresh memory for every output costs page faults), and an early layer skips the
        rest of the model. Asking for a second layer of the input captures them all, once.
        """
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        if self.model.training:
            # Dropout differs between passes: all of an input's layers from one pass.
            return self.activations(index)
        single = self._single.get(index)
        if single is not None and layer in single:
            return single
        if single is not None:
            return self.activations(index)
        acts = self._run(index, [split_call(layer)[0]], stop_after=layer)
        self._single[index] = acts
        while len(self._single) > self._cache_size:
            self._single.pop(next(iter(self._single)))
        return acts

    def _run(
        self, index: int, names: Sequence[str] | None, *, stop_after: str | None = None
    ) -> Activations:
        """One forward pass of input ``index`` with ``names`` hooked (None: all), ended
        early once layer ``stop_after`` (a name such as ``block#1``) has given its output."""
        batch = move(self.inputs.example(index), self.device, self.float_dtype)
        what = f"input {index} ({self.inputs.labels[index]})"

        def forward() -> None:
            with _stopping_after(self.model, stop_after), suppress(_Enough):
                run_forward(self.model, batch, self.forward, what=what)

        with torch.no_grad(), capture(self.model, names, outputs=self.outputs) as acts:
            forward()
        if acts.overwritten:
            # A later module changed some outputs in place: capture those again, copied.
            again = sorted(acts.overwritten)
            with (
                torch.no_grad(),
                capture(self.model, again, outputs=self.outputs, clone=True) as fixed,
            ):
                forward()
            acts.update(fixed)
        return acts

    def activation(self, layer: str, index: int) -> torch.Tensor:
        """One example's output of ``layer`` in its view layout (see ``layers.canonical``)."""
        info = self.info(layer)
        if info.kind == "none":
            raise LayerOutputError(
                f"Layer {layer!r} ({info.type}) returned no tensor"
                + (" (it did not run)" if info.calls == 0 else "")
                + "; pick another layer."
            )
        tensor = self._layer_activations(layer, index)[layer]
        return canonical(per_example(tensor, info.batch_axis), info.kind, info.unit_axis)

    def saliency(
        self,
        index: int,
        method: str,
        target: str,
        *,
        layer: str | None = None,
        unit: int | None = None,
        progress: Any = None,
    ) -> tuple[torch.Tensor, float | None]:
        """Attributions for input ``index``: ``(scores, completeness delta or None)``.

        ``target`` is ``"top"`` (the top prediction), ``"class:<k>"`` or ``"unit"`` (``unit``
        of ``layer``). Grad-CAM uses ``layer`` when it is spatial, else the last convolution.
        ``progress`` (a ``jobs.Progress``) hears of every forward pass, and can cancel.
        """
        from .saliency import Unit, saliency

        if target == "unit":
            if layer is None or unit is None:
                raise InputError(
                    "Select a unit (a channel or a neuron) to explain, or pick another target."
                )
            goal: Any = Unit.of(self.info(layer), unit)
        elif target.startswith("class:"):
            goal = int(target.removeprefix("class:"))
        elif target == "top":
            goal = None
        else:
            raise InputError(
                f"Unknown saliency target {target!r}: use 'top', 'class:<k>' or 'unit'."
            )
        options: dict[str, Any] = {}
        passes = 2  # the forward (and backward) passes the method takes, roughly
        if method == "integrated_gradients":
            options = {"n_steps": 50, "internal_batch_size": 10, "return_delta": True}
            passes = 50 // 10 + 3
        elif method == "smoothgrad":
            options = {"n_samples": 25, "internal_batch_size": 5, "seed": 0}
            passes = 25 // 5 + 1
        elif method == "grad_cam" and layer is not None and self.info(layer).kind == "spatial":
            options = {"layer": layer}
        example = self.inputs.example(index)  # text is already tokenized
        with _counting_forwards(self.model, progress, passes):
            result = saliency(
                self.model,
                example,
                method,
                goal,
                forward=self.forward,
                device=self.device,
                **options,
            )
        if isinstance(result, tuple):
            scores, delta = result
            return scores, float(delta.abs().max())
        return result, None

    def forget(self) -> None:
        """Drop cached activations (after the model's weights change)."""
        self._cache.clear()
        self._single.clear()


@contextmanager
def _counting_forwards(model: nn.Module, progress: Any, expected: int) -> Iterator[None]:
    """Report each forward pass of ``model`` to ``progress`` (which may cancel the work)."""
    if progress is None:
        yield
        return
    calls = [0]

    def count(_module: nn.Module, _args: Any) -> None:
        calls[0] += 1
        progress.update(min(calls[0], expected - 1), expected, f"pass {calls[0]} of ~{expected}")

    handle = model.register_forward_pre_hook(this_thread_only(count))
    try:
        yield
    finally:
        handle.remove()


def describe_model(model: nn.Module, device: torch.device) -> dict[str, Any]:
    """What the widget's header says about the model."""
    n_params = sum(p.numel() for p in model.parameters())
    dtype = model_float_dtype(model)
    return {
        "name": model.__class__.__name__,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch.") if dtype else "",
        "n_params": n_params,
        "training": bool(model.training),
    }


class _Enough(BaseException):
    """Ends a forward pass early: the output wanted is captured (not an error; a
    ``BaseException`` so that no ``except Exception`` in the model's code swallows it)."""


@contextmanager
def _stopping_after(model: nn.Module, layer: str | None) -> Iterator[None]:
    """While active, the forward pass stops right after ``layer``'s call (None: never).

    The hook is registered after ``capture``'s, so the output is recorded first; it is
    bound to this thread, so a mining run on the same model elsewhere is not cut short.
    """
    if layer is None:
        yield
        return
    base, call = split_call(layer)
    module = resolve_modules(model, [base])[base]
    calls = 0

    def hook(_module: nn.Module, _args: Any, _output: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > call:
            raise _Enough

    handle = module.register_forward_hook(this_thread_only(hook))
    try:
        yield
    finally:
        handle.remove()
