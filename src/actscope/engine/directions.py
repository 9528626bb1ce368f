"""Where a unit writes in the residual stream (its output direction), and what it writes to
the logits through the direct path (:func:`logit_effects`).

A residual layer's unit is one axis of the residual stream, and so is the unit of a
layer added to it (an MLP's or an attention's output). An MLP neuron writes along
its row of the output projection: the module that reads the layer's output (found by
running the model once and matching tensors), the parent's projection by its usual name
(``down_proj``, ``c_proj``, ``fc2``...), or TransformerLens' ``W_out``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .batch import tensors
from .errors import ActscopeError, InputError
from .forward import call_model
from .hooks import Hooks
from .lenses import lens_module
from .lenses import register as register_lenses
from .lm import Unembed, lm_parts
from .names import canonical, resolve_modules, split_call, unwrap

PROJECTIONS = ("down_proj", "c_proj", "fc2", "fc_out", "dense_4h_to_h", "out_proj", "wo")
"""Names of MLP output projections in common architectures."""


def _columns(module: nn.Module, n_units: int, d_model: int) -> torch.Tensor | None:
    """The module's weight as ``(units, d_model)``, if it maps ``n_units`` → ``d_model``."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        return None
    if isinstance(module, nn.Linear) and tuple(weight.shape) == (d_model, n_units):
        return weight.T
    if type(module).__name__ == "Conv1D" and tuple(weight.shape) == (n_units, d_model):
        return weight  # Hugging Face's GPT-2 Conv1D: (in, out)
    return None


def _probe(model: nn.Module) -> Any:
    ids = torch.zeros(1, 4, dtype=torch.long, device=next(model.parameters()).device)
    return {"input_ids": ids} if hasattr(model, "config") else ids


def _consumer(
    model: nn.Module, module: nn.Module, example: Any
) -> tuple[list[nn.Module], int | None]:
    """The leaf modules whose input is ``module``'s output, in one forward pass, and the
    width (last dimension) of that output's first tensor."""
    produced: set[int] = set()
    alive: list[torch.Tensor] = []  # held for the pass, so that no address is reused
    readers: list[nn.Module] = []
    widths: list[int] = []

    def record(_m: nn.Module, _a: Any, out: Any) -> None:
        found = list(tensors(out))
        alive.extend(found)
        produced.update(t.data_ptr() for t in found)
        if found and found[0].ndim and not widths:
            widths.append(int(found[0].shape[-1]))

    def reads(m: nn.Module, args: tuple[Any, ...]) -> None:
        if any(t.data_ptr() in produced for t in tensors(args)):
            readers.append(m)

    with Hooks() as hooks, torch.no_grad():
        hooks.forward(module, record)
        for m in model.modules():
            if m is not module and not any(True for _ in m.children()):
                hooks.pre(m, reads)
        try:
            call_model(model, example if example is not None else _probe(model))
        except Exception:  # the probe input may not suit the model: fall back by names
            return [], None
    return readers, widths[0] if widths else None


