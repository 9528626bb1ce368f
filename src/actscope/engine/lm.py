"""Language models: what they predict and the logit lens.

The parts these need are found on Hugging Face causal LMs (``get_output_embeddings()``, the
final norm, the list of blocks) and TransformerLens models (``unembed``, ``ln_final``,
``blocks``); ``unembed=``, ``final_norm=`` and ``blocks=`` say them for anything else
(:func:`lm_parts`).

- :func:`predictions`: a classifier's top classes, or a causal LM's top next tokens at
  every position with each actual next token's probability and loss (surprisal);
- :func:`logit_lens`: at the output of each block, the final norm and the unembedding
  applied: top tokens per position, and the rank and probability of one token per layer.

What a unit writes to the logits (:func:`~.directions.logit_effects`) is in :mod:`.directions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .batch import move
from .capture import Activations, capture
from .errors import ActscopeError, InputError
from .forward import ForwardFn, run_forward
from .inputs import InputSet, model_float_dtype, resolve_device
from .names import canonical_names, resolve_modules, unwrap
from .outputs import select

FINAL_NORMS = ("ln_f", "norm", "final_layer_norm", "final_layernorm", "ln_final", "final_norm")
"""Attribute names of a decoder's final norm, in Hugging Face and TransformerLens models."""

Unembed = nn.Module | torch.Tensor | Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LMParts:
    """Where a language model keeps what the logit lens and logit effects need."""

    blocks: list[str]
    """The residual blocks, in order (their outputs are the residual stream)."""
    unembed: Callable[[torch.Tensor], torch.Tensor]
    """Residual stream ``(..., d)`` → logits ``(..., V)``."""
    unembed_weight: torch.Tensor
    """W_U as ``(V, d)``."""
    final_norm: Callable[[torch.Tensor], torch.Tensor] | None
    norm_weight: torch.Tensor | None
    """γ of the final norm ``(d,)`` (``None`` for none, or a norm without a weight)."""


def _norm_of(module: nn.Module, names: Sequence[str]) -> nn.Module | None:
    for name in names:
        found = getattr(module, name, None)
        if isinstance(found, nn.Module) and "norm" in type(found).__name__.lower():
            return found
    return None


def _find_blocks(model: nn.Module) -> list[str]:
    """The longest ``nn.ModuleList`` of same-class modules: the decoder's blocks."""
    names = canonical_names(model)
    best: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) > len(best):
            kinds = {type(child) for child in module}
            if len(kinds) == 1:
                best = list(module)
    return [names[id(block)] for block in best]


def lm_parts(
    model: Any,
    *,
    unembed: Unembed | None = None,
    final_norm: nn.Module | Callable[[torch.Tensor], torch.Tensor] | bool | None = None,
    blocks: Sequence[str] | None = None,
) -> LMParts:
    """The unembedding, final norm and blocks of a language model.

    Args:
        model: a Hugging Face causal LM, a TransformerLens model, or any module.
        unembed: the unembedding: a module (``nn.Linear(d, V)``), a ``(V, d)`` matrix, or a
            function from the residual stream to logits. Found by default.
        final_norm: the norm applied before the unembedding (a module or function);
            ``False`` for none. Found by default.
        blocks: the names of the residual blocks, in order. Found by default.

    Raises:
        ActscopeError: a part was not found; the message says which keyword gives it.
    """
    model = unwrap(model)
    weight: torch.Tensor | None = None
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    if unembed is None:
        getter = getattr(model, "get_output_embeddings", None)
        head = getter() if callable(getter) else None
        if isinstance(head, nn.Linear):
            weight, fn = head.weight, head
        elif isinstance(getattr(model, "unembed", None), nn.Module):  # TransformerLens
            tl = model.unembed
            weight, fn = tl.W_U.T, tl
    elif isinstance(unembed, torch.Tensor):
        matrix = unembed
        weight, fn = matrix, (lambda h: h @ matrix.T)
    elif isinstance(unembed, nn.Linear):
        weight, fn = unembed.weight, unembed
    elif callable(unembed):
        fn = unembed
        weight = getattr(unembed, "weight", None)
    if fn is None:
        raise ActscopeError(
            f"{type(model).__name__} has no unembedding actscope recognises (no "
            "get_output_embeddings(), no TransformerLens unembed): pass unembed=<the module "
            "or the (vocab, d_model) matrix that maps the residual stream to logits>."
        )
    if weight is None:
        raise ActscopeError("pass unembed= as a module with a weight or a (vocab, d) matrix.")
    norm: Any
    if final_norm is None:
        base = getattr(model, "base_model", model)
        decoder = getattr(base, "decoder", None)
        norm = _norm_of(model, FINAL_NORMS) or _norm_of(base, FINAL_NORMS)
        if norm is None and isinstance(decoder, nn.Module):
            norm = _norm_of(decoder, FINAL_NORMS)
    elif final_norm is False:
        norm = None
    else:
        norm = final_norm
    gamma = getattr(norm, "weight", None)
    if gamma is None:
        gamma = getattr(norm, "w", None)  # TransformerLens LayerNorm
    names = list(blocks) if blocks is not None else _find_blocks(model)
    if not names:
        raise ActscopeError(
            f"{type(model).__name__} has no list of blocks actscope recognises: pass "
            "blocks=[...] (the names of the layers whose outputs are the residual stream)."
        )
    resolve_modules(model, names)
    return LMParts(
        blocks=names,
        unembed=fn,
        unembed_weight=weight.detach(),
        final_norm=norm if norm is not None else None,
        norm_weight=gamma.detach() if isinstance(gamma, torch.Tensor) else None,
    )


