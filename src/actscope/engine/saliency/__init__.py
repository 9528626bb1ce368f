"""Saliency: which parts of an input drive an output or a neuron.

``actscope.saliency(model, inputs, method=..., target=...)`` runs one of five methods, each
in its own file, all batched on the model's device:

===================== ============================================= ====================
method                what                                          reference
===================== ============================================= ====================
gradient              d target / d input (signed or absolute)       Captum ``Saliency``
input_x_gradient      input × gradient                              ``InputXGradient``
integrated_gradients  gradients along a path from a baseline        ``IntegratedGradients``
smoothgrad            gradients averaged over noisy copies          ``NoiseTunnel``
grad_cam              a layer's maps weighted by their gradients    ``LayerGradCam``,
                                                                    pytorch-grad-cam
===================== ============================================= ====================

Targets (``target=``) are an output index (default: the top prediction of each example),
a unit of any layer (``Unit("encoder.layer.3.intermediate", 1187)`` or the tuple
``("encoder.layer.3.intermediate", 1187)``), or a callable on the output; see
:mod:`actscope.engine.saliency._targets` for how a unit's positions are reduced.

Token inputs (strings with ``tokenizer=``, or batches of integer ids) are attributed at the
token-embedding layer's output (``model.get_input_embeddings()``, or the model's only
``nn.Embedding``, or ``embeddings=``) and summed over the embedding axis: one score per
token, as Captum's ``LayerIntegratedGradients`` on that layer followed by ``.sum(-1)``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Literal, overload

import torch
from torch import nn

from ..errors import ActscopeError, closest
from ..lenses import register as register_lenses
from ._next_token import NextToken
from ._targets import TargetLike, Unit
from .grad_cam import grad_cam
from .gradient import gradient
from .input_x_gradient import input_x_gradient
from .integrated_gradients import RULES, integrated_gradients
from .smoothgrad import VARIANTS, smoothgrad

METHODS: dict[str, Callable[..., Any]] = {
    "gradient": gradient,
    "input_x_gradient": input_x_gradient,
    "integrated_gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "grad_cam": grad_cam,
}
"""The methods by name."""

__all__ = [
    "METHODS",
    "RULES",
    "VARIANTS",
    "NextToken",
    "Unit",
    "grad_cam",
    "gradient",
    "input_x_gradient",
    "integrated_gradients",
    "saliency",
    "smoothgrad",
]


@functools.cache
def _options(method: str) -> list[str]:
    """The keyword options a method takes."""
    skip = ("model", "inputs", "target")
    return [p for p in inspect.signature(METHODS[method]).parameters if p not in skip]


@overload
def saliency(
    model: nn.Module,
    inputs: Any,
    method: str = ...,
    target: TargetLike = ...,
    *,
    return_delta: Literal[True],
    **options: Any,
) -> tuple[torch.Tensor, torch.Tensor]: ...
@overload
def saliency(
    model: nn.Module,
    inputs: Any,
    method: str = ...,
    target: TargetLike = ...,
    **options: Any,
) -> torch.Tensor: ...
def saliency(
    model: nn.Module,
    inputs: Any,
    method: str = "integrated_gradients",
    target: TargetLike = None,
    **options: Any,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attributions of ``target`` to the inputs, by ``method``.

    Args:
        model: any ``torch.nn.Module``. It is left exactly as found: no hook, ``.grad``,
            ``requires_grad`` flag or train/eval mode changes, whatever happens. Put it in
            ``eval()`` mode first (a warning says so otherwise).
        inputs: an image or other batch tensor ``(N, ...)``, a list of tensors, a list of
            strings with ``tokenizer``, a list of dicts of tensors, or one ready batch
            dict (e.g. ``tokenizer(texts, padding=True, return_tensors="pt")``). All inputs
            run as one batch (texts are padded).
        method: ``"gradient"``, ``"input_x_gradient"``, ``"integrated_gradients"``,
            ``"smoothgrad"`` or ``"grad_cam"``.
        target: what to explain, one number per example:

            - ``None``: the top prediction (argmax of the output) of each example;
            - an ``int`` class or logit, a list / 1-D tensor of one per example, or a
              tuple of ints for outputs with several axes per example;
            - ``Unit(layer, unit)`` or ``(layer, unit)``: a unit of any layer, its value
              at each position reduced by ``Unit.reduce`` (default ``"max"``);
            - a callable ``f(output) -> (N,)`` tensor.
        **options: the method's own options (``absolute``, ``baseline``, ``n_steps``,
            ``rule``, ``internal_batch_size``, ``return_delta``, ``n_samples``,
            ``stdev``, ``seed``, ``noise``, ``layer``, ``normalize``...; see each method)
            and these shared ones:

            - ``tokenizer``: a Hugging Face tokenizer, for string inputs;
            - ``forward``: ``forward(model, batch)``, how a batch is fed (default
              ``model(**batch)`` for dicts, ``model(batch)`` for tensors);
            - ``device``: ``"auto"`` (the model's device); actscope never moves a model;
            - ``embeddings``: the layer whose output token inputs are attributed to
              (default ``model.get_input_embeddings()``); any layer name works;
            - ``input_key``: which tensor of a batch dict to attribute to;
            - ``lenses``: :class:`~actscope.Lens` objects, so that a target can be a
              feature: ``Unit("<layer>/<name>", feature)``;
            - ``sum_embeddings``: sum the attributions to a ``(N, T, D)`` layer output
              over its embedding axis, one score per token (default ``True``; ``False``
              keeps ``(N, T, D)``).

    Returns:
        A tensor on the model's device, float32 (or float64 for float64 models):
        shaped like the input ``(N, ...)`` for the gradient methods, ``(N, T)`` for token
        inputs, ``(N, H, W)`` for ``grad_cam`` on images. ``integrated_gradients`` with
        ``return_delta=True`` returns ``(attributions, delta)``, ``delta`` of shape ``(N,)``.

    Example::

        maps = actscope.saliency(model, images, method="grad_cam", layer="features.conv4")
        scores = actscope.saliency(bert, ["The cat sat."], tokenizer=tok,
                                   target=("encoder.layer.3.intermediate", 1187))
    """
    register_lenses(model, options.pop("lenses", None))
    fn = METHODS.get(method) if isinstance(method, str) else None
    if fn is None:
        hint = closest(str(method), METHODS)
        raise ActscopeError(
            f"Unknown saliency method {method!r}."
            + (f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else "")
            + f" Methods: {', '.join(METHODS)}."
        )
    allowed = _options(method)
    for option in options:
        if option not in allowed:
            hint = closest(option, allowed)
            raise ActscopeError(
                f"{method} has no option {option!r}."
                + (f" Did you mean {hint[0]!r}?" if hint else "")
                + f" Its options: {', '.join(allowed)}."
            )
    result: torch.Tensor | tuple[torch.Tensor, torch.Tensor] = fn(
        model, inputs, target=target, **options
    )
    return result
