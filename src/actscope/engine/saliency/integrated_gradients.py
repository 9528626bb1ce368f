"""Integrated gradients (Sundararajan et al., 2017): gradients summed along a straight path.

The attribution of input value i is (x_i − b_i) × ∫₀¹ ∂F(b + α(x − b))/∂x_i dα, from a
baseline b (zeros by default) to the input x. It is *complete*: the attributions of one
example add up to F(x) − F(b). The integral is a quadrature over ``n_steps`` points of the
path: Gauss–Legendre (the default, as in Captum) or a Riemann sum (left, right, middle,
trapezoid). Captum's rule names are kept so settings carry over.

All path points of all examples are one batch of rows, step-major as in Captum; with
``internal_batch_size`` they run in blocks of at most that many rows (a memory bound, for
large models or inputs). The weighted gradients are summed on the device, block by block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias, overload

import numpy as np
import torch
from torch import nn

from ..batch import move
from ..errors import ActscopeError, InputError, closest
from ..forward import ForwardFn
from ._batch import replace_input
from ._common import (
    Prepared,
    accumulator,
    autograd,
    begin,
    blocks,
    clean_value,
    finish,
    float_result,
    rows_grad,
    run_pass,
)
from ._targets import Objective, TargetLike

Rule: TypeAlias = Literal[
    "gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"
]
RULES: tuple[str, ...] = (
    "gausslegendre",
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "riemann_trapezoid",
)
BaselineLike: TypeAlias = float | torch.Tensor | Mapping[str, Any] | None


@overload
def integrated_gradients(
    model: nn.Module,
    inputs: Any,
    *,
    target: TargetLike = ...,
    baseline: BaselineLike = ...,
    n_steps: int = ...,
    rule: Rule = ...,
    internal_batch_size: int | None = ...,
    return_delta: Literal[False] = ...,
    tokenizer: Any = ...,
    forward: ForwardFn | None = ...,
    device: str | torch.device = ...,
    embeddings: str | None = ...,
    input_key: str | int | None = ...,
    sum_embeddings: bool = ...,
) -> torch.Tensor: ...
@overload
def integrated_gradients(
    model: nn.Module,
    inputs: Any,
    *,
    target: TargetLike = ...,
    baseline: BaselineLike = ...,
    n_steps: int = ...,
    rule: Rule = ...,
    internal_batch_size: int | None = ...,
    return_delta: Literal[True],
    tokenizer: Any = ...,
    forward: ForwardFn | None = ...,
    device: str | torch.device = ...,
    embeddings: str | None = ...,
    input_key: str | int | None = ...,
    sum_embeddings: bool = ...,
) -> tuple[torch.Tensor, torch.Tensor]: ...
def integrated_gradients(
    model: nn.Module,
    inputs: Any,
    *,
    target: TargetLike = None,
    baseline: BaselineLike = None,
    n_steps: int = 50,
    rule: Rule = "gausslegendre",
    internal_batch_size: int | None = None,
    return_delta: bool = False,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    embeddings: str | None = None,
    input_key: str | int | None = None,
    sum_embeddings: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Integrated gradients of the target from ``baseline`` to the inputs.

    Args:
        model: any ``torch.nn.Module``; left exactly as found (mode, hooks, ``.grad``).
        inputs: an image or other batch tensor ``(N, ...)``, a list of tensors, strings
            with ``tokenizer``, a list of dicts of tensors, or one ready batch dict.
        target: the scalar per example to explain (see :func:`actscope.saliency`); the
            default, the top prediction, is taken at the inputs, not along the path.
        baseline: where the path starts. For an input tensor: ``None`` (zeros), a number,
            or a tensor broadcastable to the inputs. For token inputs (attributed at the
            embedding layer): ``None`` or a number (a constant embedding, zeros by
            default), a float tensor broadcastable to the layer's output, an integer tensor
            of token ids broadcastable to ``input_ids`` (e.g. ``torch.tensor(pad_id)``), or
            a batch dict; ids and batches are run through the model to get the layer's
            baseline output, as Captum's ``LayerIntegratedGradients`` does.
        n_steps: points on the path.
        rule: ``"gausslegendre"``, ``"riemann_left"``, ``"riemann_right"``,
            ``"riemann_middle"`` or ``"riemann_trapezoid"`` (Captum's names).
        internal_batch_size: at most this many rows (path points × examples) per forward
            pass; ``None`` runs them all at once (fastest, most memory).
        return_delta: also return the completeness error per example,
            ``sum(attributions) − (F(x) − F(baseline))``, shape ``(N,)``.
        tokenizer, forward, device, embeddings, input_key, sum_embeddings: as in
            :func:`actscope.saliency`.

    Returns:
        Attributions shaped like the attributed input ``(N, ...)`` (one score per token,
        ``(N, T)``, for token inputs: summed over the embedding axis), or
        ``(attributions, delta)`` with ``return_delta=True``.

    Example::

        attr, delta = integrated_gradients(model, images, target=3, return_delta=True)
        assert delta.abs().max() < 1e-2
    """
    if rule not in RULES:
        hint = closest(str(rule), RULES)
        raise ActscopeError(
            f"Unknown integration rule {rule!r}."
            + (f" Did you mean {hint[0]!r}?" if hint else "")
            + f" Rules: {', '.join(RULES)}."
        )
    minimum = 1 if rule == "gausslegendre" else 2
    if not isinstance(n_steps, int) or n_steps < minimum:
        raise ActscopeError(f"n_steps must be an int of at least {minimum} for {rule!r}.")
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
        x, at_input = clean_value(prep, objective, need_pass=return_delta)
        start, start_scores = _baseline(prep, objective, baseline, x, return_delta)
        total = accumulator(x)
        alphas, weights = quadrature(rule, n_steps, x.device, total.dtype)
        diff = x - start
        shape = (1,) * x.ndim
        for e0, e1, s0, s1 in blocks(prep.n, n_steps, internal_batch_size):
            steps, count = s1 - s0, e1 - e0
            a = alphas[s0:s1].to(x.dtype).view(steps, *shape)
            values = (start[e0:e1].unsqueeze(0) + a * diff[e0:e1].unsqueeze(0)).reshape(
                steps * count, *x.shape[1:]
            )
            ex = None
            if not (steps == 1 and count == prep.n):
                ex = torch.arange(e0, e1, device=x.device).repeat(steps)
            grad = rows_grad(prep, objective, values, ex, total.dtype)
            weighted = grad.reshape(steps, count, -1) * weights[s0:s1].view(steps, 1, 1)
            total[e0:e1] += weighted.sum(dim=0).view(count, *x.shape[1:])
        attributions = total * diff
        out = float_result(finish(prep, attributions, sum_embeddings))
        if not return_delta:
            return out
        assert at_input is not None
        assert start_scores is not None
        change = at_input.scores.to(total.dtype) - start_scores.to(total.dtype)
        delta = attributions.reshape(prep.n, -1).sum(dim=1) - change
        return out, delta


