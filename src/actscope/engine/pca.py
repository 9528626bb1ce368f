"""Lenses fitted from data: :func:`pca`, the first principal directions of a layer.

The fit streams over the data once; the result is a :class:`~.lenses.Lens` like any other.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .batch import move
from .errors import InputError
from .forward import ForwardFn, run_forward
from .hooks import Hooks
from .inputs import InputSet, model_float_dtype, resolve_device
from .lenses import Lens
from .names import canonical, resolve_modules, unwrap
from .outputs import OutputSelector, select


def pca(
    model: Any,
    data: Any,
    layer: str,
    n: int,
    *,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    batch_size: int = 32,
    output: OutputSelector | None = None,
    name: str = "pca",
) -> Lens:
    """A lens of the first ``n`` principal directions of ``layer``'s activations over
    ``data`` (every position; padding left out), fitted in one streaming pass.

    The covariance is accumulated in float64 (``d × d``, whatever the data's size), so the
    directions equal those of ``torch.linalg.svd`` on the centred activations (up to
    sign; each direction's largest component is made positive). ``lens.explained`` holds
    each direction's fraction of the variance.
    """
    model = unwrap(model)
    base = canonical(model, layer)
    iset = InputSet.from_user(data, tokenizer=tokenizer)
    dev = resolve_device(model, device)
    module = resolve_modules(model, [base])[base]
    total: torch.Tensor | None = None
    outer: torch.Tensor | None = None
    count = 0.0
    axis = -1
    current: dict[str, Any] = {}

    def record(_m: nn.Module, _a: Any, out: Any) -> None:
        current.setdefault("x", select(out, output, base))

    for start in range(0, len(iset), max(batch_size, 1)):
        batch = iset.batch(range(start, min(start + batch_size, len(iset))))
        batch = move(batch, dev, model_float_dtype(model))
        current.clear()
        with torch.no_grad(), Hooks() as hooks:
            hooks.forward(module, record)
            run_forward(model, batch, forward, what="a batch of the data")
        x = current["x"]
        axis = 1 if x.ndim == 4 else -1
        flat = x.movedim(axis, -1).reshape(x.shape[0], -1, x.shape[axis]).double()
        mask = batch.get("attention_mask") if isinstance(batch, dict) else None
        weight = torch.ones(flat.shape[:2], dtype=torch.float64, device=flat.device)
        if isinstance(mask, torch.Tensor) and tuple(mask.shape) == tuple(flat.shape[:2]):
            weight = mask.to(flat.device, torch.float64)
        rows = flat[weight > 0]
        total = rows.sum(0) if total is None else total + rows.sum(0)
        outer = rows.T @ rows if outer is None else outer + rows.T @ rows
        count += float(rows.shape[0])
    if total is None or outer is None or count < 2:
        raise InputError("pca needs data with at least two positions.")
    d = total.shape[0]
    if not 1 <= n <= d:
        raise InputError(f"pca: n must be between 1 and {d} (the layer's width), got {n}.")
    mean = total / count
    cov = (outer - count * torch.outer(mean, mean)) / (count - 1)
    values, vectors = torch.linalg.eigh(cov)
    order = values.flip(0)[:n], vectors.flip(1)[:, :n].T
    top_values, directions = order
    signs = directions.gather(1, directions.abs().argmax(1, keepdim=True)).sign()
    directions = directions * signs
    lens = Lens.linear(base, directions.float(), center=mean.float(), name=name, axis=axis)
    lens.output = output
    lens.kind = "PCA"
    lens.explained = (top_values / values.clamp(min=0).sum()).float()
    return lens
