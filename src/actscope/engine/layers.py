"""Discovering a model's layers: names, types, output shapes and which axis holds the units.

One forward pass with temporary hooks on every submodule records what each returns. A
second pass on the example doubled along its batch axis tells which axis of each output is
the batch (axis 0 for most layers; axis 1 for an LSTM's ``h_n``), so that shapes here are
per example.

How a layer is shown follows from its per-example shape and unit axis:

========= =============== ==========================================================
kind      shape           units and positions
========= =============== ==========================================================
spatial   (C, H, W)       C channels, each an H × W map
sequence  (T, D)          D neurons, at T positions (tokens)
vector    (D,) or ()      D units, one position
other     anything else   units on ``unit_axis``, every other axis flattened
none      no tensor       nothing to show (the module returned ``None``, or never ran)
========= =============== ==========================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from .batch import map_tensors, move, tensor_paths
from .capture import Activations, capture
from .errors import LayerOutputError
from .forward import Batch, ForwardFn, run_forward
from .inputs import InputSet, model_float_dtype, resolve_device
from .lenses import register as register_lenses
from .names import aliases, call_name, named_layers, split_call, unwrap, virtual_layers
from .outputs import OutputSelector, select

Kind = Literal["spatial", "sequence", "vector", "other", "none"]


@dataclass(frozen=True)
class LayerInfo:
    """One layer (one call of one submodule) as seen in a forward pass."""

    name: str
    """Dotted name as in ``model.named_modules()``; ``name#k`` for the module's call k ≥ 1."""
    type: str
    """The module's class name."""
    shape: tuple[int, ...] | None
    """Shape of the chosen output tensor for one example (batch axis removed)."""
    unit_axis: int | None
    """Axis of ``shape`` that indexes units (channels, neurons)."""
    n_units: int = 0
    kind: Kind = "none"
    output: str = ""
    """Path of the chosen tensor inside the output (``""`` when the output is a tensor)."""
    outputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Every tensor in the output by path, with its full shape (batch included)."""
    batch_axis: int | None = 0
    dtype: str = ""
    calls: int = 0
    """How many times the module ran in one forward pass."""
    depth: int = 0
    parent: str = ""
    is_leaf: bool = True
    aliases: tuple[str, ...] = ()
    """The module's other paths (``named_modules(remove_duplicate=False)``): names that work
    everywhere ``name`` does, as TransformerLens 4's hook names do."""
    features_of: str = ""
    """For a lens's features (a virtual layer ``"<layer>/<name>"``), the layer they read."""

    @property
    def n_positions(self) -> int:
        """Positions per unit: tokens, H × W locations, or 1."""
        if self.shape is None or self.unit_axis is None:
            return 1
        return math.prod(self.shape) // max(self.shape[self.unit_axis], 1)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (the explorer's ``layers_info`` trait)."""
        data = asdict(self)
        data["shape"] = list(self.shape) if self.shape is not None else None
        data["outputs"] = {k: list(v) for k, v in self.outputs.items()}
        data["aliases"] = list(self.aliases)
        data["n_positions"] = self.n_positions
        return data

    def __str__(self) -> str:
        shape = "×".join(map(str, self.shape)) if self.shape is not None else "-"
        return f"{'  ' * self.depth}{self.name.rsplit('.', 1)[-1]} ({self.type}) {shape}"


def view_of(shape: Sequence[int] | None, unit_axis: int | None = None) -> tuple[Kind, int | None]:
    """The view kind and unit axis for a per-example shape (``unit_axis`` overrides)."""
    if shape is None:
        return "none", None
    ndim = len(shape)
    if ndim == 0:
        return "vector", None
    if unit_axis is not None:
        if not -ndim <= unit_axis < ndim:
            raise LayerOutputError(
                f"unit_axis {unit_axis} is out of range for per-example shape {tuple(shape)}."
            )
        unit_axis %= ndim
    default = {1: ("vector", 0), 2: ("sequence", 1), 3: ("spatial", 0)}.get(ndim, ("other", 0))
    kind: Kind = default[0]  # type: ignore[assignment]
    if unit_axis is None:
        return kind, default[1]
    if ndim == 3 and unit_axis != 0:
        kind = "other"
    return kind, unit_axis


