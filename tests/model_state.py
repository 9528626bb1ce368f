"""A record of everything about a model that actscope promises to leave as found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_pre_hooks_with_kwargs",
    "_state_dict_hooks",
    "_load_state_dict_pre_hooks",
)


@dataclass
class ModelState:
    params: dict[str, torch.Tensor]
    requires_grad: dict[str, bool]
    grads: dict[str, torch.Tensor | None]
    buffers: dict[str, torch.Tensor]
    training: dict[str, bool]
    hooks: dict[str, dict[str, list[Any]]]
    tensor_hooks: dict[str, Any]


def record(model: nn.Module) -> ModelState:
    return ModelState(
        params={n: p.detach().clone() for n, p in model.named_parameters()},
        requires_grad={n: p.requires_grad for n, p in model.named_parameters()},
        grads={
            n: (p.grad.detach().clone() if p.grad is not None else None)
            for n, p in model.named_parameters()
        },
        buffers={n: b.detach().clone() for n, b in model.named_buffers()},
        training={n: m.training for n, m in model.named_modules()},
        hooks={
            n: {d: list(getattr(m, d, {}).values()) for d in HOOK_DICTS}
            for n, m in model.named_modules()
        },
        tensor_hooks={n: p._backward_hooks for n, p in model.named_parameters()},
    )


def assert_unchanged(model: nn.Module, before: ModelState) -> None:
    """Fail with the first difference between ``model`` now and ``before``."""
    after = record(model)
    for name, p in before.params.items():
        assert torch.equal(after.params[name], p), f"parameter {name} changed"
    assert after.requires_grad == before.requires_grad, "requires_grad flags changed"
    for name, g in before.grads.items():
        now = after.grads[name]
        assert (g is None) == (now is None), f".grad of {name} appeared or vanished"
        if g is not None and now is not None:
            assert torch.equal(g, now), f".grad of {name} changed"
    for name, b in before.buffers.items():
        assert torch.equal(after.buffers[name], b), f"buffer {name} changed"
    assert after.training == before.training, "training flags changed"
    assert after.hooks == before.hooks, "module hooks were added or removed"
    assert after.tensor_hooks == before.tensor_hooks, "parameter hooks changed"
