"""Gradient saliency (Simonyan et al., 2014): how much each input value moves the target.

The map is d target / d input at the input itself: one forward and one backward pass for
the whole batch. Signed by default; ``absolute=True`` gives the magnitude, as Captum's
``Saliency`` (whose default is ``abs=True``) and the original paper show it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..forward import ForwardFn
from ._common import autograd, begin, finish, float_result, gradient_pass
from ._targets import TargetLike


def gradient(
    model: nn.Module,
    inputs: Any,
    *,
    target: TargetLike = None,
    absolute: bool = False,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    embeddings: str | None = None,
    input_key: str | int | None = None,
    sum_embeddings: bool = True,
) -> torch.Tensor:
    """The gradient of the target with respect to each input value.

    Args:
        model: any ``torch.nn.Module``; left exactly as found (mode, hooks, ``.grad``).
        inputs: an image or other batch tensor ``(N, ...)``, a list of tensors, strings
            with ``tokenizer``, a list of dicts of tensors, or one ready batch dict.
        target: the scalar per example to explain: ``None`` (the top prediction), an
            output index, a :class:`Unit` of a layer, or a callable on the output (see
            :func:`actscope.saliency`).
        absolute: return ``|gradient|`` instead of the signed gradient.
        tokenizer, forward, device, embeddings, input_key, sum_embeddings: as in
            :func:`actscope.saliency`.

    Returns:
        A tensor shaped like the attributed input ``(N, ...)``; for token inputs one
        score per token ``(N, T)``: the gradient with respect to the token embeddings
        (``|gradient|`` with ``absolute``), summed over the embedding axis.

    Example::

        maps = gradient(model, images, target=labels, absolute=True)   # (N, C, H, W)
    """
    with autograd(model):
        prep, objective = begin(
            model,
            inputs,
            target,
            tokenizer=tokenizer,
            forward=forward,
            device=device,
            embeddings=embeddings,
            input_key=input_key,
        )
        grad, _ = gradient_pass(prep, objective)
        if absolute:
            grad = grad.abs()
        return float_result(finish(prep, grad, sum_embeddings))
