"""Input × gradient (Shrikumar et al., 2016): the gradient scaled by the input itself.

For a linear model this is each input's exact contribution to the output; for a deep one it
is a first-order estimate, cheap (one forward and one backward pass) and sharper than the
plain gradient. Matches Captum's ``InputXGradient``; for token inputs it matches
``LayerGradientXActivation`` on the embedding layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..forward import ForwardFn
from ._common import autograd, begin, finish, float_result, gradient_pass
from ._targets import TargetLike


def input_x_gradient(
    model: nn.Module,
    inputs: Any,
    *,
    target: TargetLike = None,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    embeddings: str | None = None,
    input_key: str | int | None = None,
    sum_embeddings: bool = True,
) -> torch.Tensor:
    """The input times the gradient of the target with respect to it.

    Args:
        model: any ``torch.nn.Module``; left exactly as found (mode, hooks, ``.grad``).
        inputs: an image or other batch tensor ``(N, ...)``, a list of tensors, strings
            with ``tokenizer``, a list of dicts of tensors, or one ready batch dict.
        target: the scalar per example to explain: ``None`` (the top prediction), an
            output index, a :class:`Unit` of a layer, or a callable on the output (see
            :func:`actscope.saliency`).
        tokenizer, forward, device, embeddings, input_key, sum_embeddings: as in
            :func:`actscope.saliency`.

    Returns:
        A tensor shaped like the attributed input ``(N, ...)``; for token inputs one score
        per token ``(N, T)``: embedding × gradient summed over the embedding axis.

    Example::

        scores = input_x_gradient(bert, ["a fine day"], tokenizer=tok,
                                  target=lambda out: out.pooler_output[:, 0])   # (1, T)
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
        grad, value = gradient_pass(prep, objective)
        return float_result(finish(prep, grad * value, sum_embeddings))
