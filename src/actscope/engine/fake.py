"""Running a model on fake tensors: what every module returns, without computing a value.

Under torch's ``FakeTensorMode`` a tensor has a shape, a dtype and a device but no data, so
a forward pass costs only the Python of the model's code and the shape arithmetic of each
operation: about a tenth of GPT-2-small's forward pass at 1,024 tokens on a CPU, and
nothing at all on a GPU's queue. Layer discovery (:mod:`.layers`) runs its probes this way,
so opening the explorer costs one real forward pass (the first view's).

The model is left as found: the pass runs through ``torch.func.functional_call`` with fake
copies of the parameters and buffers (an in-place update, BatchNorm's counters for one,
writes to the copy), the random-number generators are not drawn from, and a fake tensor
the model's code kept as an attribute (a cache) is taken away afterwards. A model whose
code needs values (``.item()``, a shape that depends on the data, an operation without a
fake kernel) raises; :func:`run_fake` then returns ``None`` and discovery runs the model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

from .batch import map_tensors
from .forward import Batch, ForwardFn, call_model


class _Call(nn.Module):
    """``forward(model, batch)`` as a module, so that ``functional_call`` can swap the
    model's tensors whatever ``forward`` does."""

    def __init__(self, model: nn.Module, forward: ForwardFn) -> None:
        super().__init__()
        self.model = model
        self._forward = forward

    def forward(self, batch: Batch) -> Any:
        return self._forward(self.model, batch)


class _Failed:
    """The fake pass raised (the model needs values): run it for real."""


FAILED = _Failed()


def run_fake(model: nn.Module, batch: Batch, forward: ForwardFn | None = None) -> Any:
    """``forward(model, batch)`` on fake tensors, or :data:`FAILED` if the model's code
    cannot run without values. Hooks on the model's modules see fake outputs."""
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    kept = _tensor_attributes(model)
    try:
        state: dict[str, torch.Tensor] = {
            f"model.{name}": mode.from_tensor(tensor)
            for name, tensor in [
                *model.named_parameters(remove_duplicate=False),
                *model.named_buffers(remove_duplicate=False),
            ]
        }
        with mode, torch.no_grad():
            fake_batch = map_tensors(mode.from_tensor, batch)
            return torch.func.functional_call(
                _Call(model, forward or call_model), state, (fake_batch,)
            )
    except Exception:  # values needed, no fake kernel, ...: the caller runs the model
        return FAILED
    finally:
        _restore_attributes(kept)


_Held = list[tuple[dict[str, Any], dict[str, Any]]]


def _tensor_attributes(model: nn.Module) -> _Held:
    """Each module's parameters, buffers and attributes, each table with a copy of it."""
    return [
        (held, dict(held))
        for module in model.modules()
        for held in (module._parameters, module._buffers, vars(module))
    ]


def _restore_attributes(kept: _Held) -> None:
    """Put back every tensor the fake pass replaced (whatever wrapper code did with
    ``functional_call``'s swap), and every attribute it set to a fake tensor (a cache):
    its earlier value, or none."""
    for held, before in kept:
        for key, value in list(held.items()):
            if (
                key in before
                and before[key] is not value
                and (isinstance(before[key], torch.Tensor) or isinstance(value, FakeTensor))
            ):
                held[key] = before[key]
            elif key not in before and isinstance(value, FakeTensor):
                del held[key]


def is_fake(tensor: torch.Tensor) -> bool:
    return isinstance(tensor, FakeTensor)
