"""SmoothGrad (Smilkov et al., 2017): the gradient averaged over noisy copies of the input.

Each example is copied ``n_samples`` times with Gaussian noise of standard deviation
``stdev`` added, and the gradients of the copies are averaged; the noise washes out the
gradient's local jitter. ``variant="smoothgrad_sq"`` averages squared gradients and
``"vargrad"`` takes their variance (Adebayo et al., 2018), as Captum's ``NoiseTunnel``.

The noise is seeded (``seed=0`` by default, drawn on the model's device from a private
generator, so the global random state is left alone), or given outright with ``noise=`` —
the same tensor Captum's ``NoiseTunnel`` draws reproduces its result exactly. For token
inputs the noise is added to the token embeddings.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import torch
from torch import nn

from ..errors import ActscopeError, InputError
from ..forward import ForwardFn
from ._common import (
    accumulator,
    autograd,
    begin,
    blocks,
    clean_value,
    finish,
    float_result,
    rows_grad,
)
from ._targets import TargetLike

Variant: TypeAlias = Literal["smoothgrad", "smoothgrad_sq", "vargrad"]
VARIANTS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def smoothgrad(
    model: nn.Module,
    inputs: Any,
    *,
    target: TargetLike = None,
    n_samples: int | None = None,
    stdev: float = 0.15,
    seed: int | None = 0,
    noise: torch.Tensor | None = None,
    absolute: bool = False,
    variant: Variant = "smoothgrad",
    internal_batch_size: int | None = None,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    embeddings: str | None = None,
    input_key: str | int | None = None,
    sum_embeddings: bool = True,
) -> torch.Tensor:
    """The gradient of the target, averaged over noisy copies of each input.

    Args:
        model: any ``torch.nn.Module``; left exactly as found (mode, hooks, ``.grad``).
        inputs: an image or other batch tensor ``(N, ...)``, a list of tensors, strings
            with ``tokenizer``, a list of dicts of tensors, or one ready batch dict.
        target: the scalar per example to explain (see :func:`actscope.saliency`); the
            default, the top prediction, is taken at the clean inputs.
        n_samples: noisy copies per example (default 25; taken from ``noise`` if given).
        stdev: the noise's standard deviation, in the units of the attributed tensor
            (the SmoothGrad paper suggests 10–20% of the input's range).
        seed: seeds the noise; ``None`` draws from torch's global generator.
        noise: the noise itself, ``(N, n_samples, ...)`` or ``(N * n_samples, ...)`` with
            each example's samples together (Captum's ``NoiseTunnel`` layout); overrides
            ``stdev`` and ``seed``.
        absolute: average ``|gradient|`` (Captum's ``Saliency`` default) instead of the
            signed gradient.
        variant: ``"smoothgrad"`` (mean), ``"smoothgrad_sq"`` (mean of squares) or
            ``"vargrad"`` (variance).
        internal_batch_size: at most this many rows (copies × examples) per forward pass;
            ``None`` runs them all at once.
        tokenizer, forward, device, embeddings, input_key, sum_embeddings: as in
            :func:`actscope.saliency`.

    Returns:
        A tensor shaped like the attributed input ``(N, ...)``; for token inputs one score
        per token ``(N, T)``, summed over the embedding axis.

    Example::

        maps = smoothgrad(model, images, n_samples=50, stdev=0.1, absolute=True)
    """
    if variant not in VARIANTS:
        raise ActscopeError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}.")
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
        x, _ = clean_value(prep, objective)
        eps = _noise(noise, x, n_samples, stdev, seed)
        samples_total = eps.shape[1]
        total = accumulator(x)
        total_sq = torch.zeros_like(total) if variant != "smoothgrad" else None
        for e0, e1, s0, s1 in blocks(prep.n, samples_total, internal_batch_size):
            count, samples = e1 - e0, s1 - s0
            values = (x[e0:e1].unsqueeze(1) + eps[e0:e1, s0:s1]).reshape(
                count * samples, *x.shape[1:]
            )
            ex = None
            if not (samples == 1 and count == prep.n):
                ex = torch.arange(e0, e1, device=x.device).repeat_interleave(samples)
            grad = rows_grad(prep, objective, values, ex, total.dtype)
            if absolute:
                grad = grad.abs()
            grad = grad.view(count, samples, *x.shape[1:])
            total[e0:e1] += grad.sum(dim=1)
            if total_sq is not None:
                total_sq[e0:e1] += grad.pow(2).sum(dim=1)
        mean = total / samples_total
        if total_sq is None:
            smoothed = mean
        elif variant == "smoothgrad_sq":
            smoothed = total_sq / samples_total
        else:
            smoothed = total_sq / samples_total - mean * mean
        return float_result(finish(prep, smoothed, sum_embeddings))


def _noise(
    noise: torch.Tensor | None,
    x: torch.Tensor,
    n_samples: int | None,
    stdev: float,
    seed: int | None,
) -> torch.Tensor:
    """The noise as ``(N, S, ...)`` on ``x``'s device and dtype."""
    n, shape = x.shape[0], tuple(x.shape[1:])
    if noise is not None:
        if noise.ndim == x.ndim + 1 and tuple(noise.shape[2:]) == shape and noise.shape[0] == n:
            eps = noise
        elif noise.ndim == x.ndim and tuple(noise.shape[1:]) == shape and noise.shape[0] % n == 0:
            eps = noise.reshape(n, noise.shape[0] // n, *shape)
        else:
            raise InputError(
                f"noise has shape {tuple(noise.shape)}; for {n} inputs of shape {shape} it "
                f"must be ({n}, n_samples, {', '.join(map(str, shape))}) or "
                f"({n} * n_samples, {', '.join(map(str, shape))})."
            )
        if n_samples is not None and eps.shape[1] != n_samples:
            raise InputError(
                f"noise holds {eps.shape[1]} samples per input but n_samples={n_samples}."
            )
        return eps.to(x.device, x.dtype)
    count = 25 if n_samples is None else n_samples
    if count < 1:
        raise ActscopeError(f"n_samples must be at least 1, not {count}.")
    if stdev < 0:
        raise ActscopeError(f"stdev must be non-negative, not {stdev}.")
    generator = None
    if seed is not None:
        generator = torch.Generator(device=x.device).manual_seed(seed)
    eps = torch.randn((n, count, *shape), generator=generator, device=x.device, dtype=x.dtype)
    return eps * stdev
