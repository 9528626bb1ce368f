"""Attention patterns, and the scores that rank heads by what they do.

:func:`attention` returns, per attention module, the probabilities ``(N, heads, queries,
keys)`` of one forward pass. Hugging Face models compute them only with eager attention:
the model is switched to it for that pass and switched back, on every path (the model is
left as found). Any module whose output holds a tensor of that shape whose rows sum to one
(TransformerLens' ``hook_pattern``, a user's own attention) is found as it is.

:func:`head_scores` scores every head of a pattern, the way the ranking panel ranks units:
``previous_token`` (attention to the position before), ``induction`` (attention to the
token after an earlier occurrence of the current token), ``first_token`` (attention to
position 0: an attention sink) and ``entropy`` (how spread out each row is).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import torch
from torch import nn

from .batch import move, tensor_paths
from .capture import capture
from .errors import ActscopeError, InputError
from .forward import ForwardFn, StopForward, run_forward, stopping_after
from .inputs import InputSet, model_float_dtype, resolve_device
from .names import split_call, unwrap
from .preserve import hooks_kept

SCORES = ("previous_token", "induction", "first_token", "entropy")
"""The head scores :func:`head_scores` computes."""


@contextmanager
def eager_attention(model: nn.Module) -> Iterator[bool]:
    """Hugging Face attention switched to ``"eager"`` (which returns the weights) for the
    block, and back to what it was after; yields whether the model is such a model."""
    config = getattr(model, "config", None)
    before = getattr(config, "_attn_implementation", None)
    setter = getattr(model, "set_attn_implementation", None)
    if config is None or before is None or not callable(setter):
        yield False
        return
    flag = getattr(config, "output_attentions", None)
    try:
        if before != "eager":
            setter("eager")
        with hooks_kept(model):  # transformers hooks modules to collect the weights
            yield True
    finally:
        if before != "eager":
            setter(before)
        if flag is not None:
            config.output_attentions = flag


def _looks_like_pattern(t: torch.Tensor, n: int) -> bool:
    if t.ndim != 4 or t.shape[0] != n or not t.is_floating_point() or t.numel() == 0:
        return False
    rows = t.detach().float().sum(-1)
    return bool(((rows - 1).abs() < 1e-3).all())


def _is_pattern_hook(name: str) -> bool:
    return split_call(name)[0].rsplit(".", 1)[-1] == "hook_pattern"


def attention(
    model: Any,
    inputs: Any,
    layers: Sequence[str] | None = None,
    *,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
) -> dict[str, torch.Tensor]:
    """Attention probabilities ``(N, heads, queries, keys)`` per attention module.

    Args:
        model: a Hugging Face model, a TransformerLens model, or any module some of whose
            submodules output attention probabilities.
        inputs: strings with ``tokenizer``, or a batch.
        layers: the modules to read (default: every one that outputs a pattern).
        tokenizer, forward, device: as for :func:`actscope.capture`.

    Returns:
        ``{module name: probabilities}``, in module order, detached, on the model's device.

    Example::

        patterns = actscope.attention(gpt2, ["The cat sat on the mat"], tokenizer=tok)
        patterns["transformer.h.0.attn"].shape    # (1, 12, 7, 7)
    """
    model = unwrap(model)
    dev = resolve_device(model, device)
    batch = inputs
    if not isinstance(inputs, torch.Tensor | dict):
        iset = InputSet.from_user(inputs, tokenizer=tokenizer)
        batch = iset.batch(range(len(iset)))
    batch = move(batch, dev, model_float_dtype(model))
    n = _batch_size(batch)
    found = _patterns(model, batch, layers, forward, n, _last_of(model, layers))
    if layers is not None and any(name not in found for name in layers):
        found = _patterns(model, batch, layers, forward, n, None)  # ran in another order
    if layers is not None:
        missing = [name for name in layers if name not in found]
        if missing:
            raise ActscopeError(
                f"Layer(s) {missing} output no attention probabilities (N, heads, queries, "
                "keys) for these inputs. Pick attention modules (actscope.attention(model, "
                "inputs) lists the ones it finds)."
            )
    return found


def _last_of(model: nn.Module, layers: Sequence[str] | None) -> str | None:
    """Of ``layers``, the one defined last (the pass can stop after it: the layers after
    it would cost an eager pass for nothing), or None when one is not a module's name."""
    if not layers:
        return None
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    bases = [split_call(name)[0] for name in layers]
    if any(b not in order for b in bases):
        return None
    return max(layers, key=lambda name: order[split_call(name)[0]])


