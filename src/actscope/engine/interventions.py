"""Interventions: change what layers output, in every forward pass inside a ``with`` block.

An :class:`Edit` names a layer (one call of one module, as ``capture`` names it: ``name`` or
``name#k``), the units and positions it touches (see :mod:`.selection`), and one operation:

============ ==================================================================================
``value``    set the selection to a number, a tensor, or ``"mean"`` (each unit's mean over
             the data an ``index`` was mined on: mean-ablation)
``scale``    multiply it (``scale=0`` ablates)
``add``      add ``coef`` × a direction over the unit axis (steering)
``source``   copy it from the same layer's activations on another input (activation
             patching; resample-ablation with a dataset example's capture)
============ ==================================================================================

:func:`intervene` adds one forward hook per edited module, inside ``with Hooks()``, so the
hooks are temporary and bound to the thread that opened the block: every forward pass of the
model in that thread, including those run by ``capture``, ``predictions``, ``saliency`` and
``mine``, sees the edits, and nothing else does. A hook never changes the tensor the module
returned: it returns a new output, the selected tensor cloned and then edited. The model is
left as found (parameters, buffers, flags, hooks, ``.grad``), however the block ends.

Layer names, the choice of one operation and the index's layers are checked when the block
opens; units, positions and shapes when the layer runs, with errors that name the layer, the
range and the shape. Calls (``name#k``) are counted from the start of each forward pass of
the model; a module run on its own, outside one (a block called directly), counts each call
as its first.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, fields
from typing import Any, cast

import torch
from torch import nn

from .batch import map_tensors
from .errors import ActscopeError, InputError
from .hooks import Hooks
from .lenses import register as register_lenses
from .names import resolve_modules, split_call, unwrap
from .outputs import select
from .selection import Index, Layout, Position, edit_tensor, fit, per_unit

OPERATIONS = ("value", "scale", "add", "source")


@dataclass(frozen=True, eq=False)
class Edit:
    """One change to a layer's output: on ``units`` at ``positions``, exactly one of
    ``value``, ``scale``, ``add`` or ``source``.

    Args:
        layer: a layer name as ``capture`` takes it (any path of the module; ``name#k`` for
            its call k).
        units: a unit index or a list of them (default every unit) on the layer's unit axis,
            as ``list_layers`` reports it: channels of a conv map, the last axis of a sequence.
        positions: a position or a list of them (default all): token indices for a sequence
            ``(N, T, D)``; for an image map ``(N, C, H, W)`` a location ``(y, x)`` or a flat
            index ``y * W + x``. Negative indices count from the end.
        value: a number, a tensor broadcastable to the selection ``(N, positions..., units)``
            (or one value per unit of the layer, ``(n_units,)``), or ``"mean"`` with ``index``.
        scale: multiply the selection by this (a number or a broadcastable tensor).
        add: a direction over the unit axis, ``(n_units,)`` (or one entry per chosen unit),
            added ``coef`` times.
        source: the layer's activations on another input, as ``capture`` gives them: the
            shape of the layer's output for the batch, or one example's ``(1, ...)`` (or
            without the batch axis), used for every example.
        coef: the multiple of ``add``.
        index: an :class:`~actscope.ActivationIndex` of this layer, for ``value="mean"``.
        output: for a module that returns a tuple or dict, the path of the tensor to edit
            (as ``capture``'s ``outputs=``); by default the first tensor.
        unit_axis: the unit axis of the per-example output, when not the default.

    Resample-ablation: capture the layer on a dataset example of the same length and patch
    it in::

        with actscope.capture(model, layer) as acts:
            model(**dataset_example)
        with actscope.intervene(model, actscope.Edit(layer, units=[7], source=acts[layer])):
            ...
    """

    layer: str
    _: KW_ONLY
    units: Sequence[int] | int | None = None
    positions: Sequence[Position] | Position | None = None
    value: float | torch.Tensor | str | None = None
    scale: float | torch.Tensor | None = None
    add: torch.Tensor | None = None
    source: torch.Tensor | None = None
    coef: float = 1.0
    index: Any = None
    output: str | int | None = None
    unit_axis: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.layer, str) or not self.layer:
            raise InputError(f"Edit needs a layer name, not {self.layer!r}.")
        given = [name for name in OPERATIONS if getattr(self, name) is not None]
        if len(given) != 1:
            raise InputError(
                f"Edit of {self.layer!r} needs exactly one of value=, scale=, add= or source= "
                f"(got {', '.join(given) + '=' if given else 'none'})."
            )
        if isinstance(self.value, str) and self.value != "mean":
            raise InputError(f"value={self.value!r}: a number, a tensor, or 'mean'.")
        if self.value == "mean" and self.index is None:
            raise InputError(
                f"value='mean' for {self.layer!r} needs index=<an ActivationIndex from "
                "actscope.mine of this layer>."
            )
        if self.coef != 1.0 and self.add is None:
            raise InputError("coef= multiplies add=; give it only with add=.")
        object.__setattr__(self, "units", _units(self.units, self.layer))
        object.__setattr__(self, "positions", _positions(self.positions, self.layer))

    @property
    def operation(self) -> str:
        """``"value"``, ``"scale"``, ``"add"`` or ``"source"``."""
        return next(name for name in OPERATIONS if getattr(self, name) is not None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Edit):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    def __hash__(self) -> int:
        return hash((self.layer, self.units, self.positions, self.operation))

    def __repr__(self) -> str:
        parts = [repr(self.layer)]
        for f in fields(self)[1:]:
            v = getattr(self, f.name)
            if v is None or (f.name == "coef" and v == 1.0):
                continue
            shown = f"tensor{tuple(v.shape)}" if isinstance(v, torch.Tensor) else repr(v)
            parts.append(f"{f.name}={shown}")
        return f"Edit({', '.join(parts)})"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and torch.equal(a.cpu(), b.cpu())
        )
    return a is b or bool(a == b)


def _units(units: Any, layer: str) -> tuple[int, ...] | None:
    if units is None:
        return None
    if isinstance(units, torch.Tensor):
        units = units.reshape(-1).tolist()
    items = [units] if _is_int(units) else list(units)
    if not items or not all(_is_int(u) for u in items):
        raise InputError(f"units for {layer!r} must be an int or a list of ints, not {units!r}.")
    out = tuple(operator.index(u) for u in items)
    if any(u < 0 for u in out):
        raise InputError(f"units for {layer!r} must be 0 or more, not {list(out)}.")
    return out


def _positions(positions: Any, layer: str) -> tuple[Position, ...] | None:
    if positions is None:
        return None
    if isinstance(positions, torch.Tensor):
        positions = positions.tolist() if positions.ndim else int(positions)
    if _is_int(positions):
        return (operator.index(positions),)
    if isinstance(positions, tuple) and positions and all(_is_int(c) for c in positions):
        return (tuple(operator.index(c) for c in positions),)  # one location (y, x)
    out: list[Position] = []
    for p in positions:
        if _is_int(p):
            out.append(operator.index(p))
        elif isinstance(p, tuple | list) and p and all(_is_int(c) for c in p):
            out.append(tuple(operator.index(c) for c in p))
        else:
            raise InputError(
                f"positions for {layer!r}: each is an int or a location (y, x), not {p!r}."
            )
    if not out:
        raise InputError(f"positions for {layer!r} is empty: leave it None for every position.")
    return tuple(out)


def _is_int(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    try:
        operator.index(x)
    except TypeError:
        return False
    return True


# -- the hooks ------------------------------------------------------------------------------


@dataclass
class _Bound:
    """An edit resolved against the model: its module, call, and what it writes."""

    edit: Edit
    module: nn.Module
    call: int
    operand: torch.Tensor | float | None

    def apply(self, tensor: torch.Tensor) -> torch.Tensor:
        e = self.edit
        layout = Layout.of(e.layer, tensor, e.unit_axis)
        units = cast("tuple[int, ...] | None", e.units)  # normalised by Edit.__post_init__
        positions = cast("tuple[Position, ...] | None", e.positions)
        return edit_tensor(tensor, layout, units, positions, self._op)

    def _op(self, current: torch.Tensor, layout: Layout, index: Index) -> torch.Tensor:
        e, x = self.edit, self.operand
        if e.source is not None or x is None:
            return _from_source(cast(torch.Tensor, e.source), current, layout, index)
        if isinstance(x, torch.Tensor):
            x = per_unit(x, current, layout, index, f"{e.operation}= values")
        if e.scale is not None:
            return current * x
        if e.add is not None:
            return current + x
        if isinstance(x, torch.Tensor):
            return x
        return torch.full_like(current, x)


def _from_source(
    source: torch.Tensor, current: torch.Tensor, layout: Layout, index: Index
) -> torch.Tensor:
    src = source.detach().to(device=current.device, dtype=current.dtype)
    per = layout.shape[1:]
    if src.ndim == len(per) and tuple(src.shape) == per:
        src = src[None]
    if tuple(src.shape[1:]) != per or src.shape[0] not in (1, layout.shape[0]):
        raise InputError(
            f"source has shape {tuple(source.shape)}; the layer {layout.layer!r} outputs "
            f"{layout.shape} for this batch (pass the same layer's activations on inputs of "
            "the same shape, or one example's)."
        )
    picked = layout.units_last(src)[index]
    return fit(picked, current.shape, layout, "source values")


def _operand(edit: Edit) -> torch.Tensor | float | None:
    if edit.value == "mean":
        return unit_means_of(edit.index, edit.layer)
    for name in ("value", "scale"):
        v = getattr(edit, name)
        if v is not None:
            return v.detach() if isinstance(v, torch.Tensor) else float(v)
    if edit.add is not None:
        if not isinstance(edit.add, torch.Tensor):
            raise InputError(f"add= for {edit.layer!r} must be a tensor (a direction).")
        return edit.add.detach() * edit.coef
    if not isinstance(edit.source, torch.Tensor):
        raise InputError(f"source= for {edit.layer!r} must be a tensor (a captured activation).")
    return None


def unit_means_of(index: Any, layer: str) -> torch.Tensor:
    """Each unit's mean activation over the data ``index`` was mined on, ``(n_units,)``."""
    known = getattr(index, "layer", None)
    if callable(known):
        known(layer)  # an index of other layers raises, naming the ones it has
    means = getattr(index, "unit_means", None)
    if callable(means):
        return torch.as_tensor(means(layer)).detach()
    raise ActscopeError(
        f"value='mean' for {layer!r} needs each unit's mean activation over the mined data, "
        "and this ActivationIndex does not keep one (it keeps statistics of each unit's "
        "per-example maximum). Compute the means with actscope.unit_means(model, dataset, "
        f"[{layer!r}]) and pass value=means[{layer!r}]."
    )


_active = threading.local()


def active_edits(model: nn.Module) -> list[Edit]:
    """The edits of the ``intervene`` blocks open on ``model`` in this thread."""
    return [e for owner, edits in getattr(_active, "blocks", []) if owner is model for e in edits]


@contextmanager
def intervene(
    model: Any, edits: Edit | Iterable[Edit], *, lenses: Iterable[Any] | None = None
) -> Iterator[list[Edit]]:
    """Run every forward pass of ``model`` in this thread, inside the block, with ``edits``.

    Args:
        model: any ``torch.nn.Module`` (or a wrapper of one); it is left exactly as found.
        edits: an :class:`Edit` or a list of them, applied in order (several on one layer
            compose; an inner ``intervene`` block applies after an outer one).
        lenses: :class:`~actscope.Lens` objects, to edit their features
            (``Edit("<layer>/<name>", units=[feature], scale=0.0)``): the change goes
            through the decoder and the reconstruction error is kept.

    Yields:
        The edits, as a list.

    Example::

        edit = actscope.Edit("transformer.h.0.mlp.act", units=[5, 9], scale=0.0)
        with actscope.intervene(model, edit):
            p = actscope.predictions(model, ["The cat sat on the"], tokenizer=tok)
    """
    model = unwrap(model)
    register_lenses(model, lenses)
    chosen = [edits] if isinstance(edits, Edit) else list(edits)
    for e in chosen:
        if not isinstance(e, Edit):
            raise InputError(f"intervene takes Edit objects, not {type(e).__name__}.")
    bound: dict[int, list[_Bound]] = {}
    modules: dict[int, nn.Module] = {}
    for e in chosen:
        base, call = split_call(e.layer)
        module = resolve_modules(model, [base])[base]
        bound.setdefault(id(module), []).append(_Bound(e, module, call, _operand(e)))
        modules[id(module)] = module
    counts: dict[int, int] = {}
    state = {"in_pass": False}

    def start(_module: nn.Module, _args: Any) -> None:
        counts.clear()
        state["in_pass"] = True

    def end(_module: nn.Module, _args: Any, _output: Any) -> None:
        state["in_pass"] = False

    def hook_for(key: int) -> Any:
        group = bound[key]

        def hook(_module: nn.Module, _args: Any, output: Any) -> Any:
            call = counts.get(key, 0)
            counts[key] = call + 1 if state["in_pass"] else 0
            for b in group:
                if b.call == call:
                    output = _apply(b, output)
            return output

        return hook

    blocks = _active.__dict__.setdefault("blocks", [])
    entry = (model, chosen)
    with Hooks() as hooks:
        if chosen:
            hooks.pre(model, start)
            hooks.forward(model, end)
            for key, module in modules.items():
                hooks.forward(module, hook_for(key))
        blocks.append(entry)
        try:
            yield chosen
        finally:
            blocks.remove(entry)


def _apply(bound: _Bound, output: Any) -> Any:
    layer = bound.edit.layer
    tensor = select(output, bound.edit.output, layer)
    edited = bound.apply(tensor)
    if output is tensor:
        return edited
    return map_tensors(lambda t: edited if t is tensor else t, output)
