"""A model, its inputs and the activations seen so far: the state behind one explorer.

``Session`` is plain Python and torch (no traitlets): the widget's panels ask it for
tensors, and users can ask it the same things (``ex.session.activation(layer, i)``).
Opening runs the first input once (discovery's probes are short or fake passes: see
``engine/discovery.py``), keeping the first layer's activations. The first look at another
input runs the model only up to the selected layer, keeping that layer alone; the first
look at a second layer of an input captures every layer in one pass. Results stay on the
model's device in a small LRU cache, so moving between layers then costs no forward pass.

With edits (``set_edits``: what ``actscope.intervene`` takes), every pass runs inside
``intervene`` and its results are cached apart from the clean run's, which stays cached
too: ``edited=False`` asks for the clean run, so that the two can be shown side by side.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from ..engine import discovery
from ..engine.batch import move
from ..engine.capture import Activations, capture
from ..engine.discovery import discover, first_view
from ..engine.errors import ActscopeError, LayerNotFoundError, LayerOutputError
from ..engine.forward import ForwardFn, StopForward, run_forward, stopping_after
from ..engine.inputs import InputSet, model_float_dtype, resolve_device
from ..engine.interventions import Edit, intervene
from ..engine.layers import LayerInfo, per_example, view_layout
from ..engine.lm import logits_of
from ..engine.names import resolve_modules, split_call, unwrap
from ..engine.outputs import OutputSelector

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """``method`` under the session's lock: the widget's jobs ask from their own threads
    while the kernel's thread asks too, and one pass at a time may run the model."""

    @functools.wraps(method)
    def run(self: Session, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


@dataclass
class _Runs:
    """What the session holds of one kind of run: clean, or with one list of edits (a new
    list of edits gets a new ``_Runs``: a pass still running with the old one files its
    results there, never among the new one's)."""

    edits: tuple[Edit, ...] = ()
    cache: OrderedDict[int, Activations] = field(default_factory=OrderedDict)
    """Inputs captured whole."""
    single: dict[int, Activations] = field(default_factory=dict)
    """Inputs seen through one layer only."""
    outputs: OrderedDict[int, tuple[torch.Tensor, bool]] = field(default_factory=OrderedDict)
    """Each input's output tensor and whether it was named ``logits``."""

    def clear(self) -> None:
        self.cache.clear()
        self.single.clear()
        self.outputs.clear()

    def editing(self, model: nn.Module) -> Any:
        """A context in which ``model``'s passes run with these edits."""
        return intervene(model, list(self.edits)) if self.edits else nullcontext()


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
        cache_bytes: int | None = None,
        first_layer: str | None = None,
    ) -> None:
        model = unwrap(model)
        self._lock = threading.RLock()
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
        self._clean = _Runs()
        self._edited = _Runs()
        self._cache_size = cache_size
        self._tick = 0
        self._used: dict[int, int] = {}  # id of what is held → when it was last asked for
        self.cache_bytes = default_cache_bytes(self.device) if cache_bytes is None else cache_bytes
        """The most bytes of activations held (clean and edited runs together): inputs
        seen longest ago go first, the input being looked at never."""
        self.layers: list[LayerInfo] = self._discover(first_layer)
        self._every_layer_bytes = sum(info.output_bytes for info in self.layers)
        self._by_name = {info.name: info for info in self.layers}
        for info in self.layers:  # every path of a module names it (its aliases too)
            for alias in info.aliases:
                self._by_name.setdefault(alias, info)

    # Layers ------------------------------------------------------------------------------
    def _discover(self, first_layer: str | None) -> list[LayerInfo]:
        """The layers, with one real pass of the first input: its output and the first
        layer's activations (``first_layer``, else the default one) are kept, so that the
        first view costs no further pass. In training mode (dropout differs between passes)
        that pass keeps every layer."""
        batch = move(self.inputs.example(0), self.device, self.float_dtype)
        found = discover(
            self.model,
            batch,
            forward=self.forward,
            outputs=self.outputs,
            unit_axes=self.unit_axes,
            layers=self._wanted,
            what=f"input 0 ({self.inputs.labels[0]})",
            keep=first_layer,
            every_layer=self.model.training,
        )
        infos, acts = found.layers, found.acts
        if acts is not None and not acts.overwritten:  # else the first look captures again
            if found.every_layer:
                self._clean.cache[0] = acts
            else:
                self._clean.single[0] = acts
        self._keep_output(0, found.output, self._clean)
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
        return first_view(self.layers)

    # Activations -------------------------------------------------------------------------
    # Edits -------------------------------------------------------------------------------
    @_locked
    def set_edits(self, edits: Sequence[Edit]) -> None:
        """Run every later pass with ``edits`` (none: the clean model); the clean run's
        results stay cached."""
        edits = tuple(edits)
        if edits != self._edited.edits:
            self._edited = _Runs(edits)

    @property
    def edits(self) -> tuple[Edit, ...]:
        """The edits every pass runs with (``set_edits``); empty: the clean model."""
        return self._edited.edits

    def editing(self) -> Any:
        """A context in which the model's passes run with the current edits (none: as is);
        for engine functions called on the session's model (``attention``, ``saliency``)."""
        return self._edited.editing(self.model)

    def _runs(self, edited: bool) -> _Runs:
        return self._edited if edited and self._edited.edits else self._clean

    @_locked
    def activations(self, index: int, *, edited: bool = True) -> Activations:
        """Every shown layer's output for input ``index`` (one forward pass, then cached);
        with the edits, if any, unless ``edited=False``."""
        runs = self._runs(edited)
        if index in runs.cache:
            runs.cache.move_to_end(index)
            return self._touch(runs.cache[index])
        acts = self._run(index, self._wanted, runs)  # None: every submodule
        runs.single.pop(index, None)
        runs.cache[index] = self._touch(acts)
        while len(runs.cache) > self._cache_size:
            runs.cache.popitem(last=False)
        self._fit(index)
        return acts

    @_locked
    def _layer_activations(self, layer: str, index: int, edited: bool = True) -> Activations:
        """Activations holding ``layer`` for input ``index``.

        The first look at an input hooks only that layer and stops the forward pass once
        its output is in hand: keeping one output instead of every module's is faster
        (fresh memory for every output costs page faults), and an early layer skips the
        rest of the model. Asking for a second layer of the input captures them all, once,
        when they total at most ``discovery.EVERY_LAYER_BYTES``; past that (a large model,
        a long input), each layer asked for is captured the same way as the first and
        kept beside it.
        """
        runs = self._runs(edited)
        if index in runs.cache:
            runs.cache.move_to_end(index)
            return self._touch(runs.cache[index])
        if self.model.training:
            # Dropout differs between passes: all of an input's layers from one pass.
            return self.activations(index, edited=edited)
        single = runs.single.get(index)
        if single is not None and layer in single:
            return self._touch(single)
        if single is not None and self._bytes_of(single) <= discovery.EVERY_LAYER_BYTES:
            return self.activations(index, edited=edited)
        acts = self._run(index, [split_call(layer)[0]], runs, stop_after=layer)
        if single is not None:
            single.update(acts)
            acts = single
        runs.single[index] = self._touch(acts)
        while len(runs.single) > self._cache_size:
            runs.single.pop(next(iter(runs.single)))
        self._fit(index)
        return acts

    def _bytes_of(self, single: Activations) -> float:
        """Every layer's bytes on the input of ``single``: input 0's, scaled by how much
        larger a layer held there is than on input 0 (a longer text, a larger image)."""
        name = next(iter(single), None)
        shape = self.info(name).shape if name is not None else None
        if name is None or not shape or not math.prod(shape):
            return float(self._every_layer_bytes)
        return self._every_layer_bytes * single[name].numel() / math.prod(shape)

    @_locked
    def held_bytes(self) -> int:
        """Bytes of activations and outputs the session holds now (see ``cache_bytes``)."""
        return sum(size for _, _, size, _ in self._held())

    def _touch(self, value: _T) -> _T:
        """``value``, marked as just asked for."""
        self._tick += 1
        self._used[id(value)] = self._tick
        return value

    def _held(self) -> list[tuple[dict[int, Any], int, int, Any]]:
        """Everything held, as (its table, its input, its bytes, it), the longest unused
        first."""
        held: list[tuple[dict[int, Any], int, int, Any]] = []
        for runs in (self._clean, self._edited):
            # list(): one step under the GIL, so a job's insert cannot break the iteration
            for table in (runs.single, runs.cache):
                held += [(table, i, acts.nbytes, acts) for i, acts in list(table.items())]
            held += [
                (runs.outputs, i, out[0].untyped_storage().nbytes(), out)
                for i, out in list(runs.outputs.items())
            ]
        used = self._used
        held.sort(key=lambda entry: used.get(id(entry[3]), 0))
        self._used = {id(e[3]): used[id(e[3])] for e in held if id(e[3]) in used}
        return held

    def _fit(self, index: int) -> None:
        """Drop what was seen longest ago until the session holds at most ``cache_bytes``;
        input ``index``, the one just asked for, keeps all it has (its activations, clean
        and edited, and its output) even if that alone is over."""
        held = self._held()
        total = sum(size for _, _, size, _ in held)
        for table, i, size, _ in held:
            if total <= self.cache_bytes:
                return
            if i == index:
                continue
            table.pop(i, None)
            total -= size

    def _run(
        self,
        index: int,
        names: Sequence[str] | None,
        runs: _Runs,
        *,
        stop_after: str | None = None,
    ) -> Activations:
        """One forward pass of input ``index`` with ``names`` hooked (None: all), ended
        early once layer ``stop_after`` (a name such as ``block#1``) has given its output."""
        batch = move(self.inputs.example(index), self.device, self.float_dtype)
        what = f"input {index} ({self.inputs.labels[index]})"

        def forward() -> None:
            with stopping_after(self.model, stop_after), suppress(StopForward):
                output = run_forward(self.model, batch, self.forward, what=what)
                self._keep_output(index, output, runs)

        # The edits' hooks first, so that the edited layer itself is captured edited; a
        # lens's features are kept sparse (tens of thousands wide, a few dozen active)
        # where that takes less memory than dense.
        with (
            torch.no_grad(),
            runs.editing(self.model),
            capture(self.model, names, outputs=self.outputs, sparse=True) as acts,
        ):
            forward()
        acts.densify_larger()
        if acts.overwritten:
            # A later module changed some outputs in place: capture those again, copied.
            again = sorted(acts.overwritten)
            with (
                torch.no_grad(),
                runs.editing(self.model),
                capture(self.model, again, outputs=self.outputs, clone=True) as fixed,
            ):
                forward()
            acts.update(fixed)
        return acts

    def _keep_output(self, index: int, output: Any, runs: _Runs) -> None:
        try:
            logits = logits_of(output).detach()
        except ActscopeError:
            return  # an output with no tensor: nothing to predict from
        outputs = runs.outputs
        outputs[index] = self._touch((logits, hasattr(output, "logits")))
        outputs.move_to_end(index)
        while len(outputs) > 4 * self._cache_size:
            outputs.popitem(last=False)
        self._fit(index)

    @_locked
    def output(self, index: int, *, edited: bool = True) -> tuple[torch.Tensor, bool]:
        """The model's output tensor for input ``index`` (its logits, for a model that names
        them) and whether it was named ``logits``: kept from the pass that captured the
        input's layers when it ran to the end, else from one pass with no hooks. In
        training mode it is always the pass the views show (dropout differs between passes).
        """
        runs = self._runs(edited)
        if index not in runs.outputs and (self.model.training or index in runs.cache):
            self.activations(index, edited=edited)
        if index not in runs.outputs:
            batch = move(self.inputs.example(index), self.device, self.float_dtype)
            what = f"input {index} ({self.inputs.labels[index]})"
            with torch.no_grad(), runs.editing(self.model):
                output = run_forward(self.model, batch, self.forward, what=what)
                self._keep_output(index, output, runs)
        if index not in runs.outputs:
            raise ActscopeError("The model's output holds no tensor: there is nothing to predict.")
        runs.outputs.move_to_end(index)
        return self._touch(runs.outputs[index])

    def activation(self, layer: str, index: int, *, edited: bool = True) -> torch.Tensor:
        """One example's output of ``layer`` in its view layout (see ``layers.view_layout``);
        with the edits, if any, unless ``edited=False``."""
        info = self.info(layer)
        if info.kind == "none":
            raise LayerOutputError(
                f"Layer {layer!r} ({info.type}) returned no tensor"
                + (" (it did not run)" if info.calls == 0 else "")
                + "; pick another layer."
            )
        tensor = self._layer_activations(info.name, index, edited)[info.name]
        if tensor.is_sparse:
            tensor = tensor.to_dense()
        return view_layout(per_example(tensor, info.batch_axis), info.kind, info.unit_axis)

    @_locked
    def captured(self, index: int, *, edited: bool = True) -> Activations | None:
        """Input ``index``'s activations of every layer if a pass has captured them (with
        the edits, if any, unless ``edited=False``), without running one; else ``None``."""
        return self._runs(edited).cache.get(index)

    @_locked
    def cached(self) -> dict[str, Any]:
        """What the session holds: ``all_layers``, the inputs captured whole,
        ``one_layer``, the inputs seen through one layer only, with the layers held, and
        ``bytes``, everything it holds (at most ``cache_bytes``, but for the current one)."""
        runs = self._runs(True)
        return {
            "all_layers": list(runs.cache),
            "one_layer": {i: sorted(acts) for i, acts in runs.single.items()},
            "bytes": self.held_bytes(),
        }

    @_locked
    def forget(self) -> None:
        """Drop cached activations (after the model's weights change)."""
        self._clean.clear()
        self._edited.clear()


def default_cache_bytes(device: torch.device) -> int:
    """A quarter of the memory free on ``device`` now (a GPU's, or the host's available
    memory), at most 8 GiB; 2 GiB where it cannot be read."""
    free: int | None = None
    try:
        if device.type == "cuda":
            free = int(torch.cuda.mem_get_info(device)[0])
        else:
            with open("/proc/meminfo") as info:
                for line in info:
                    if line.startswith("MemAvailable:"):
                        free = int(line.split()[1]) * 1024
    except (OSError, RuntimeError, ValueError):
        free = None
    return min(free // 4, 8 << 30) if free else 2 << 30
