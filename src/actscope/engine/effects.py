"""What an intervention does to the output: metrics on logits, before and after the edits.

A *metric* is any function ``metric(logits) → (N,)`` of the model's output logits (the
``.logits`` of a Hugging Face output, the output tensor itself, or its first tensor), one
number per example. :func:`effect` evaluates metrics on a clean run and on a run inside
:func:`~actscope.engine.interventions.intervene`; :func:`patching_sweep
<actscope.engine.patching.patching_sweep>` evaluates one on every patched run. A metric of a
causal LM's logits that reads one position per example may say which in a ``positions_read``
attribute (an int, or ``(N,)`` positions): patching then unembeds only those positions (the
others are left 0), which saves most of the work on a large vocabulary; the metrics made
here do. They also have a ``tiled(k)`` attribute, the same metric on ``k`` copies of the
batch one after another (``k * N`` rows), so that patching evaluates a pass's copies at once.

The defaults, for a classifier (logits ``(N, C)``): the clean run's top class's logit and
probability; for a causal LM (``(N, T, V)`` with token ids in the batch): the log-probability
of the last token of each input given the tokens before it, and the KL divergence
``KL(clean ‖ edited)`` of the next-token distribution after the last token. "Last" is the last
position the attention mask keeps. :func:`logit_diff` makes the common ``logit(correct) -
logit(wrong)`` metric.

:func:`unit_means` gives each unit's mean activation over a dataset, for mean-ablation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import torch

from .batch import move
from .capture import capture
from .errors import ActscopeError, InputError
from .forward import Batch, ForwardFn, run_forward
from .inputs import InputSet, model_float_dtype, resolve_device
from .interventions import Edit, intervene
from .lenses import register as register_lenses
from .lm import logits_of
from .names import unwrap
from .selection import Layout

Metric: TypeAlias = Callable[[torch.Tensor], torch.Tensor]


def as_batch(inputs: Any, tokenizer: Any = None) -> Batch:
    """A model-ready batch: a tensor, dict or tuple as it is; other inputs collated."""
    if isinstance(inputs, torch.Tensor | tuple):
        return inputs
    if isinstance(inputs, Mapping):
        return dict(inputs)
    iset = InputSet.from_user(inputs, tokenizer=tokenizer)
    return iset.batch(range(len(iset)))


def token_ids(batch: Batch) -> torch.Tensor | None:
    """The ``(N, T)`` token ids of a batch, if it has them."""
    ids = batch.get("input_ids") if isinstance(batch, Mapping) else batch
    if isinstance(ids, torch.Tensor) and ids.ndim == 2 and not ids.is_floating_point():
        return ids
    return None


def last_positions(batch: Batch, n_tokens: int) -> torch.Tensor:
    """Each example's last position the attention mask keeps (``T - 1`` without a mask)."""
    mask = batch.get("attention_mask") if isinstance(batch, Mapping) else None
    ids = token_ids(batch)
    n = ids.shape[0] if ids is not None else 1
    if isinstance(mask, torch.Tensor) and mask.ndim == 2 and mask.shape[1] == n_tokens:
        kept = mask.bool()
        order = torch.arange(n_tokens, device=mask.device).expand_as(kept)
        return torch.where(kept, order, -1).amax(1).clamp(min=0)
    return torch.full((n,), n_tokens - 1, dtype=torch.long)


def is_next_token(logits: torch.Tensor, batch: Batch) -> bool:
    """Whether ``logits`` are a causal LM's ``(N, T, V)`` with the ids in the batch."""
    ids = token_ids(batch)
    return logits.ndim == 3 and ids is not None and tuple(ids.shape) == tuple(logits.shape[:2])


def _rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[n, index[n]]`` for each example ``n``."""
    index = index.to(values.device)
    return values[torch.arange(values.shape[0], device=values.device), index]


def top_logprob(clean_logits: torch.Tensor, batch: Batch) -> Metric:
    """A metric: the log-probability of the clean run's top prediction (a causal LM's top
    next token after the last position, a classifier's top class)."""
    if is_next_token(clean_logits, batch):
        last = last_positions(batch, clean_logits.shape[1]).to(clean_logits.device)
        return _clean_top(last, _rows(clean_logits, last).argmax(-1))
    if clean_logits.ndim != 2:
        raise ActscopeError(
            f"The model outputs {tuple(clean_logits.shape)}, neither classes (N, C) nor "
            "next-token logits with token ids in the batch: pass metric=<a function of the "
            "logits returning one number per example>."
        )
    top = clean_logits.argmax(-1)

    def clean_top_class_logprob(logits: torch.Tensor) -> torch.Tensor:
        logp = logits.float().log_softmax(-1)
        return logp.gather(-1, top.to(logp.device)[:, None])[:, 0]

    return clean_top_class_logprob


