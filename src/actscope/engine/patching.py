"""Activation patching: the metric on the corrupted run, with the clean run's activation
patched in at one (layer, position) — or (layer, position, head) — at a time.

:func:`patching_sweep` runs the clean inputs once, recording each layer's activation, then
runs the corrupted inputs with one *patch* per copy: the corrupted batch is repeated ``k``
times along the batch axis and copy ``j`` gets patch ``j`` (its position, its head), so one
forward pass evaluates ``k`` patches; ``k`` is ``batch_size=``, or as many as fit in
``memory=`` bytes by an estimate from the clean run. When the model is a simple stack of
blocks (:mod:`.prefix`), a patch inside block ``b`` runs only blocks ``b`` onwards from the
corrupted run's recorded inputs; anything else runs whole forward passes.

What is patched at a layer: its output (``site="output"``, the default), or the first
positional input of the module (``site="input"``: a block's input is the residual stream
before it, TransformerLens' ``resid_pre``). With ``heads=True`` the layer is an attention
module and each head is patched separately: the per-head slice of the input of its output
projection (``c_proj``, ``o_proj``, ``out_proj``, ``dense`` or ``o``: the heads' merged
outputs, TransformerLens' ``z``), or a layer whose output is already ``(N, T, heads, d_head)``
(TransformerLens' ``hook_z``). Positions are those of :mod:`.selection` (tokens for a
sequence, flat ``y * W + x`` for an image map); for heads, the token axis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import nn

from .batch import move, rows
from .effects import Metric, as_batch, checked_metric, top_logprob
from .errors import InputError
from .forward import ForwardFn, run_forward
from .hooks import Hooks
from .inputs import model_float_dtype, resolve_device
from .interventions import active_edits
from .lm import logits_of
from .names import split_call, unwrap
from .prefix import Prefix, block_of, find_blocks
from .preserve import buffers_kept
from .sites import OUT_PROJECTIONS, Patch, Site, patcher, patches, site_of
from .suffix import Suffix, _start, cost, geometry, groups


def patching_sweep(
    model: Any,
    clean: Any,
    corrupted: Any,
    layers: str | Sequence[str],
    *,
    positions: Literal["each", "all"] | Sequence[int] = "each",
    metric: Metric | None = None,
    heads: bool = False,
    site: Literal["output", "input"] = "output",
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    batch_size: int | None = None,
    memory: int | None = None,
    reduce: Literal["mean", "none"] = "mean",
    reuse_prefix: bool = True,
) -> torch.Tensor:
    """The metric on the corrupted inputs with the clean activation patched in at each
    (layer, position), one patch at a time: the activation-patching figure.

    Args:
        model: any ``torch.nn.Module``; it is left as found.
        clean, corrupted: batches (or inputs with ``tokenizer``) of the same shape.
        layers: the layers to patch, e.g. a model's blocks with ``site="input"``.
        positions: ``"each"`` (one patch per position), ``"all"`` (the whole layer at once),
            or a list of positions.
        metric: ``metric(logits) → (N,)`` on each patched run's logits (see :mod:`.effects`;
            :func:`~actscope.engine.effects.logit_diff` makes the common one). Default: the
            log-probability of the clean run's top prediction (a causal LM's top next token
            after the last position, a classifier's top class).
        heads: patch each attention head of the (attention) layers separately.
        site: ``"output"`` of each layer, or its ``"input"`` (a block's residual stream in).
        batch_size: patches evaluated per forward pass; by default as many as fit in
            ``memory`` bytes (default: half the free GPU memory, 1 GiB on a CPU).
        reduce: ``"mean"`` over the examples, or ``"none"`` to keep them as a last axis.
        reuse_prefix: start patched runs at the patched layer's block when the model is a
            simple stack of blocks (checked against the model's own output).

    Returns:
        ``(layers, positions)``, ``(layers, positions, heads)`` with ``heads=True``, and
        ``(layers,)`` / ``(layers, heads)`` for ``positions="all"``; layers with fewer
        positions than others are padded with NaN.

    Example::

        blocks = [f"transformer.h.{i}" for i in range(12)]
        grid = actscope.patching_sweep(model, clean_ids, corrupt_ids, blocks, site="input",
                                       metric=actscope.logit_diff(paris, rome))
    """
    model = unwrap(model)
    if reduce not in ("mean", "none"):
        raise InputError(f"reduce is 'mean' or 'none', not {reduce!r}.")
    if site not in ("output", "input") or (heads and site != "output"):
        raise InputError(
            f"site is 'output' or 'input' (and 'output' with heads=True), not {site!r}."
        )
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise InputError("patching_sweep needs at least one layer.")
    sites = [site_of(model, name, site, heads) for name in names]
    dev = resolve_device(model, device)
    dtype = model_float_dtype(model)
    clean_b = move(as_batch(clean, tokenizer), dev, dtype)
    corrupt_b = move(as_batch(corrupted, tokenizer), dev, dtype)
    with torch.no_grad(), buffers_kept(model):
        clean_logits = _record_clean(model, clean_b, forward, sites)
        n = int(clean_logits.shape[0])
        fn = metric if metric is not None else top_logprob(clean_logits, clean_b)
        plans = [patches(s, positions, heads) for s in sites]
        blocks = find_blocks(model)
        most = max(len(p) for p in plans)
        k = _fit(sites, clean_logits, most, len(blocks), memory, dev)
        k = k if batch_size is None else batch_size
        if k < 1:
            raise InputError(f"batch_size must be at least 1, not {batch_size}.")
        prefix = _prefix(model, corrupt_b, forward, sites, blocks, n) if reuse_prefix else None
        suffix = _suffix(model, prefix, sites, plans, k)
        values = [
            _run_site(model, corrupt_b, forward, s, plan, n, k, fn, prefix, suffix)
            for s, plan in zip(sites, plans, strict=True)
        ]
    return _assemble(values, sites, positions, heads, n, reduce)


def _record_clean(
    model: nn.Module, batch: Any, forward: ForwardFn | None, sites: list[Site]
) -> torch.Tensor:
    def keep(s: Site) -> Callable[[torch.Tensor], None]:
        def fn(x: torch.Tensor) -> None:
            s.clean = x.detach().clone()

        return fn

    with Hooks() as hooks:
        for s in sites:
            s.hook(hooks, keep(s))
        logits = logits_of(run_forward(model, batch, forward, what="the clean inputs"))
    for s in sites:
        if s.clean is None:
            raise InputError(
                f"Layer {s.layer!r} did not run on the clean inputs; pick one the model uses."
            )
        if s.head_axis and s.clean.ndim != 4:
            raise InputError(
                f"heads=True patches attention heads: {s.layer!r} has no output projection "
                f"({', '.join(OUT_PROJECTIONS)}) and outputs {tuple(s.clean.shape)}, not "
                "(N, T, heads, d_head). Pass attention modules (e.g. 'transformer.h.0.attn') "
                "or TransformerLens' hook_z."
            )
        if s.heads and s.clean.shape[-1] % s.heads:
            raise InputError(
                f"{s.layer!r}: {s.clean.shape[-1]} features do not split into {s.heads} heads."
            )
    return logits.detach()


def _fit(
    sites: list[Site],
    logits: torch.Tensor,
    most: int,
    depth: int,
    memory: int | None,
    dev: torch.device,
) -> int:
    """Patches per pass that fit in ``memory`` bytes, by a rough estimate per copy of the
    batch: the logits and their softmax, and a dozen activations the size of the widest
    patched one per block of the model (8 blocks when there are none)."""
    if memory is None:
        on_gpu = dev.type == "cuda"
        memory = int(torch.cuda.mem_get_info(dev)[0] // 2) if on_gpu else 1 << 30
    widest = max(s.clean.numel() * s.clean.element_size() for s in sites if s.clean is not None)
    per_copy = 3 * logits.numel() * 4 + 12 * widest * (depth or 8)
    return max(1, min(most, 256, memory // max(per_copy, 1)))


def _prefix(
    model: nn.Module,
    batch: Any,
    forward: ForwardFn | None,
    sites: list[Site],
    blocks: list[str],
    n: int,
) -> Prefix | None:
    if any(split_call(e.layer)[1] for e in active_edits(model)):
        return None  # edits on later calls count calls per whole forward pass
    if not blocks:
        return None
    for s in sites:
        s.block = block_of(model, s.module, blocks) if s.call == 0 else None
    starts = [s.block for s in sites if s.block is not None]
    if not starts:
        return None
    return Prefix.build(model, batch, forward, min(starts), blocks, n)


def _suffix(
    model: nn.Module, prefix: Prefix | None, sites: list[Site], plans: list[list[Patch]], k: int
) -> Suffix | None:
    """Later positions alone (:mod:`.suffix`) when patches are at single positions of a
    causal model's blocks, no edit is active (its positions count from 0), and the rows
    it saves outweigh the two passes that check it."""
    if prefix is None or prefix.base is None or active_edits(model):
        return None
    starts = [s.block for s in sites if s.block is not None]
    if not starts:
        return None
    start, depth = min(starts), len(prefix.blocks)
    length, fixed = geometry(prefix, start)
    saved = 0
    for s, plan in zip(sites, plans, strict=True):
        if s.block is None or not length:
            continue
        ordered = sorted(plan, key=lambda patch: patch[0] or 0)  # as the runs take them
        for i in range(0, len(ordered), k):
            chunk = ordered[i : i + k]
            split = groups(chunk, length, fixed)
            saved += (depth - s.block) * (cost([chunk], length, fixed) - cost(split, length, fixed))
    if saved <= (depth - start) * 2 * (length + fixed):
        return None
    return Suffix.build(prefix, start, prefix.base)


def _repeat(batch: Any, k: int, n: int) -> Any:
    """The batch repeated ``k`` times along the batch axis (row ``j * n + i`` is example ``i``)."""
    if k == 1:
        return batch
    return rows(batch, torch.arange(k * n) % n, n)


def _run_site(
    model: nn.Module,
    batch: Any,
    forward: ForwardFn | None,
    s: Site,
    plan: list[Patch],
    n: int,
    k: int,
    metric: Metric,
    prefix: Prefix | None,
    suffix: Suffix | None = None,
) -> torch.Tensor:
    """``(patches, n)``: the metric for each patch of one layer."""
    out = []
    use_prefix = prefix is not None and s.block is not None
    block = s.block or 0
    reads = getattr(metric, "positions_read", None)  # the one position per example it reads
    if reads is not None:
        reads = torch.as_tensor(reads).reshape(-1).expand(n)
    assert s.clean is not None
    later = (
        suffix
        if use_prefix
        and suffix is not None
        and s.grid() == (suffix.length,)
        and s.clean.ndim in (3, 4)
        and s.clean.shape[1] == suffix.length
        else None
    )
    first = 0  # the first position the metric reads: runs start there at the latest
    fixed = geometry(later.prefix, block)[1] if later is not None else 0
    if later is not None:
        first = later.length if reads is None else int((reads % later.length).min())
    if later is not None:  # in position order, so that runs start late (then put back)
        order = sorted(range(len(plan)), key=lambda i: plan[i][0] or 0)
        plan = [plan[i] for i in order]
    for start in range(0, len(plan), k):
        chunk = plan[start : start + k]
        for group in groups(chunk, later.length, fixed) if later else [chunk]:
            size = len(group)
            a = min(_start(group), first) if later else 0
            with Hooks() as hooks:
                s.hook(hooks, patcher(s, group, n, a))
                if a:
                    assert later is not None
                    logits = later.run(block, size, a, reads)
                elif use_prefix:
                    assert prefix is not None
                    logits = prefix.run(block, size, reads)
                else:
                    logits = logits_of(
                        run_forward(
                            model, _repeat(batch, size, n), forward, what="the corrupted inputs"
                        )
                    )
            out += _metrics(metric, logits, size, n)
    if later is not None:
        out = [out[i] for i in sorted(range(len(order)), key=order.__getitem__)]
    return torch.stack(out)


def _metrics(metric: Metric, logits: torch.Tensor, copies: int, n: int) -> list[torch.Tensor]:
    """The metric of each copy of the batch in ``logits``: at once when the metric says
    how (``tiled``, :mod:`.effects`), else copy by copy."""
    tiled = getattr(metric, "tiled", None)
    if tiled is not None and copies > 1:
        return list(checked_metric(tiled(copies)(logits), "metric", logits).view(copies, n))
    return [
        checked_metric(metric(logits[j * n : (j + 1) * n]), "metric", logits[:n])
        for j in range(copies)
    ]


def _assemble(
    values: list[torch.Tensor], sites: list[Site], positions: Any, heads: bool, n: int, reduce: str
) -> torch.Tensor:
    shaped = []
    counts = []
    for v, s in zip(values, sites, strict=True):
        h = [s.n_heads()] if heads else []
        p = [] if positions == "all" else [v.shape[0] // (h[0] if h else 1)]
        counts.append(p[0] if p else 0)
        shaped.append(v.reshape(*p, *h, n))
    if positions != "all":
        most = max(counts)
        shaped = [
            torch.cat([t, t.new_full((most - t.shape[0], *t.shape[1:]), float("nan"))])
            if t.shape[0] < most
            else t
            for t in shaped
        ]
    out = torch.stack(shaped)
    return out if reduce == "none" else out.mean(-1)
