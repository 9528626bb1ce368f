"""Targets: the scalar per example whose gradient a saliency method takes.

A target is one of:

- ``None``: the model's top prediction for each example (the argmax of its output), or the
  output itself when it is one number per example;
- an output index: an ``int`` (a class or a logit, the same for every example), a list or
  1-D tensor of ints (one per example), or a tuple of ints for outputs with more than one
  axis per example (as Captum's ``target``), or a list of such tuples;
- a unit of a layer: :class:`Unit` or the shorthand ``("encoder.layer.3.intermediate", 1187)``
  — "which pixels or tokens drive neuron 1187 of layer 3";
- a callable on the model's output returning one number per example, shape ``(N,)``.

The model's output is reduced to one tensor first: a tensor as is; a dict or Hugging Face
``ModelOutput`` gives its ``logits`` if it has them, else its first tensor; a tuple its first
tensor.

How a unit becomes one number per example: take the unit's activation at every position of
the layer (the H × W locations of a ``(C, H, W)`` layer, the T tokens of a ``(T, D)`` layer),
then ``Unit.position`` picks one position, or ``Unit.reduce`` combines them: ``"max"`` (the
default, the same peak that ``actscope.rank_units`` ranks by), ``"sum"`` or ``"mean"``. For
text, padding tokens (``attention_mask == 0``) are left out of the reduction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeAlias

import torch

from ..errors import ActscopeError, LayerOutputError, NoTopPredictionError
from ..layers import LayerInfo
from ..outputs import OutputSelector, first_tensor_path, select
from . import _next_token as next_token
from ._next_token import NextToken

Reduce = Literal["max", "sum", "mean"]


@dataclass(frozen=True)
class Unit:
    """One unit (channel, neuron) of a layer, as a saliency target.

    Example::

        actscope.saliency(model, texts, tokenizer=tok,
                          target=Unit("encoder.layer.3.intermediate", 1187))
    """

    layer: str
    """Dotted layer name as in ``model.named_modules()`` (``name#k`` for its call k)."""
    unit: int
    """Index along the layer's unit axis (a channel of a conv, a neuron of an MLP)."""
    position: int | None = None
    """One position (flat index over the non-unit axes: a token, or ``h * W + w``);
    ``None`` reduces over all positions with ``reduce``."""
    reduce: Reduce = "max"
    unit_axis: int | None = None
    """Unit axis of the per-example output; ``None`` asks ``actscope.list_layers``."""
    batch_axis: int | None = None
    """Batch axis of the layer's output; ``None`` asks ``actscope.list_layers``."""
    output: OutputSelector | None = None
    """Which tensor of a tuple or dict output (see ``actscope.capture``); default the first."""

    @classmethod
    def of(cls, info: LayerInfo, unit: int, **options: Any) -> Unit:
        """A unit of a layer described by :func:`actscope.list_layers` (no extra forward pass)."""
        return cls(
            info.name,
            unit,
            unit_axis=info.unit_axis,
            batch_axis=info.batch_axis,
            output=info.output or None,
            **options,
        )


TargetLike: TypeAlias = (
    int
    | tuple[int, ...]
    | Sequence[int]
    | Sequence[tuple[int, ...]]
    | torch.Tensor
    | Unit
    | tuple[str, int]
    | Callable[[Any], torch.Tensor]
    | NextToken
    | None
)


def output_tensor(output: Any) -> torch.Tensor:
    """The tensor of a model's output that output-index targets refer to."""
    if isinstance(output, torch.Tensor):
        return output
    logits = output.get("logits") if isinstance(output, Mapping) else None
    if isinstance(logits, torch.Tensor):
        return logits
    path = first_tensor_path(output)
    if path is None:
        raise ActscopeError(
            f"The model returned {type(output).__name__}, which holds no tensor to take a "
            "gradient of: pass target=<a callable on the output> or a Unit of a layer."
        )
    return select(output, path, "the model output")


class Objective:
    """A resolved target: evaluates one scalar per row of a (possibly repeated) batch."""

    def __init__(self, target: TargetLike, n: int) -> None:
        self.n = n
        self.unit: Unit | None = None
        self.fn: Callable[[Any], torch.Tensor] | None = None
        self.index: torch.Tensor | None = None  # (N, k) long: an index per example
        self.flat = torch.empty(0, dtype=torch.long)  # (N, 1): the index into the flat output
        self.scalar = False  # the output is one number per example
        self._checked = False
        self.causal = False  # a causal LM: its default target is the next token
        self.next: NextToken | None = None
        self._next: tuple[torch.Tensor, torch.Tensor] | None = None  # (position, token) each
        if isinstance(target, str):
            raise ActscopeError(
                f"target={target!r}: name a unit of a layer as (layer, unit), e.g. "
                f"({target!r}, 0), or Unit({target!r}, 0)."
            )
        if isinstance(target, NextToken):
            self.next = target
        elif isinstance(target, Unit):
            self.unit = target
        elif isinstance(target, tuple) and target and isinstance(target[0], str):
            self.unit = _unit_from_tuple(target)
        elif callable(target) and not isinstance(target, torch.Tensor):
            self.fn = target
        elif target is not None:
            self.index = _index_tensor(target, n)

    @property
    def layers(self) -> list[str]:
        """Layers whose outputs the objective reads (hooked during every pass)."""
        return [self.unit.layer] if self.unit is not None else []

    @property
    def needs_resolve(self) -> bool:
        if self.next is not None:
            return self._next is None
        return self.unit is None and self.fn is None and self.index is None and not self.scalar

    def describe_units(self, infos: Sequence[LayerInfo]) -> None:
        """Fill a unit's axes from ``list_layers`` metadata."""
        assert self.unit is not None
        for info in infos:
            if self.unit.layer == info.name or self.unit.layer in info.aliases:
                if info.kind == "none":
                    raise LayerOutputError(
                        f"Layer {info.name!r} ({info.type}) returned no tensor for these "
                        "inputs, so none of its units can be a target."
                    )
                self.unit = replace(
                    self.unit,
                    unit_axis=info.unit_axis
                    if self.unit.unit_axis is None
                    else self.unit.unit_axis,
                    batch_axis=info.batch_axis
                    if self.unit.batch_axis is None
                    else self.unit.batch_axis,
                )
                return
        raise LayerOutputError(
            f"Layer {self.unit.layer!r} did not run for these inputs, so it has no units to "
            "target; check that the model uses it."
        )

    def resolve(self, output: Any, batch: Any = None) -> None:
        """Fix the default target (the top prediction) from the output at the inputs."""
        if not self.needs_resolve:
            return
        out = output_tensor(output)
        ids = next_token.ids_and_lengths(batch, out.shape[0]) if out.ndim == 3 else None
        if self.next is None and self.causal and ids is not None:
            self.next = NextToken()  # a causal LM: the next token after the last position
        if self.next is not None:
            self._next = next_token.resolve(self.next, out, batch)
            return
        per_example = tuple(out.shape[1:])
        if math.prod(per_example) == 1:
            self.scalar = True
        elif len(per_example) == 1:
            self.index = out.detach().argmax(dim=1, keepdim=True)
            self.flat, self._checked = self.index, True  # in range by construction
        else:
            raise NoTopPredictionError(
                f"The model's output has shape {tuple(out.shape)}, so there is no single top "
                "prediction to explain: pass target=(i, j, ...) to pick one value per example, "
                "a Unit of a layer, or a callable on the output."
            )

    def __call__(
        self,
        output: Any,
        recorded: Mapping[str, Any],
        batch: Any,
        ex: torch.Tensor | None,
        rows: int,
    ) -> torch.Tensor:
        """One scalar per row; ``ex`` maps rows to examples (``None``: row i is example i)."""
        if self.fn is not None:
            return self._call_fn(output, rows)
        if self.unit is not None:
            return self._unit_value(recorded[self.unit.layer], batch)
        out = output_tensor(output)
        if self._next is not None:
            pos, token = self._next
            if ex is not None:
                pos, token = pos[ex], token[ex]
            return next_token.value(out, pos, token)
        if self.scalar or self.index is None:
            if math.prod(out.shape[1:]) != 1:
                raise ActscopeError(
                    f"The model's output has shape {tuple(out.shape)}: pass target= to pick "
                    "one value per example."
                )
            return out.reshape(rows)
        if not self._checked:
            self._check(tuple(out.shape[1:]), out.device)
        flat = self.flat if ex is None else self.flat[ex]
        return out.reshape(rows, -1).gather(1, flat).squeeze(1)

    # -- the three kinds ------------------------------------------------------------------
    def _call_fn(self, output: Any, rows: int) -> torch.Tensor:
        assert self.fn is not None
        value = self.fn(output)
        if not isinstance(value, torch.Tensor):
            raise ActscopeError(
                f"The target callable returned {type(value).__name__}; it must return a tensor "
                "of one number per example, shape (N,)."
            )
        if value.ndim == 2 and value.shape[1] == 1:
            value = value[:, 0]
        if value.ndim != 1 or value.shape[0] != rows:
            raise ActscopeError(
                f"The target callable returned shape {tuple(value.shape)}; it must return one "
                f"number per example, shape ({rows},)."
            )
        return value

    def _unit_value(self, raw: Any, batch: Any) -> torch.Tensor:
        unit = self.unit
        assert unit is not None
        tensor = select(raw, unit.output, unit.layer)
        if unit.batch_axis is None:
            raise LayerOutputError(
                f"The output of layer {unit.layer!r} has no batch axis (it is the same for "
                "every input), so its units cannot explain one input."
            )
        per = tensor.movedim(unit.batch_axis, 0)
        rows, shape = per.shape[0], tuple(per.shape[1:])
        if unit.unit_axis is None:
            if unit.unit != 0:
                raise ActscopeError(
                    f"Layer {unit.layer!r} gives one number per example; its only unit is 0."
                )
            values = per.reshape(rows, 1)
            positions: tuple[int, ...] = ()
        else:
            n_units = shape[unit.unit_axis]
            if not 0 <= unit.unit < n_units:
                raise ActscopeError(
                    f"Unit {unit.unit} is out of range for layer {unit.layer!r}, which has "
                    f"{n_units} units (per-example shape {shape})."
                )
            picked = per.select(1 + unit.unit_axis, unit.unit)
            positions = tuple(picked.shape[1:])
            values = picked.reshape(rows, -1)
        n_positions = values.shape[1]
        if unit.position is not None:
            if not -n_positions <= unit.position < n_positions:
                raise ActscopeError(
                    f"Position {unit.position} is out of range for layer {unit.layer!r}, which "
                    f"has {n_positions} positions per unit."
                )
            return values[:, unit.position]
        mask = _token_mask(batch, rows, positions)
        return _reduce(values, mask, unit.reduce)

    def _check(self, dims: tuple[int, ...], device: torch.device) -> None:
        """Range-check an index target once, then keep it flat on the output's device."""
        assert self.index is not None
        if self.index.shape[1] != len(dims):
            raise ActscopeError(
                f"target has {self.index.shape[1]} index(es) per example but the model's "
                f"output has {len(dims)} axis(es) per example (shape {dims}): "
                + (
                    "pass a tuple with one index per axis."
                    if len(dims) > 1
                    else "pass an int or one int per example."
                )
            )
        # Checked where the index was made (the host, for ints and lists): one look, before
        # any gradient pass, rather than a device-side assert later.
        high = torch.tensor(dims, device=self.index.device)
        bad = ((self.index < 0) | (self.index >= high)).any(dim=1)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ActscopeError(
                f"target {tuple(self.index[i].tolist())} (example {i}) is out of range for the "
                f"model's output, whose per-example shape is {dims}."
            )
        index = self.index.to(device, non_blocking=True)
        if len(dims) > 1:
            strides = torch.tensor(_strides(dims), device=device)
            index = (index * strides).sum(dim=1, keepdim=True)
        self.flat = index
        self._checked = True


def _unit_from_tuple(target: tuple[Any, ...]) -> Unit:
    if len(target) not in (2, 3) or not all(isinstance(t, int) for t in target[1:]):
        raise ActscopeError(
            f"target={target!r}: a unit is (layer, unit) or (layer, unit, position), e.g. "
            "('encoder.layer.3.intermediate', 1187)."
        )
    return Unit(target[0], target[1], target[2] if len(target) == 3 else None)


def _index_tensor(target: Any, n: int) -> torch.Tensor:
    """An output-index target as an ``(N, k)`` long tensor (k: indices per example)."""
    if isinstance(target, torch.Tensor):
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise ActscopeError(f"target must hold integer indices, not {target.dtype}.")
        t = target.long()
        if t.ndim == 0:
            return t.reshape(1, 1).expand(n, 1)
        if t.ndim == 1:
            t = t[:, None]
        if t.ndim != 2 or t.shape[0] != n:
            raise ActscopeError(
                f"target has shape {tuple(target.shape)}; give one index per example: "
                f"shape ({n},) (or ({n}, k) for outputs with k axes per example)."
            )
        return t
    if isinstance(target, bool):
        raise ActscopeError("target must be an index, not a bool.")
    if isinstance(target, int):
        return torch.full((n, 1), target, dtype=torch.long)
    if isinstance(target, tuple) and all(isinstance(t, int) for t in target):
        return torch.tensor([list(target)] * n, dtype=torch.long).reshape(n, len(target))
    if isinstance(target, Sequence):
        items = list(target)
        if len(items) != n:
            raise ActscopeError(
                f"Got {len(items)} targets for {n} inputs: give one per input, or a single int."
            )
        if all(isinstance(t, int) and not isinstance(t, bool) for t in items):
            return torch.tensor(items, dtype=torch.long)[:, None]
        if all(isinstance(t, tuple) for t in items) and len({len(t) for t in items}) == 1:
            return torch.tensor([list(t) for t in items], dtype=torch.long)
    raise ActscopeError(
        f"Cannot use target={target!r}: pass an int, one int per input, a tuple of ints, "
        "(layer, unit), a Unit, or a callable on the model's output."
    )


def _strides(dims: tuple[int, ...]) -> list[int]:
    strides, step = [], 1
    for d in reversed(dims):
        strides.append(step)
        step *= d
    return strides[::-1]


def _token_mask(batch: Any, rows: int, positions: tuple[int, ...]) -> torch.Tensor | None:
    """``attention_mask`` as booleans when the unit's positions are the batch's tokens."""
    if not isinstance(batch, Mapping) or len(positions) != 1:
        return None
    mask = batch.get("attention_mask")
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (rows, positions[0]):
        return None
    return mask.bool()


def _reduce(values: torch.Tensor, mask: torch.Tensor | None, how: Reduce) -> torch.Tensor:
    if how == "max":
        if mask is not None:
            values = values.masked_fill(~mask, float("-inf"))
        return values.amax(dim=1)
    if mask is not None:
        values = values * mask.to(values.dtype)
    total = values.sum(dim=1)
    if how == "sum":
        return total
    if how == "mean":
        count = mask.sum(dim=1).clamp(min=1) if mask is not None else values.shape[1]
        return total / count
    raise ActscopeError(f"Unit.reduce must be 'max', 'sum' or 'mean', not {how!r}.")