def quadrature(
    rule: str, n_steps: int, device: torch.device, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Path points α in [0, 1] and their weights for ``rule``.

    In float32 these are Captum's numbers exactly (its Riemann points come from a float32
    ``linspace``); a float64 model gets them in float64.
    """
    wide = torch.float64 if dtype == torch.float64 else torch.float32
    if rule == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(n_steps)
        alphas = torch.tensor(0.5 * (1 + nodes), dtype=wide)
        weights = torch.tensor(0.5 * w, dtype=wide)
    else:
        kind = rule.removeprefix("riemann_")
        n = n_steps
        first, last = {
            "left": (0, 1 - 1 / n),
            "right": (1 / n, 1),
            "middle": (1 / (2 * n), 1 - 1 / (2 * n)),
            "trapezoid": (0, 1),
        }[kind]
        alphas = torch.linspace(first, last, n, dtype=wide)
        steps = [1 / n] * n
        if kind == "trapezoid":
            steps[0] /= 2
            steps[-1] /= 2
        weights = torch.tensor(steps, dtype=wide)
    return alphas.to(device), weights.to(device)


def _baseline(
    prep: Prepared,
    objective: Objective,
    baseline: BaselineLike,
    x: torch.Tensor,
    need_scores: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The path's start in the site's space, and the target there (when asked)."""
    site = prep.site
    in_input_space = isinstance(baseline, Mapping) or (
        isinstance(baseline, torch.Tensor) and not baseline.is_floating_point()
    )
    if site.layer is not None and in_input_space:
        if isinstance(baseline, Mapping):
            batch = move(dict(baseline), prep.device)
        else:
            assert isinstance(baseline, torch.Tensor)
            ids = prep.batch if site.ids_key is None else prep.batch[site.ids_key]
            try:
                new_ids = baseline.to(ids.device, ids.dtype).expand_as(ids)
            except RuntimeError:
                raise InputError(
                    f"The baseline token ids have shape {tuple(baseline.shape)}, which does "
                    f"not broadcast to the inputs' ids {tuple(ids.shape)}."
                ) from None
            batch = replace_input(prep.batch, site.ids_key, new_ids)
        result = run_pass(prep, objective, grad=False, batch=batch)
        return result.leaf, result.scores
    if isinstance(baseline, Mapping):
        raise InputError(
            "A batch dict as baseline works for token inputs (attributed at a layer); for an "
            "input tensor pass a number or a tensor."
        )
    if baseline is None or isinstance(baseline, int | float):
        start = torch.full_like(x, float(baseline or 0.0))
    elif isinstance(baseline, torch.Tensor):
        try:
            start = baseline.to(x.device, x.dtype).expand_as(x)
        except RuntimeError:
            raise InputError(
                f"The baseline has shape {tuple(baseline.shape)}, which does not broadcast to "
                f"the attributed tensor's shape {tuple(x.shape)}."
            ) from None
    else:
        raise InputError(
            f"Cannot use a baseline of type {type(baseline).__name__}: pass None, a number, "
            "or a tensor."
        )
    scores = None
    if need_scores:
        scores = run_pass(prep, objective, grad=False, values=start.contiguous()).scores
    return start, scores
