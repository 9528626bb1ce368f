"""The saliency target of a causal language model: one token's log-probability at one
position.

By default (a causal LM given no target) each example's last position is explained, with
its top prediction there; :class:`NextToken` picks the position and the token. The token
that actually follows a position is the default wherever there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ActscopeError


@dataclass(frozen=True)
class NextToken:
    """A causal LM's log-probability of ``token`` as the next token after ``position``.

    Example::

        actscope.saliency(lm, ["The cat sat on the mat"], tokenizer=tok,
                          target=actscope.NextToken(position=3))   # what predicts "on"→"the"
    """

    position: int | None = None
    """A token position (negative counts from each example's end); default the last."""
    token: int | None = None
    """A token id; default the token that follows ``position`` in the input, or the top
    prediction after the last position."""


def ids_and_lengths(batch: Any, rows: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``input_ids (rows, T)`` and each row's number of real tokens, if the batch has ids."""
    if isinstance(batch, torch.Tensor) and not batch.is_floating_point():
        batch = {"input_ids": batch}  # bare token ids (TransformerLens takes them so)
    if not isinstance(batch, Mapping):
        return None
    ids = batch.get("input_ids")
    if not isinstance(ids, torch.Tensor) or ids.ndim != 2 or ids.shape[0] != rows:
        return None
    mask = batch.get("attention_mask")
    if isinstance(mask, torch.Tensor) and mask.shape == ids.shape:
        lengths = mask.to(torch.long).sum(1)
    else:
        lengths = torch.full((rows,), ids.shape[1], dtype=torch.long, device=ids.device)
    return ids, lengths


def resolve(
    target: NextToken, logits: torch.Tensor, batch: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each example's ``(position, token)`` at the clean inputs."""
    n, length = logits.shape[0], logits.shape[1]
    found = ids_and_lengths(batch, n)
    if found is None:
        raise ActscopeError(
            "A next-token target needs the token ids in the batch (input_ids of shape "
            f"({n}, tokens)), to know where each example ends."
        )
    ids, lengths = found
    lengths = lengths.to(logits.device)
    if target.position is None:
        pos = lengths - 1
    elif target.position < 0:
        pos = lengths + target.position
    else:
        pos = torch.full((n,), target.position, dtype=torch.long, device=logits.device)
    if bool(((pos < 0) | (pos >= lengths)).any()):
        raise ActscopeError(
            f"Position {target.position} is outside the input: the examples have "
            f"{lengths.tolist()} tokens."
        )
    rows = torch.arange(n, device=logits.device)
    if target.token is not None:
        if not 0 <= target.token < logits.shape[-1]:
            raise ActscopeError(
                f"Token {target.token} is not in the vocabulary ({logits.shape[-1]})."
            )
        token = torch.full((n,), target.token, dtype=torch.long, device=logits.device)
    else:
        top = logits.detach()[rows, pos].argmax(-1)
        following = ids.to(logits.device)[rows, (pos + 1).clamp(max=length - 1)]
        token = torch.where(pos + 1 < lengths, following, top)
    return pos, token


def value(logits: torch.Tensor, pos: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """``log p(token | position)`` per row."""
    rows = torch.arange(logits.shape[0], device=logits.device)
    picked = logits[rows, pos].float().log_softmax(-1)
    return picked.gather(1, token[:, None])[:, 0]