def view_layout(act: torch.Tensor, kind: Kind, unit_axis: int | None) -> torch.Tensor:
    """One example's activation in the layout its view draws.

    spatial → (C, H, W); sequence → (T, D); vector → (D,); other → (units, positions).
    """
    if kind == "vector" or unit_axis is None:
        return act.reshape(-1)
    if kind == "sequence":
        return act.movedim(unit_axis, -1)
    if kind == "spatial":
        return act.movedim(unit_axis, 0)
    return act.movedim(unit_axis, 0).reshape(act.shape[unit_axis], -1)


def per_example(tensor: torch.Tensor, batch_axis: int | None, index: int = 0) -> torch.Tensor:
    """The part of a batched output that belongs to example ``index``."""
    if batch_axis is None:
        return tensor
    if tensor.shape[batch_axis] == 1:  # broadcast over the batch
        return tensor.select(batch_axis, 0)
    return tensor.select(batch_axis, index)


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
) -> list[LayerInfo]:
    """Every submodule with what it returns for ``example``, in tree (pre-)order.

    Args:
        model: any ``torch.nn.Module``; it is run once or twice under ``torch.no_grad()``
            and left as found.
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
                    layers=layers, what=what)[0]  # fmt: skip


PROBE_TOKENS = 8
"""Tokens kept in the short probes that find each layer's batch axis (see :func:`discover`)."""


def discover(
    model: nn.Module,
    batch: Batch,
    *,
    forward: ForwardFn | None = None,
    outputs: Mapping[str, OutputSelector] | None = None,
    unit_axes: Mapping[str, int] | None = None,
    layers: Iterable[str] | None = None,
    what: str = "the example",
) -> tuple[list[LayerInfo], Activations, Any]:
    """Every layer's :class:`LayerInfo` from one pass of ``batch`` (on the model's device),
    with that pass's activations and the model's output (the explorer shows them as they
    are: opening it costs this one pass).

    Which axis of each output is the batch comes from the batch run twice over. For token
    inputs, that comparison runs on the first :data:`PROBE_TOKENS` tokens only, once alone
    and once doubled: two short passes instead of one of twice the input.
    """
    hooked = None if layers is None else list(dict.fromkeys(split_call(n)[0] for n in layers))
    with torch.no_grad(), capture(model, hooked, outputs=outputs) as acts:
        output = run_forward(model, batch, forward, what=what)
    short = _short(batch)
    reference: Activations | None = None
    doubled_acts: Activations | None = None
    for probe in ([short] if short is not None else []) + [batch]:
        doubled = double_batch(probe)
        if doubled is None:
            break
        try:
            if probe is not batch:
                with torch.no_grad(), capture(model, hooked, outputs=outputs) as reference:
                    run_forward(model, probe, forward, what=f"{what}, shortened")
            with torch.no_grad(), capture(model, hooked, outputs=outputs) as doubled_acts:
                run_forward(model, doubled, forward, what=f"{what} twice")
            break
        except Exception:  # the short probe does not suit the model: the whole batch, twice
            reference = doubled_acts = None
    infos = describe_layers(model, acts, doubled_acts, unit_axes or {}, reference=reference)
    return infos, acts, output


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


