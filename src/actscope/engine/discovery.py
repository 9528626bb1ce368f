"""Discovering a model's layers without an extra forward pass of the user's input.

:func:`discover` probes first (short token passes, or fake tensors: :mod:`.fake`) to learn
each output's batch axis, then runs the batch once, keeping one layer's activations and
every other module's output shape; :func:`list_layers` needs no real pass where a fake one
gives the shapes. :mod:`.layers` turns what was recorded into :class:`~.layers.LayerInfo`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from .batch import map_tensors, move, tensor_paths
from .capture import Activations, capture, recording
from .errors import LayerNotFoundError, LayerOutputError, Stop
from .fake import FAILED, run_fake
from .forward import Batch, ForwardFn, run_forward
from .inputs import InputSet, model_float_dtype, resolve_device
from .layers import LayerInfo, describe_layers
from .lenses import register as register_lenses
from .names import resolve_modules, split_call, unwrap
from .outputs import OutputSelector


def list_layers(
    model: nn.Module,
    example: Any,
    *,
    forward: ForwardFn | None = None,
    tokenizer: Any = None,
    device: str | torch.device = "auto",
    outputs: Mapping[str, OutputSelector] | None = None,
    unit_axes: Mapping[str, int] | None = None,
    layers: Iterable[str] | None = None,
    what: str = "the example",
    lenses: Iterable[Any] | None = None,
    run: bool = False,
) -> list[LayerInfo]:
    """Every submodule with what it returns for ``example``, in tree (pre-)order.

    Args:
        model: any ``torch.nn.Module``, left as found. It runs on fake tensors (shapes
            without values: no arithmetic, no memory), with a real pass only of a token
            input's first few tokens; a model whose code needs values is run for real,
            on the example and on it doubled, under ``torch.no_grad()``.
        example: a batch as ``forward`` takes it (a tensor, a dict such as a tokenizer's
            output), or inputs in any form :class:`actscope.Explorer` accepts (then the
            first one is used).
        forward: how a batch is fed: ``forward(model, batch)``.
        tokenizer: for an ``example`` given as strings.
        device: ``"auto"`` runs where the model is.
        outputs: per layer, which tensor of a tuple/dict output to show (see ``capture``).
        unit_axes: per layer, the axis of the per-example output that holds units.
        layers: hook only these (faster on big models); the others come back as not run.
        what: how a failing forward pass names the example in its error.
        lenses: :class:`~actscope.Lens` objects: their features are listed as layers
            ``"<layer>/<name>"`` right under their layer (``features_of`` names it).
        run: run a token example for real (after its short probes) instead of on fake
            tensors: faster for one short example of a small model on a CPU, where a fake
            pass's Python costs more than the arithmetic (``mine`` does this on a CPU).
            Other inputs' probes are fake passes of the example itself: nothing more runs.

    Returns:
        ``LayerInfo`` for containers and leaves alike, parents before children; a module
        called k times appears k times (``name``, ``name#1``...).

    Example::

        for info in actscope.list_layers(model, images[:1]):
            print(info)
    """
    model = unwrap(model)
    register_lenses(model, lenses)
    batch = _as_batch(example, tokenizer)
    dev = resolve_device(model, device)
    batch = move(batch, dev, model_float_dtype(model))
    return discover(model, batch, forward=forward, outputs=outputs, unit_axes=unit_axes,
                    layers=layers, what=what,
                    run=run and _short(batch) is not None).layers  # fmt: skip


PROBE_TOKENS = 8
"""Tokens kept in the short probes that find each layer's batch axis (see :func:`discover`)."""


EVERY_LAYER_BYTES = 64 << 20
"""Opening keeps every layer of the first input while their outputs total at most this
(moving between its layers then costs no pass); past it, only the first view's layer:
fresh memory for every output of a large model costs page faults (about a third of a
millisecond per MB on a CPU), as much as half of the pass itself."""


class Discovery(NamedTuple):
    """What :func:`discover` found, and what its pass of the batch left."""

    layers: list[LayerInfo]
    acts: Activations | None
    """The real pass's activations: every layer's (``every_layer``), or the kept one's."""
    output: Any
    """The model's output for the batch (``None`` when it did not run)."""
    every_layer: bool


def discover(
    model: nn.Module,
    batch: Batch,
    *,
    forward: ForwardFn | None = None,
    outputs: Mapping[str, OutputSelector] | None = None,
    unit_axes: Mapping[str, int] | None = None,
    layers: Iterable[str] | None = None,
    what: str = "the example",
    keep: str | None = None,
    every_layer: bool = False,
    run: bool = True,
) -> Discovery:
    """Every layer's :class:`LayerInfo`, with one real pass of ``batch`` (on the model's
    device) whose activations and output the explorer shows as they are: opening it costs
    that one pass.

    Probes first: which axis of each output is the batch comes from a pass of the batch
    and one of it doubled. For token inputs they run on its first :data:`PROBE_TOKENS`
    tokens (two short passes); otherwise, or when those fail, on fake tensors
    (:mod:`.fake`: shapes without values). The real pass then records every module's
    output shape and keeps every layer's activations while they total at most
    :data:`EVERY_LAYER_BYTES` (always with ``every_layer``); past that, those of ``keep``
    alone (by default the layer the explorer shows first), so that a large model's pass
    costs what a bare pass does: no fresh memory for the other outputs. ``run=False``
    (``list_layers`` by default) skips the real pass where a fake one gives the shapes. A
    model that can run neither probe is run on the batch with every output kept, then
    doubled.
    """
    axes = unit_axes or {}
    hooked = None if layers is None else list(dict.fromkeys(split_call(n)[0] for n in layers))
    passes = Passes(model, hooked, forward, outputs)
    probe = passes.probe(batch, what)
    if probe is None:
        return passes.by_running(batch, axes, what)
    reference, doubled, whole = probe
    if any(callable(v) for v in (outputs or {}).values()):
        run = True  # a function that picks the tensor may need the values: a real pass
    if whole and not run:
        return Discovery(describe_layers(model, reference, doubled, axes), None, None, False)
    faked = None if run else passes.fake(batch)
    if faked is not None:
        infos = describe_layers(model, faked, doubled, axes, reference=reference)
        return Discovery(infos, None, None, False)
    kept = [] if every_layer else _kept(model, keep, hooked, reference, doubled, axes)
    acts = Activations(outputs, budget=None if every_layer else EVERY_LAYER_BYTES, always=kept)
    with (
        torch.no_grad(),
        recording(model, hooked, acts),
        capture(model, hooked, outputs=outputs, shapes_only=True) as shapes,
    ):
        output = run_forward(model, batch, forward, what=what)
    infos = describe_layers(model, shapes, doubled, axes, reference=reference)
    return Discovery(infos, acts, output, not acts.over_budget)


def first_view(infos: Sequence[LayerInfo]) -> str:
    """The layer shown first: the first leaf with a drawable output, else any with one."""
    for info in infos:
        if info.is_leaf and info.kind in ("spatial", "sequence"):
            return info.name
    for info in infos:
        if info.kind != "none":
            return info.name
    raise LayerOutputError("No layer of this model returned a tensor for the first input.")


def _kept(
    model: nn.Module,
    keep: str | None,
    hooked: list[str] | None,
    reference: Activations,
    doubled: Activations | None,
    unit_axes: Mapping[str, int],
) -> list[str]:
    """The module whose activations the real pass keeps: ``keep``'s if it names one (else
    the probe's first view), none if no layer returned a tensor."""
    if keep is not None:
        try:
            resolve_modules(model, [split_call(keep)[0]])
            if hooked is None or split_call(keep)[0] in hooked:
                return [split_call(keep)[0]]
        except LayerNotFoundError:
            pass  # the explorer names the unknown layer, with suggestions, right after
    try:
        infos = describe_layers(model, reference, doubled, unit_axes)
    except Exception:  # a selector that needs values, on a fake probe: keep by budget only
        return []
    if hooked is not None:
        infos = [i for i in infos if split_call(i.name)[0] in hooked]
    try:
        return [split_call(first_view(infos))[0]]
    except LayerOutputError:
        return []


@dataclass(frozen=True)
class Passes:
    """How discovery runs the model: the modules it hooks (``None``: all), how a batch is
    fed, and which tensor of each output to take."""

    model: nn.Module
    hooked: list[str] | None
    forward: ForwardFn | None
    outputs: Mapping[str, OutputSelector] | None

    def probe(self, batch: Batch, what: str) -> tuple[Activations, Activations | None, bool] | None:
        """Shapes of a pass of the batch and of one of it doubled (``None`` when it has no
        tensor to double, or the model takes one example only), and whether the first pass
        is of the whole batch: the short real probes for tokens, else fake ones; ``None``
        when neither can run."""
        short = _short(batch)
        if short is not None:
            shortened = self.shapes(short, f"{what}, shortened")
            twice = double_batch(short)
            if shortened is not None and twice is None:
                return shortened, None, False
            doubled = None if shortened is None else self.shapes(twice)
            if shortened is not None and doubled is not None:
                return shortened, doubled, False  # else fake passes, then none doubled
        one = self.fake(batch)
        if one is None:
            return None
        twice = double_batch(batch)
        return one, None if twice is None else self.fake(twice), True

    def shapes(self, batch: Batch, what: str = "the example twice") -> Activations | None:
        """Every output's shape in a real pass of ``batch``; ``None`` if the model refuses it."""
        try:
            with (
                torch.no_grad(),
                capture(self.model, self.hooked, outputs=self.outputs, shapes_only=True) as acts,
            ):
                run_forward(self.model, batch, self.forward, what=what)
        except Stop:
            raise
        except Exception:  # a probe the model does not take (a batch of one only, say)
            return None
        return acts

    def fake(self, batch: Batch) -> Activations | None:
        """Every output of a pass on fake tensors; ``None`` if the model needs values."""
        with torch.no_grad(), capture(self.model, self.hooked, outputs=self.outputs) as acts:
            if run_fake(self.model, batch, self.forward) is FAILED:
                return None
        return acts

    def by_running(self, batch: Batch, unit_axes: Mapping[str, int], what: str) -> Discovery:
        """Discovery for a model no probe suits: every output of the batch kept, then the
        batch doubled."""
        with torch.no_grad(), capture(self.model, self.hooked, outputs=self.outputs) as acts:
            output = run_forward(self.model, batch, self.forward, what=what)
        doubled = double_batch(batch)
        twice = None if doubled is None else self.shapes(doubled)
        return Discovery(describe_layers(self.model, acts, twice, unit_axes), acts, output, True)


def _short(batch: Batch) -> Batch | None:
    """The batch cut to its first :data:`PROBE_TOKENS` tokens (every ``(1, T)``-led tensor
    of a token batch), or ``None`` when it is no longer, or not tokens."""
    ids = batch.get("input_ids") if isinstance(batch, Mapping) else batch
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long or ids.ndim != 2:
        return None
    n, length = ids.shape
    if n != 1 or length <= PROBE_TOKENS:
        return None

    def cut(t: torch.Tensor) -> torch.Tensor:
        return t[:, :PROBE_TOKENS] if t.ndim >= 2 and tuple(t.shape[:2]) == (1, length) else t

    return map_tensors(cut, batch)


def _as_batch(example: Any, tokenizer: Any) -> Batch:
    """A model-ready batch from either a batch or a list of inputs."""
    if isinstance(example, torch.Tensor | Mapping | tuple):
        return dict(example) if isinstance(example, Mapping) else example
    return InputSet.from_user(example, tokenizer=tokenizer).example(0)


def double_batch(batch: Batch) -> Batch | None:
    """The batch repeated twice along axis 0, or ``None`` if it has no tensor to repeat."""
    scalar = False

    def twice(t: torch.Tensor) -> torch.Tensor:
        nonlocal scalar
        scalar = scalar or t.ndim == 0
        return torch.cat([t, t]) if t.ndim else t

    doubled = map_tensors(twice, batch)
    if scalar or not any(True for _ in tensor_paths(batch)):
        return None
    return doubled
