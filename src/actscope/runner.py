"""Running the model: one forward pass, and an error that says where and why it failed.

The hot path adds nothing; only when a forward pass raises is it run once more with
pre-hooks on the leaf modules, to name the module that failed, what it got and what it
expects ("Conv2d 'features.0' expects (N, 3, H, W) but got (1, 1, 8, 8)").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .errors import ActscopeError, ForwardError
from .inputs import Batch, ForwardFn, call_model, describe_batch


def run_forward(
    model: nn.Module,
    batch: Batch,
    forward: ForwardFn | None = None,
    *,
    what: str = "the input",
) -> Any:
    """``forward(model, batch)``; an exception becomes a :class:`ForwardError` with a diagnosis.

    ``KeyboardInterrupt`` and actscope's own errors pass through unchanged.
    """
    fn = forward or call_model
    try:
        return fn(model, batch)
    except ActscopeError:
        raise
    except Exception as exc:
        raise ForwardError(diagnose(model, batch, fn, exc, what)) from exc


def diagnose(model: nn.Module, batch: Batch, fn: ForwardFn, exc: BaseException, what: str) -> str:
    """A message naming the input, the module that raised, and what that module expects."""
    lines = [f"The model's forward pass failed on {what} ({describe_batch(batch)})."]
    failing = _failing_module(model, batch, fn)
    if failing is not None:
        name, module, args = failing
        got = ", ".join(describe_batch(a) for a in args if isinstance(a, torch.Tensor))
        lines.append(f"It failed in {name!r} ({module.__class__.__name__}), which got {got}.")
        hint = expectation(module)
        if hint:
            lines.append(hint)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    lines.append(f"{type(exc).__name__}: {first}")
    return " ".join(lines)


def _failing_module(
    model: nn.Module, batch: Batch, fn: ForwardFn
) -> tuple[str, nn.Module, tuple[Any, ...]] | None:
    """Re-run the failing forward with pre-hooks to find the innermost module entered last."""
    entered: list[tuple[str, nn.Module, tuple[Any, ...]]] = []
    finished: set[int] = set()
    handles = []

    def pre(name: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            entered.append((name, module, args))

        return hook

    def post(module: nn.Module, _args: Any, _out: Any) -> None:
        finished.add(id(module))

    try:
        for name, module in model.named_modules():
            if name and not list(module.children()):
                handles.append(module.register_forward_pre_hook(pre(name)))
                handles.append(module.register_forward_hook(post))
        with torch.no_grad():
            fn(model, batch)
    except Exception:
        pass
    finally:
        for handle in handles:
            handle.remove()
    unfinished = [e for e in entered if id(e[1]) not in finished]
    return unfinished[-1] if unfinished else None


def expectation(module: nn.Module) -> str | None:
    """What a common module expects as input, in words."""
    weight = getattr(module, "weight", None)
    wdtype = str(weight.dtype).removeprefix("torch.") if isinstance(weight, torch.Tensor) else None
    dtype = f" {wdtype}" if wdtype else ""
    if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        spatial = {1: "L", 2: "H, W", 3: "D, H, W"}[module.weight.ndim - 2]
        return f"It expects (N, {module.in_channels}, {spatial}){dtype}."
    if isinstance(module, nn.Linear):
        return f"It expects (..., {module.in_features}){dtype}."
    if isinstance(module, nn.Embedding):
        return (
            f"It expects integer token ids in [0, {module.num_embeddings}) "
            "(torch.long), not floats."
        )
    if isinstance(module, nn.LayerNorm):
        return f"It expects (..., {', '.join(map(str, module.normalized_shape))}){dtype}."
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return f"It expects (N, {module.num_features}, ...){dtype}."
    if isinstance(module, nn.RNNBase):
        order = "N, T" if module.batch_first else "T, N"
        return f"It expects ({order}, {module.input_size}){dtype}."
    return None
