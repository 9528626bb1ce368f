"""A model's layers as discovery sees them: names, types, output shapes, which axis holds
the units.

Hooks on every submodule record what each returns (:mod:`.discovery` runs the passes); a
pass of the example doubled along its batch axis tells which axis of each output is the
batch (axis 0 for most layers; axis 1 for an LSTM's ``h_n``), so that shapes here are per
example.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import torch
from torch import nn

from .batch import tensor_paths
from .capture import Activations
from .errors import LayerOutputError
from .names import (
    aliases,
    call_name,
    named_layers,
    split_call,
    virtual_layers,
)
from .outputs import select

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

    @property
    def output_bytes(self) -> int:
        """Bytes of the layer's whole output for one pass (every tensor in it)."""
        size = torch.empty((), dtype=getattr(torch, self.dtype or "float32", torch.float32))
        return sum(math.prod(shape) for shape in self.outputs.values()) * size.element_size()

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (the explorer's ``layers_info`` trait)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # asdict copies deeply
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
    except Exception:  # not there, or a selector that needs values (a fake probe's)
        return tensor


def _batch_axis(tensor: torch.Tensor, doubled: Activations | None, cname: str) -> int | None:
    """The axis that grew when the batch doubled; without the probe, axis 0 if any."""
    if doubled is not None and cname in doubled:
        try:
            other = select(doubled.raw(cname), doubled.selector(cname), cname)
        except Exception:  # not there, or a selector that needs values (a fake probe's)
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