def logit_diff(
    correct_id: int | torch.Tensor,
    wrong_id: int | torch.Tensor,
    *,
    position: int | torch.Tensor = -1,
) -> Metric:
    """A metric: ``logit[correct] - logit[wrong]`` at ``position`` (for ``(N, T, V)``
    logits; classes for ``(N, C)``), per example. Ids and position may be ``(N,)`` tensors.

    Example::

        metric = actscope.logit_diff(tok.encode(" Paris")[0], tok.encode(" Rome")[0])
        actscope.patching_sweep(model, clean, corrupted, blocks, metric=metric)
    """
    return _logit_diff(correct_id, wrong_id, position)


def _logit_diff(
    correct_id: int | torch.Tensor, wrong_id: int | torch.Tensor, position: int | torch.Tensor
) -> Metric:
    def logit_diff(logits: torch.Tensor) -> torch.Tensor:
        n = logits.shape[0]
        if logits.ndim == 3:
            where = torch.as_tensor(position, device=logits.device).reshape(-1).expand(n)
            logits = _rows(logits, where % logits.shape[1])
        correct = torch.as_tensor(correct_id, device=logits.device).reshape(-1).expand(n)
        wrong = torch.as_tensor(wrong_id, device=logits.device).reshape(-1).expand(n)
        picked = logits.float()
        return picked.gather(-1, correct[:, None])[:, 0] - picked.gather(-1, wrong[:, None])[:, 0]

    setattr(logit_diff, "positions_read", position)  # noqa: B010
    setattr(  # noqa: B010
        logit_diff,
        "tiled",
        lambda k: _logit_diff(_tile(correct_id, k), _tile(wrong_id, k), _tile(position, k)),
    )
    return logit_diff


def _tile(value: int | torch.Tensor, k: int) -> int | torch.Tensor:
    """A per-example value for ``k`` copies of the batch (a number stands for all)."""
    if isinstance(value, torch.Tensor) and value.numel() > 1:
        return value.reshape(-1).repeat(k)
    return value


def _clean_top(last: torch.Tensor, target: torch.Tensor) -> Metric:
    """The log-probability of ``target`` after position ``last``, per example."""

    def clean_top_logprob(logits: torch.Tensor) -> torch.Tensor:
        logp = _rows(logits, last.to(logits.device)).float().log_softmax(-1)
        return logp.gather(-1, target.to(logp.device)[:, None])[:, 0]

    setattr(clean_top_logprob, "positions_read", last)  # noqa: B010
    setattr(clean_top_logprob, "tiled", lambda k: _clean_top(last.repeat(k), target.repeat(k)))  # noqa: B010
    return clean_top_logprob


