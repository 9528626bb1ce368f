"""What every saliency method shares: the batch, the attributed tensor, and one pass.

A method attributes a target (see ``_targets``) to a *site*: either a tensor of the input
batch (the images), or the output of a layer (the token embeddings of a text model, the
feature maps of Grad-CAM). One *pass* runs the model on some rows of the batch with the
site's value as a leaf of the autograd graph, and returns the target's value per row.

Hooks added for a pass are removed in ``finally``; gradients are taken with
``torch.autograd.grad`` on that leaf only, so parameters' ``.grad`` fields, ``requires_grad``
flags, training modes and the user's own hooks are never touched. Everything stays on the
model's device; nothing is copied to the host.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..batch import move
from ..discovery import list_layers
from ..errors import ActscopeError, InputError, LayerOutputError
from ..forward import Batch, ForwardFn, run_forward
from ..hooks import Hooks
from ..inputs import model_float_dtype, resolve_device
from ..lm import is_causal_lm
from ..names import resolve_modules, split_call, unwrap
from ..preserve import buffers_kept
from ._batch import (
    NONE,
    as_batch,
    batch_size,
    find_input,
    gather,
    ids_key,
    not_inference,
    pick,
    replace_input,
)
from ._targets import Objective, TargetLike


@dataclass
class Site:
    """Where attributions are taken."""

    key: str | int | None = None
    """Input site: the key (dict) or index (tuple) of the tensor in the batch; ``None``
    when the batch is the tensor."""
    layer: str | None = None
    """Layer site: the layer name (``name#k`` for its call k)."""
    tokens: bool = False
    """The site is the embedding layer of token ids (scores are summed over its last axis)."""
    ids_key: str | int | None = None
    """Where the token ids sit in the batch (for baselines given as ids)."""


@dataclass
class Prepared:
    """A user's inputs as one batch on the model's device, and the site to attribute to."""

    model: nn.Module
    batch: Batch
    n: int
    forward: ForwardFn | None
    site: Site
    device: torch.device
    input_shape: tuple[int, ...] | None = None
    """Shape of the floating input tensor (for Grad-CAM's upsampling), if there is one."""

    @property
    def x(self) -> torch.Tensor:
        """The input-site tensor."""
        return pick(self.batch, self.site.key)


@dataclass
class Pass:
    """What one pass returns."""

    output: Any
    leaf: torch.Tensor
    """The site's value for these rows (a leaf that requires grad in a gradient pass)."""
    scores: torch.Tensor
    """The target's value per row, ``(rows,)``."""
    recorded: dict[str, Any] = field(default_factory=dict)


def begin(
    model: nn.Module,
    inputs: Any,
    target: TargetLike,
    *,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    embeddings: str | None = None,
    input_key: str | int | None = None,
    layer: str | None = None,
) -> tuple[Prepared, Objective]:
    """What every method does first: one batch of every input, on the model's device,
    where to attribute, and the target as an objective."""
    model = unwrap(model)
    batch = as_batch(inputs, tokenizer)
    dev = resolve_device(model, device)
    batch = not_inference(move(batch, dev, model_float_dtype(model)))
    n = batch_size(batch)
    floating = find_input(batch, input_key, floating_only=True)
    input_shape = tuple(pick(batch, floating).shape) if floating is not NONE else None
    if layer is not None:
        resolve_modules(model, [layer])
        site = Site(layer=layer)
    elif embeddings is not None:
        resolve_modules(model, [embeddings])
        site = Site(layer=embeddings, tokens=True, ids_key=ids_key(batch, input_key))
    else:
        key = find_input(batch, input_key, floating_only=False)
        if pick(batch, key).is_floating_point():
            site = Site(key=key)
        else:
            site = Site(layer=find_embeddings(model), tokens=True, ids_key=key)
    _warn_if_training(model)
    prep = Prepared(model, batch, n, forward, site, dev, input_shape)
    return prep, objective_for(prep, target)


def objective_for(prep: Prepared, target: TargetLike) -> Objective:
    """The target as an :class:`Objective`; a unit without axes asks ``list_layers``."""
    objective = Objective(target, prep.n)
    objective.causal = is_causal_lm(prep.model)
    unit = objective.unit
    if unit is not None:
        resolve_modules(prep.model, [unit.layer])
        if unit.unit_axis is None or unit.batch_axis is None:
            first = gather(prep.batch, torch.zeros(1, dtype=torch.long, device=prep.device), prep.n)
            outputs = {unit.layer: unit.output} if unit.output is not None else None
            infos = list_layers(
                prep.model, first, forward=prep.forward, device=prep.device, outputs=outputs
            )
            objective.describe_units(infos)
    return objective


def run_pass(
    prep: Prepared,
    objective: Objective,
    *,
    ex: torch.Tensor | None = None,
    values: torch.Tensor | None = None,
    grad: bool = True,
    batch: Batch | None = None,
) -> Pass:
    """Run the model on rows ``ex`` of the batch (all of it when ``None``).

    ``values`` replaces the site's value for these rows (path points, noisy copies);
    ``None`` keeps its natural value. With ``grad`` the site's value is a leaf that
    requires grad and the pass builds a graph; otherwise it runs under ``no_grad``.
    ``batch`` replaces the prepared batch (a baseline given in input space).
    """
    source = prep.batch if batch is None else batch
    site = prep.site
    if ex is None or (site.layer is None and site.key is None and values is not None):
        rows_batch = source  # the whole batch, or a tensor that ``values`` replaces
    else:
        rows_batch = gather(source, ex, prep.n)
    held: list[torch.Tensor] = []
    recorded: dict[str, Any] = {}
    with Hooks() as hooks:  # thread-bound: the explorer's own passes are not rewired
        if site.layer is None:
            leaf = pick(rows_batch, site.key) if values is None else values
            leaf = leaf.detach()
            if grad:
                leaf.requires_grad_()
            held.append(leaf)
            rows_batch = replace_input(rows_batch, site.key, leaf)
        else:
            _site_hook(hooks, prep.model, site.layer, values, grad, held)
        for name in objective.layers:
            _record_hook(hooks, prep.model, name, recorded)
        with torch.enable_grad() if grad else torch.no_grad():
            output = run_forward(prep.model, rows_batch, prep.forward, what="the inputs")
    if not held:
        raise LayerOutputError(
            f"Layer {site.layer!r} did not run during the forward pass; pick a layer the "
            "model uses for these inputs."
        )
    for name in objective.layers:
        if name not in recorded:
            raise LayerOutputError(
                f"Layer {name!r} did not run during the forward pass, so its unit cannot "
                "be a target; check that the model uses it for these inputs."
            )
    objective.resolve(output, rows_batch)
    with torch.enable_grad() if grad else torch.no_grad():
        scores = objective(output, recorded, rows_batch, ex, held[0].shape[0])
    return Pass(output, held[0], scores, recorded)


def gradient_pass(prep: Prepared, objective: Objective) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over the whole batch: (d target / d site, the site's value)."""
    result = run_pass(prep, objective)
    return grad_of(result.scores, result.leaf), result.leaf.detach()


def clean_value(
    prep: Prepared, objective: Objective, *, need_pass: bool = False
) -> tuple[torch.Tensor, Pass | None]:
    """The site's value at the clean inputs, and the pass that found it when one ran.

    A pass runs when the site is a layer (its value is known only by running the model),
    when the target must be resolved at the clean inputs (the top prediction), or when
    the caller needs the clean scores (``need_pass``).
    """
    result = None
    if need_pass or objective.needs_resolve or prep.site.layer is not None:
        result = run_pass(prep, objective, grad=False)
    return (prep.x if result is None else result.leaf), result


def accumulator(x: torch.Tensor) -> torch.Tensor:
    """Zeros shaped like ``x``, in at least float32, to sum gradients into."""
    return torch.zeros(x.shape, dtype=float_result(x[:0]).dtype, device=x.device)


def rows_grad(
    prep: Prepared,
    objective: Objective,
    values: torch.Tensor,
    ex: torch.Tensor | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    """d target / d site for rows ``ex`` of the batch with the site set to ``values``."""
    result = run_pass(prep, objective, ex=ex, values=values)
    return grad_of(result.scores, result.leaf).to(dtype)


def grad_of(scores: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """d(sum of scores)/d(leaf), without touching any parameter's ``.grad``."""
    if not scores.requires_grad:
        raise ActscopeError(_NO_PATH)
    (grad,) = torch.autograd.grad(scores.sum(), leaf, allow_unused=True)
    if grad is None:
        raise ActscopeError(_NO_PATH)
    return grad


_NO_PATH = (
    "The target does not depend on the attributed tensor (is the target a unit of a layer "
    "that runs before the attributed layer?): pick a later layer for the target."
)


def blocks(
    n_examples: int, n_points: int, batch_size: int | None
) -> Iterator[tuple[int, int, int, int]]:
    """``(e0, e1, p0, p1)`` blocks of examples × points with at most ``batch_size`` rows."""
    if batch_size is not None and batch_size < 1:
        raise ActscopeError(f"internal_batch_size must be at least 1, not {batch_size}.")
    size = n_examples * n_points if batch_size is None else batch_size
    per_examples = min(n_examples, size)
    per_points = max(1, size // per_examples)
    for e0 in range(0, n_examples, per_examples):
        for p0 in range(0, n_points, per_points):
            yield e0, min(e0 + per_examples, n_examples), p0, min(p0 + per_points, n_points)


def finish(prep: Prepared, attr: torch.Tensor, sum_embeddings: bool) -> torch.Tensor:
    """Token sites: one score per token, the sum over the embedding axis of ``(N, T, D)``."""
    if prep.site.tokens and sum_embeddings and attr.ndim == 3:
        return attr.sum(dim=-1)
    return attr


def float_result(t: torch.Tensor) -> torch.Tensor:
    """At least float32 (a half-precision model's attributions are accumulated in float32)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def find_embeddings(model: nn.Module) -> str:
    """The name of the model's token-embedding layer."""
    module = None
    getter = getattr(model, "get_input_embeddings", None)
    if callable(getter):
        try:
            module = getter()
        except (NotImplementedError, AttributeError):
            module = None
    names: dict[int, str] = {id(m): str(name) for name, m in model.named_modules() if name}
    if module is not None and id(module) in names:
        return names[id(module)]
    embeds = [str(name) for name, m in model.named_modules() if isinstance(m, nn.Embedding)]
    if len(embeds) == 1:
        return embeds[0]
    raise InputError(
        "The inputs are token ids, so attributions go to the token embeddings, but "
        + (
            f"the model has several embedding layers ({', '.join(embeds)})"
            if embeds
            else "the model has no nn.Embedding layer"
        )
        + ": name the layer with embeddings='...'."
    )


# -- hooks --------------------------------------------------------------------------------------


def _module(model: nn.Module, name: str) -> tuple[nn.Module, int]:
    base, call = split_call(name)
    return resolve_modules(model, [base])[base], call


def _site_hook(
    hooks: Hooks,
    model: nn.Module,
    name: str,
    values: torch.Tensor | None,
    grad: bool,
    held: list[torch.Tensor],
) -> None:
    """Replace the output of call k of a layer by a leaf (``values``, or its own output)."""
    module, call = _module(model, name)
    seen = [0]

    def hook(_module: nn.Module, _args: Any, output: Any) -> Any:
        k = seen[0]
        seen[0] += 1
        if k != call:
            return None
        if not isinstance(output, torch.Tensor):
            raise LayerOutputError(
                f"Layer {name!r} returns {type(output).__name__}, not a tensor: attribute to a "
                "layer whose output is one tensor."
            )
        if values is not None and values.shape != output.shape:
            raise InputError(
                f"Layer {name!r} gives shape {tuple(output.shape)} but the values to put there "
                f"(a baseline?) have shape {tuple(values.shape)}."
            )
        leaf = (output if values is None else values).detach()
        if grad:
            leaf.requires_grad_()
        held.append(leaf)
        # A copy, so that an in-place module after this layer cannot change the leaf.
        return leaf.clone()

    hooks.forward(module, hook, prepend=True)


def _record_hook(hooks: Hooks, model: nn.Module, name: str, recorded: dict[str, Any]) -> None:
    module, call = _module(model, name)
    seen = [0]

    def hook(_module: nn.Module, _args: Any, output: Any) -> None:
        if seen[0] == call:
            recorded[name] = output
        seen[0] += 1

    hooks.forward(module, hook)


@contextmanager
def autograd(model: Any) -> Iterator[None]:
    """Autograd available, even inside the caller's ``no_grad`` or ``inference_mode``, and
    ``model``'s buffers restored once the gradients are taken (not between the forward pass
    and the backward pass, whose graph may hold them)."""
    with torch.inference_mode(False), torch.enable_grad(), buffers_kept(unwrap(model)):
        yield


def _warn_if_training(model: nn.Module) -> None:
    """Warn when a module that behaves differently in training (dropout, batch norm) is in it."""
    random = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)
    moody = next((m for m in model.modules() if m.training and isinstance(m, random)), None)
    if moody is not None:
        warnings.warn(
            f"{type(model).__name__} is in training mode (it has a {type(moody).__name__} "
            "in training mode): dropout and batch norm make saliency maps random. Call "
            "model.eval() first (actscope leaves the mode as it finds it).",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )


def _user_stacklevel() -> int:
    """The stack level of the first frame outside actscope (for warnings)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("actscope."):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