def _patterns(
    model: nn.Module,
    batch: Any,
    layers: Sequence[str] | None,
    forward: ForwardFn | None,
    n: int,
    stop_after: str | None,
) -> dict[str, torch.Tensor]:
    """One eager pass (ended after ``stop_after``): the patterns it finds, in module order."""
    with eager_attention(model) as hf:
        if hf and isinstance(batch, dict) and forward is None:
            batch = {**batch, "output_attentions": True}
        with (
            torch.no_grad(),
            capture(model, list(layers) if layers is not None else None) as acts,
            stopping_after(model, stop_after),
            suppress(StopForward),
        ):
            run_forward(model, batch, forward, what="the inputs")
    found: dict[str, torch.Tensor] = {}
    owner: dict[int, str] = {}
    for name in acts:
        for _, t in tensor_paths(acts.raw(name)):
            if _looks_like_pattern(t, n):
                key = t.data_ptr()
                # Found on its own, a pattern several modules output (a block may pass it
                # on) is the innermost one's, the last seen; TransformerLens' hook_pattern
                # (whose pattern its attention's dropout passes on) before any.
                if layers is None and key in owner and owner[key] in found:
                    if _is_pattern_hook(owner[key]):
                        break
                    del found[owner[key]]
                owner[key] = name
                found[name] = t
                break
    return dict(sorted(found.items(), key=lambda kv: list(acts).index(kv[0])))


def _batch_size(batch: Any) -> int:
    for _, t in tensor_paths(batch):
        if t.ndim:
            return int(t.shape[0])
    raise InputError("The inputs hold no tensor with a batch axis.")


def head_scores(
    pattern: torch.Tensor, ids: torch.Tensor | None = None, mask: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Scores of every head of one example's pattern ``(heads, queries, keys)``: ``(heads,)``
    each, over the valid query positions.

    - ``previous_token``: mean attention from position q to q − 1;
    - ``induction``: mean attention from q to the positions j + 1 right after each earlier
      occurrence j of q's token (``ids`` needed; queries with no earlier occurrence count
      for nothing), the mark of an induction head on repeated text;
    - ``first_token``: mean attention to position 0;
    - ``entropy``: mean entropy of each query's row, in nats.
    """
    p = pattern.detach().float()
    if p.ndim != 3:
        raise InputError(
            f"A pattern of one example is (heads, queries, keys), not {tuple(p.shape)}."
        )
    heads, q, k = p.shape
    valid = torch.ones(q, dtype=torch.bool, device=p.device)
    if mask is not None:
        valid = mask.to(p.device).bool().reshape(-1)[:q]
    rows = valid.nonzero().squeeze(1)
    out: dict[str, torch.Tensor] = {}
    prev = rows[rows >= 1]
    out["previous_token"] = p[:, prev, prev - 1].mean(-1) if prev.numel() else p.new_zeros(heads)
    out["first_token"] = p[:, rows, 0].mean(-1) if rows.numel() else p.new_zeros(heads)
    logs = torch.where(p > 0, p.log(), torch.zeros_like(p))
    out["entropy"] = -(p * logs).sum(-1)[:, rows].mean(-1) if rows.numel() else p.new_zeros(heads)
    if ids is not None:
        t = ids.reshape(-1)[:q].to(p.device)
        same = t[:, None] == t[None, :]  # (q, j): token j equals token q
        earlier = torch.tril(torch.ones(q, q, dtype=torch.bool, device=p.device), diagonal=-1)
        after = (same & earlier).roll(1, dims=1)  # j + 1 for each earlier occurrence j
        after[:, 0] = False
        after &= (
            torch.arange(q, device=p.device)[None, :] <= torch.arange(q, device=p.device)[:, None]
        )
        target = after[:, :k].float()
        has = (target.sum(-1) > 0) & valid
        if bool(has.any()):
            out["induction"] = (p[:, has] * target[has]).sum(-1).mean(-1)
        else:
            out["induction"] = p.new_zeros(heads)
    return out