def describe_layers(
    model: nn.Module,
    acts: Activations,
    doubled: Activations | None,
    unit_axes: Mapping[str, int],
    *,
    reference: Activations | None = None,
) -> list[LayerInfo]:
    """``LayerInfo`` for each recorded call, from one capture (and its doubled-batch twin;
    ``reference``: the single pass that twin doubles, when it is not ``acts``'s)."""
    infos: list[LayerInfo] = []
    other_paths = aliases(model)
    virtual = virtual_layers(model)
    for name, module in named_layers(model).items():
        features_of = virtual[name][0] if name in virtual else ""
        depth = features_of.count(".") + 1 if features_of else name.count(".")
        parent = features_of or (name.rsplit(".", 1)[0] if "." in name else "")
        is_leaf = bool(features_of) or not any(True for _ in module.children())
        n_calls = acts.n_calls(name)
        base: dict[str, Any] = {
            "type": getattr(module, "display_type", module.__class__.__name__),
            "depth": depth,
            "parent": parent,
            "is_leaf": is_leaf,
            "calls": n_calls,
            "features_of": features_of,
        }
        paths = other_paths.get(name, [])
        if n_calls == 0:
            infos.append(
                LayerInfo(name=name, shape=None, unit_axis=None, aliases=tuple(paths), **base)
            )
            continue
        for call in range(n_calls):
            cname = call_name(name, call)
            named = {**base, "aliases": tuple(call_name(p, call) for p in paths)}
            infos.append(_describe_call(cname, acts, doubled, unit_axes, named, reference))
    return infos


def _describe_call(
    cname: str,
    acts: Activations,
    doubled: Activations | None,
    unit_axes: Mapping[str, int],
    base: dict[str, Any],
    reference: Activations | None = None,
) -> LayerInfo:
    raw = acts.raw(cname)
    all_outputs = {p: tuple(t.shape) for p, t in tensor_paths(raw)}
    try:
        tensor = select(raw, acts.selector(cname), cname)
    except LayerOutputError:
        return LayerInfo(name=cname, shape=None, unit_axis=None, outputs=all_outputs, **base)
    selector = acts.selector(cname)
    path = str(selector) if isinstance(selector, str | int) else _path_of(raw, tensor)
    batch_axis = _batch_axis(_probed(tensor, reference, cname), doubled, cname)
    shape = tuple(tensor.shape)
    if batch_axis is not None:
        shape = shape[:batch_axis] + shape[batch_axis + 1 :]
    kind, unit_axis = view_of(shape, unit_axes.get(cname, unit_axes.get(split_call(cname)[0])))
    n_units = shape[unit_axis] if unit_axis is not None else 1
    return LayerInfo(
        name=cname,
        shape=shape,
        unit_axis=unit_axis,
        n_units=n_units,
        kind=kind,
        output=path,
        outputs=all_outputs,
        batch_axis=batch_axis,
        dtype=str(tensor.dtype).removeprefix("torch."),
        **base,
    )


def _path_of(raw: Any, tensor: torch.Tensor) -> str:
    for path, t in tensor_paths(raw):
        if t is tensor:
            return path
    return ""


def _probed(tensor: torch.Tensor, reference: Activations | None, cname: str) -> torch.Tensor:
    """The layer's output in the single pass the doubled one doubles (``tensor`` itself when
    that pass is the full one; ``tensor`` too if the short probe did not record it)."""
    if reference is None or cname not in reference:
        return tensor
    try:
        return select(reference.raw(cname), reference.selector(cname), cname)
    except LayerOutputError:
        return tensor


def _batch_axis(tensor: torch.Tensor, doubled: Activations | None, cname: str) -> int | None:
    """The axis that grew when the batch doubled; without the probe, axis 0 if any."""
    if doubled is not None and cname in doubled:
        try:
            other = select(doubled.raw(cname), doubled.selector(cname), cname)
        except LayerOutputError:
            other = None
        if other is not None and other.ndim == tensor.ndim:
            grown = [
                i
                for i, (a, b) in enumerate(zip(tensor.shape, other.shape, strict=True))
                if b == 2 * a
            ]
            if grown:
                return grown[0]
            if tuple(other.shape) == tuple(tensor.shape):
                # The output does not depend on the batch size: a leading axis of 1 is a
                # broadcast batch axis (position embeddings); otherwise there is none.
                return 0 if tensor.ndim > 0 and tensor.shape[0] == 1 else None
    return 0 if tensor.ndim > 0 else None


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