@dataclass(frozen=True)
class Effect:
    """Metrics per example on the clean run and on the edited run: ``(N, M)`` tensors, one
    column per metric (``effect["kl"]`` gives that metric's ``(clean, edited)``)."""

    metrics: tuple[str, ...]
    clean: torch.Tensor
    edited: torch.Tensor

    @property
    def change(self) -> torch.Tensor:
        """``edited - clean``, ``(N, M)``."""
        return self.edited - self.clean

    def __getitem__(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in self.metrics:
            raise KeyError(f"No metric {name!r}; this effect has {list(self.metrics)}.")
        i = self.metrics.index(name)
        return self.clean[:, i], self.edited[:, i]

    def __str__(self) -> str:
        rows = [f"{'metric':>24} {'example':>7} {'clean':>10} {'edited':>10} {'change':>10}"]
        for i, name in enumerate(self.metrics):
            for n in range(self.clean.shape[0]):
                c, e = float(self.clean[n, i]), float(self.edited[n, i])
                rows.append(f"{name:>24} {n:>7} {c:>10.4f} {e:>10.4f} {e - c:>10.4f}")
        return "\n".join(rows)


def effect(
    model: Any,
    inputs: Any,
    edits: Edit | Iterable[Edit],
    metric: Metric | Mapping[str, Metric] | None = None,
    *,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    lenses: Iterable[Any] | None = None,
) -> Effect:
    """Each example's metric before and after ``edits``: one clean and one edited pass.

    Args:
        model: any ``torch.nn.Module``; it is left as found.
        inputs: a batch (token ids, a tokenizer's dict, an image batch) or inputs in any
            form ``Explorer`` takes (strings with ``tokenizer``).
        edits: an :class:`Edit` or a list of them.
        metric: ``metric(logits) → (N,)``, or a dict of them by name. By default: for a
            classifier the clean top class's logit and probability (``top_logit``,
            ``top_prob``); for a causal LM the last token's log-probability given the ones
            before (``next_token_logprob``) and ``kl``, the KL divergence of the next-token
            distribution after the last token, clean ‖ edited.
        lenses: :class:`~actscope.Lens` objects whose features the edits name.

    Example::

        e = actscope.effect(model, ["The cat sat on the"],
                            actscope.Edit("transformer.h.1.mlp", scale=0.0), tokenizer=tok)
        e["kl"]          # (clean, edited): zeros, and the KL the ablation causes
    """
    model = unwrap(model)
    register_lenses(model, lenses)
    dev = resolve_device(model, device)
    batch = move(as_batch(inputs, tokenizer), dev, model_float_dtype(model))
    with torch.no_grad():
        clean = logits_of(run_forward(model, batch, forward, what="the inputs")).detach()
        with intervene(model, edits):
            edited = logits_of(run_forward(model, batch, forward, what="the inputs")).detach()
    if metric is None:
        names, before, after = _default(clean, edited, batch)
    else:
        chosen = dict(metric) if isinstance(metric, Mapping) else {_name(metric): metric}
        names = list(chosen)
        before = [checked_metric(fn(clean), name, clean) for name, fn in chosen.items()]
        after = [checked_metric(fn(edited), name, clean) for name, fn in chosen.items()]
    return Effect(tuple(names), torch.stack(before, 1), torch.stack(after, 1))


def _name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__name__", "metric"))


def checked_metric(value: Any, name: str, logits: torch.Tensor) -> torch.Tensor:
    out = torch.as_tensor(value).detach()
    n = logits.shape[0]
    if out.shape != (n,):
        raise InputError(
            f"The metric {name!r} returned shape {tuple(out.shape)}; it must return one number "
            f"per example, ({n},)."
        )
    return out.float()


def _default(
    clean: torch.Tensor, edited: torch.Tensor, batch: Batch
) -> tuple[list[str], list[torch.Tensor], list[torch.Tensor]]:
    if is_next_token(clean, batch):
        ids = token_ids(batch)
        assert ids is not None
        last = last_positions(batch, clean.shape[1]).to(clean.device)
        before_last = (last - 1).clamp(min=0)
        token = _rows(ids.to(clean.device), last)

        def logprob(logits: torch.Tensor) -> torch.Tensor:
            logp = _rows(logits, before_last).float().log_softmax(-1)
            value = logp.gather(-1, token[:, None])[:, 0]
            return value.masked_fill(last == 0, float("nan"))  # a one-token input: none

        p = _rows(clean, last).float().log_softmax(-1)
        q = _rows(edited, last).float().log_softmax(-1)
        kl = (p.exp() * (p - q)).sum(-1)
        return (
            ["next_token_logprob", "kl"],
            [logprob(clean), torch.zeros_like(kl)],
            [logprob(edited), kl],
        )
    if clean.ndim != 2:
        raise ActscopeError(
            f"The model outputs {tuple(clean.shape)}, neither classes (N, C) nor next-token "
            "logits with token ids in the batch: pass metric=<a function of the logits "
            "returning one number per example>."
        )
    top = clean.argmax(-1)[:, None]
    values = [(x.float().gather(-1, top)[:, 0], x.float().softmax(-1).gather(-1, top)[:, 0])
              for x in (clean, edited)]  # fmt: skip
    return ["top_logit", "top_prob"], list(values[0]), list(values[1])


def unit_means(
    model: Any,
    inputs: Any,
    layers: str | Sequence[str],
    *,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    batch_size: int = 32,
    unit_axes: Mapping[str, int] | None = None,
    lenses: Iterable[Any] | None = None,
) -> dict[str, torch.Tensor]:
    """Each unit's mean activation over ``inputs`` (every position; padding left out), by
    layer: ``(n_units,)`` float32 tensors, for mean-ablation (``Edit(layer, value=means)``).

    Example::

        means = actscope.unit_means(model, texts, ["transformer.h.0.mlp.act"], tokenizer=tok)
        edit = actscope.Edit("transformer.h.0.mlp.act", units=[7],
                             value=means["transformer.h.0.mlp.act"])   # its unit 7's mean
    """
    model = unwrap(model)
    register_lenses(model, lenses)
    names = [layers] if isinstance(layers, str) else list(layers)
    iset = InputSet.from_user(inputs, tokenizer=tokenizer)
    dev = resolve_device(model, device)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, torch.Tensor] = {}
    for start in range(0, len(iset), max(batch_size, 1)):
        batch = iset.batch(range(start, min(start + batch_size, len(iset))))
        batch = move(batch, dev, model_float_dtype(model))
        with torch.no_grad(), capture(model, names) as acts:
            run_forward(model, batch, forward, what="a batch of the inputs")
        mask = batch.get("attention_mask") if isinstance(batch, Mapping) else None
        for name in names:
            t = acts[name]
            layout = Layout.of(name, t, (unit_axes or {}).get(name))
            flat = layout.units_last(t).reshape(t.shape[0], -1, layout.n_units).double()
            weight = torch.ones(flat.shape[:2], dtype=torch.float64, device=flat.device)
            if isinstance(mask, torch.Tensor) and tuple(mask.shape) == tuple(flat.shape[:2]):
                weight = mask.to(flat.device, torch.float64)
            total = (flat * weight[..., None]).sum((0, 1))
            sums[name] = sums[name] + total if name in sums else total
            counts[name] = counts[name] + weight.sum() if name in counts else weight.sum()
    return {name: (sums[name] / counts[name].clamp(min=1)).float().cpu() for name in names}