# -- running an LM -----------------------------------------------------------------------------


def _batch(inputs: Any, tokenizer: Any) -> Any:
    if isinstance(inputs, torch.Tensor | dict):
        return inputs
    iset = InputSet.from_user(inputs, tokenizer=tokenizer)
    return iset.batch(range(len(iset)))


def _ids_and_mask(batch: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if isinstance(batch, dict):
        ids, mask = batch.get("input_ids"), batch.get("attention_mask")
        return (ids if isinstance(ids, torch.Tensor) else None), (
            mask if isinstance(mask, torch.Tensor) else None
        )
    if isinstance(batch, torch.Tensor) and not batch.is_floating_point():
        return batch, None
    return None, None


def logits_of(output: Any) -> torch.Tensor:
    """The logits of a model's output: ``.logits``, or the tensor itself, or its first."""
    from .saliency._targets import output_tensor

    return output_tensor(output)


@dataclass(frozen=True)
class Predictions:
    """What a model predicts: a classifier's top classes, or a causal LM's top next tokens.

    For a classifier ``ids`` and ``probs`` are ``(N, k)``. For a causal LM they are
    ``(N, T, k)`` (the top next tokens after each position), and ``next_prob`` / ``loss``
    ``(N, T)`` give the probability and ``-log`` probability of the token that actually
    comes next (NaN at the last position, which has none, and at padding).
    """

    task: str
    """``"classes"`` or ``"next_tokens"``."""
    ids: torch.Tensor
    probs: torch.Tensor
    next_prob: torch.Tensor | None = None
    loss: torch.Tensor | None = None
    mask: torch.Tensor | None = None


def is_causal_lm(model: nn.Module) -> bool:
    """Hugging Face models that generate, and TransformerLens models."""
    can_generate = getattr(model, "can_generate", None)
    if callable(can_generate):
        try:
            if can_generate():
                return True
        except Exception:  # a model whose can_generate needs a config it lacks
            pass
    return hasattr(model, "unembed") and hasattr(model, "blocks")


def _next_token_logits(model: nn.Module, named: bool, logits: torch.Tensor) -> bool:
    """Whether a ``(N, T, X)`` output is next-token logits (over a vocabulary)."""
    if named or is_causal_lm(model):
        return True
    vocab = {m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)}
    return logits.shape[-1] in vocab


def predictions(
    model: Any,
    inputs: Any,
    k: int = 10,
    *,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
) -> Predictions:
    """The top ``k`` predictions of ``model`` for each input, with probabilities.

    A classifier (logits ``(N, C)``) gets its top classes. A causal LM (logits
    ``(N, T, V)`` and token ids in the batch) gets, at every position, its top next tokens,
    and the probability and loss of the token that actually follows.

    Example::

        p = actscope.predictions(lm, ["The cat sat on the"], tokenizer=tok, k=5)
        tok.convert_ids_to_tokens(p.ids[0, -1])   # the five likeliest next tokens
    """
    model = unwrap(model)
    if k < 1:
        raise InputError(f"k must be at least 1, not {k}.")
    dev = resolve_device(model, device)
    batch = move(_batch(inputs, tokenizer), dev, model_float_dtype(model))
    with torch.no_grad():
        output = run_forward(model, batch, forward, what="the inputs")
    return predictions_of(model, batch, logits_of(output), k, named=hasattr(output, "logits"))


def predictions_of(
    model: nn.Module, batch: Any, logits: torch.Tensor, k: int = 10, *, named: bool = False
) -> Predictions:
    """:func:`predictions` from a forward pass already run: ``logits`` are the model's
    output on ``batch`` (``named``: the output called them ``.logits``)."""
    logits = logits.detach().float()
    if logits.ndim == 3 and not _next_token_logits(model, named, logits):
        raise ActscopeError(
            f"The model outputs {tuple(logits.shape)}, which look like hidden states rather "
            "than next-token logits (no .logits, and the last axis is not the size of the "
            "model's token embedding): there are no predictions to show. For a language "
            "model, pass its LM head model (e.g. AutoModelForCausalLM)."
        )
    probs = logits.softmax(-1)
    top = probs.topk(min(k, probs.shape[-1]), dim=-1)
    ids, mask = _ids_and_mask(batch)
    if logits.ndim == 2:
        return Predictions("classes", top.indices, top.values)
    if logits.ndim != 3 or ids is None or ids.shape != logits.shape[:2]:
        raise ActscopeError(
            f"The model's logits have shape {tuple(logits.shape)}: predictions needs classes "
            "(N, classes) or next-token logits (N, tokens, vocab) with the token ids in the batch."
        )
    next_ids = ids[:, 1:].to(probs.device)
    chosen = probs[:, :-1].gather(-1, next_ids[..., None])[..., 0]
    nan = torch.full_like(chosen[:, :1], float("nan"))
    next_prob = torch.cat([chosen, nan], 1)
    valid = torch.ones_like(next_prob, dtype=torch.bool)
    valid[:, -1] = False
    if mask is not None:
        m = mask.bool().to(valid.device)
        valid &= m & torch.cat([m[:, 1:], torch.zeros_like(m[:, :1])], 1)
    next_prob = next_prob.masked_fill(~valid, float("nan"))
    return Predictions("next_tokens", top.indices, top.values, next_prob, -next_prob.log(), valid)


