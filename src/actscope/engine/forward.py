"""Running the model: one forward pass, and an error that says where and why it failed.

Every forward pass actscope runs goes through :func:`run_forward`: it feeds the batch the
way ``forward=`` says (by default ``model(**batch)`` for a dict, ``model(*batch)`` for a
tuple, ``model(batch)`` otherwise) and leaves the model's buffers as found
(:mod:`.preserve`). The hot path adds nothing else; only when a forward pass raises is it
run once more with pre-hooks on the leaf modules, to name the module that failed, what it
got and what it expects ("Conv2d 'features.0' expects (N, 3, H, W) but got (1, 1, 8, 8)").
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeAlias

import torch
from torch import nn

from .batch import describe
from .errors import ActscopeError, ForwardError, Stop
from .hooks import Hooks
from .names import named_layers, resolve_modules, split_call
from .preserve import buffers_kept

Batch: TypeAlias = Any
ForwardFn: TypeAlias = Callable[[nn.Module, Batch], Any]


def call_model(model: nn.Module, batch: Batch) -> Any:
    """The default ``forward``: ``model(**batch)``, ``model(*batch)`` or ``model(batch)``.

    A model whose forward takes the tokens as ``input`` rather than ``input_ids``
    (TransformerLens) gets a tokenizer's ``input_ids`` as that first argument.
    """
    if isinstance(batch, Mapping):
        if "input_ids" in batch and _takes_input(type(model)):
            rest = {k: v for k, v in batch.items() if k != "input_ids"}
            return model(batch["input_ids"], **rest)
        return model(**batch)
    if isinstance(batch, tuple):
        return model(*batch)
    return model(batch)


_TAKES_INPUT: dict[type, bool] = {}


def _takes_input(cls: type) -> bool:
    """Whether ``cls.forward`` needs an ``input`` argument and names no ``input_ids``."""
    if cls not in _TAKES_INPUT:
        try:
            params = inspect.signature(cls.forward).parameters  # type: ignore[attr-defined]
        except (AttributeError, TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        wanted = params.get("input")
        _TAKES_INPUT[cls] = (
            wanted is not None
            and wanted.default is inspect.Parameter.empty
            and "input_ids" not in params
        )
    return _TAKES_INPUT[cls]


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
    with buffers_kept(model):
        try:
            return fn(model, batch)
        except (ActscopeError, Stop):  # a cancelled job's hook: passed on as it is
            raise
        except Exception as exc:
            raise ForwardError(diagnose(model, batch, fn, exc, what)) from exc


def diagnose(model: nn.Module, batch: Batch, fn: ForwardFn, exc: BaseException, what: str) -> str:
    """A message naming the input, the module that raised, and what that module expects."""
    lines = [f"The model's forward pass failed on {what} ({describe(batch)})."]
    failing = _failing_module(model, batch, fn)
    if failing is not None:
        name, module, args = failing
        got = ", ".join(describe(a) for a in args if isinstance(a, torch.Tensor))
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

    def pre(name: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            entered.append((name, module, args))

        return hook

    def post(module: nn.Module, _args: Any, _out: Any) -> None:
        finished.add(id(module))

    try:
        with Hooks() as hooks, torch.no_grad():
            for name, module in named_layers(model).items():
                if not list(module.children()):
                    hooks.pre(module, pre(name))
                    hooks.forward(module, post)
            fn(model, batch)
    except Exception:
        pass
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


class StopForward(BaseException):
    """Ends a forward pass early: the output wanted is captured (not an error; a
    ``BaseException`` so that no ``except Exception`` in the model's code swallows it)."""


@contextmanager
def stopping_after(model: nn.Module, layer: str | None) -> Iterator[None]:
    """While active, the forward pass stops right after ``layer``'s call (None: never).

    The hook is registered after ``capture``'s, so the output is recorded first; it is
    bound to this thread, so a mining run on the same model elsewhere is not cut short.
    """
    if layer is None:
        yield
        return
    base, call = split_call(layer)
    module = resolve_modules(model, [base])[base]
    calls = 0

    def hook(_module: nn.Module, _args: Any, _output: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > call:
            raise StopForward

    with Hooks() as hooks:
        hooks.forward(module, hook)
        yield