def output_direction(
    model: nn.Module,
    layer: str,
    unit: int,
    d_model: int,
    blocks: Sequence[str],
    example: Any = None,
) -> torch.Tensor:
    """The ``(d_model,)`` direction unit ``unit`` of ``layer`` writes to the residual stream."""
    base, _ = split_call(layer)
    module = resolve_modules(model, [base])[base]
    if split_call(canonical(model, base))[0] in blocks:
        if not 0 <= unit < d_model:
            raise ActscopeError(f"Unit {unit} is out of range: the residual has {d_model}.")
        return torch.nn.functional.one_hot(torch.tensor(unit), d_model).float()
    parent_name = base.rsplit(".", 1)[0] if "." in base else ""
    parent = model.get_submodule(parent_name) if parent_name else model
    w_out = getattr(parent, "W_out", None)  # TransformerLens MLP: (d_mlp, d_model)
    if isinstance(w_out, torch.Tensor) and w_out.ndim == 2 and w_out.shape[1] == d_model:
        return w_out[unit].detach()
    candidates, width = _consumer(model, module, example)
    candidates += [
        getattr(parent, n) for n in PROJECTIONS if isinstance(getattr(parent, n, None), nn.Module)
    ]
    for reader in candidates:
        weight = getattr(reader, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
            continue
        n_units = weight.shape[1] if isinstance(reader, nn.Linear) else weight.shape[0]
        columns = _columns(reader, n_units, d_model)
        if columns is not None and 0 <= unit < columns.shape[0]:
            return columns[unit].detach()
    if width == d_model and 0 <= unit < d_model:
        # Read by no projection and as wide as the residual: added to it (an MLP's or an
        # attention's output), so the unit is one axis of the residual stream.
        return torch.nn.functional.one_hot(torch.tensor(unit), d_model).float()
    raise ActscopeError(
        f"Cannot tell where unit {unit} of {layer!r} writes in the residual stream: no "
        "module that reads it maps to the model's width. Pass direction=<the unit's "
        "(d_model,) output direction>, or pick a residual layer (a block's output)."
    )


@dataclass(frozen=True)
class LogitEffects:
    """What a unit writes to the logits through the direct path: its top promoted and
    suppressed tokens, with values (``W_U · (γ ⊙ w)``, centred: the mean over the vocab
    subtracted, which does not change the order)."""

    promoted: torch.Tensor
    promoted_values: torch.Tensor
    suppressed: torch.Tensor
    suppressed_values: torch.Tensor
    effects: torch.Tensor
    """The whole ``(V,)`` vector."""


def logit_effects(
    model: Any,
    layer: str,
    unit: int,
    k: int = 10,
    *,
    direction: torch.Tensor | None = None,
    example: Any = None,
    unembed: Unembed | None = None,
    final_norm: nn.Module | Callable[[torch.Tensor], torch.Tensor] | bool | None = None,
    lenses: Iterable[Any] | None = None,
) -> LogitEffects:
    """The tokens a unit promotes and suppresses most through the direct path.

    The unit's output direction ``w`` in the residual stream: for an MLP neuron, its row of
    the output projection (found as the module that reads the layer's output, or
    TransformerLens' ``W_out``); for a residual layer (a block's output), the unit's own
    axis. Then ``W_U · (γ ⊙ w)`` with γ the final norm's weight (its bias and centring do
    not change the ranking).

    Args:
        model: a language model (see :func:`lm_parts`).
        layer, unit: which unit.
        k: tokens each way.
        direction: the unit's output direction ``(d_model,)``, when it cannot be found.
        example: a batch the model runs on, used to find which module reads ``layer``
            (default: a few token ids).
        unembed, final_norm: see :func:`lm_parts`.
        lenses: :class:`~actscope.Lens` objects: a feature's direction is its decoder
            direction (its layer must be as wide as the residual stream).
    """
    model = unwrap(model)
    register_lenses(model, lenses)
    bound = lens_module(model, layer)
    if direction is None and bound is not None:
        direction = bound.lens.direction(unit)
    parts = lm_parts(model, unembed=unembed, final_norm=final_norm)
    w_u = parts.unembed_weight
    d_model = w_u.shape[1]
    if direction is None:
        direction = output_direction(model, layer, unit, d_model, parts.blocks, example)
    w = direction.to(w_u.device, w_u.dtype)
    if w.shape != (d_model,):
        raise InputError(
            f"The direction of unit {unit} of {layer!r} has shape {tuple(w.shape)}; the "
            f"residual stream has {d_model} dimensions."
        )
    if parts.norm_weight is not None:
        w = w * parts.norm_weight.to(w.device, w.dtype)
    with torch.no_grad():
        effects = (w_u @ w).float()
        effects = effects - effects.mean()
    n = min(k, effects.numel())
    up = effects.topk(n)
    down = (-effects).topk(n)
    return LogitEffects(up.indices, up.values, down.indices, -down.values, effects)