@dataclass(frozen=True)
class LogitLens:
    """The logit lens: at each block's output, the model's own final norm and unembedding.

    ``ids``/``probs``: ``(L, N, T, k)`` top tokens; ``token_rank``/``token_prob``:
    ``(L, N, T)`` the rank (0 = top) and probability of ``token`` (by default each
    position's top prediction at the last block) at each layer.
    """

    layers: list[str]
    ids: torch.Tensor
    probs: torch.Tensor
    token: torch.Tensor
    token_rank: torch.Tensor
    token_prob: torch.Tensor
    start: int = 0
    """The first position decoded (``last=``): the ``T`` axis counts from it."""


def logit_lens(
    model: Any,
    inputs: Any,
    layers: Sequence[str] | None = None,
    k: int = 10,
    *,
    token: int | torch.Tensor | None = None,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    unembed: Unembed | None = None,
    final_norm: nn.Module | Callable[[torch.Tensor], torch.Tensor] | bool | None = None,
    last: int | None = None,
) -> LogitLens:
    """Decode the residual stream after each block with the model's own unembedding.

    One forward pass captures the blocks' outputs; each goes through the final norm and
    the unembedding, on the model's device, one layer at a time (the whole vocabulary of
    one layer at once, never of every layer). At the last block this is the model's own
    prediction.

    Args:
        model: a causal LM (Hugging Face, TransformerLens) or any model with ``unembed=``.
        inputs: strings with ``tokenizer``, or a batch of token ids.
        layers: the blocks to decode (default: all, in order).
        k: top tokens kept per layer and position.
        token: a token id (or ``(N, T)`` ids) whose rank and probability to follow across
            layers; by default each position's top prediction at the last layer.
        unembed, final_norm: see :func:`lm_parts`.
        last: decode only the last ``last`` positions (the unembedding is most of the
            cost: a long input's lens over its end); ``LogitLens.start`` says where they
            begin.
    """
    model = unwrap(model)
    parts = lm_parts(model, unembed=unembed, final_norm=final_norm)
    names = list(layers) if layers is not None else parts.blocks
    dev = resolve_device(model, device)
    batch = move(_batch(inputs, tokenizer), dev, model_float_dtype(model))
    with torch.no_grad(), capture(model, names) as acts:
        run_forward(model, batch, forward, what="the inputs")
    return decode_lens(acts, parts, names, k, token=token, last=last)


def decode_lens(
    acts: Activations,
    parts: LMParts,
    names: Sequence[str],
    k: int = 10,
    *,
    token: int | torch.Tensor | None = None,
    last: int | None = None,
) -> LogitLens:
    """:func:`logit_lens` from activations already captured (``acts`` holds ``names``)."""
    names = list(names)
    start = 0
    if last is not None:
        if last < 1:
            raise InputError(f"last must be at least 1 (positions to decode), not {last}.")
        length = select(acts.raw(names[0]), None, names[0]).shape[1]
        start = max(0, length - last)

    def log_probs(name: str) -> torch.Tensor:
        resid = select(acts.raw(name), None, name)[:, start:]
        if parts.final_norm is not None:
            resid = parts.final_norm(resid)
        return parts.unembed(resid).float().log_softmax(-1)  # (N, T, V)

    with torch.no_grad():
        final = log_probs(names[-1])
        if token is None:  # the last layer's top token, as its cells show it
            chosen = final.topk(1, dim=-1).indices[..., 0]
        else:
            chosen = torch.as_tensor(token, device=final.device)
            chosen = chosen[..., start:] if chosen.ndim == 2 else chosen
            chosen = chosen.expand(final.shape[:2])
        tops, targets, ranks = [], [], []
        for name in names:
            logp = final if name == names[-1] else log_probs(name)
            tops.append(logp.topk(min(k, logp.shape[-1]), dim=-1))
            target = logp.gather(-1, chosen[..., None])
            targets.append(target[..., 0])
            ranks.append((logp > target).sum(-1))
            del logp
    return LogitLens(
        names,
        torch.stack([t.indices for t in tops]),
        torch.stack([t.values for t in tops]).exp(),
        chosen,
        torch.stack(ranks),
        torch.stack(targets).exp(),
        start,
    )
