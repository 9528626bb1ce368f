"""Running a model on fake tensors: what every module returns, without computing a value.

Under torch's ``FakeTensorMode`` a tensor has a shape, a dtype and a device but no data, so
a forward pass costs only the Python of the model's code and the shape arithmetic of each
operation: about a tenth of GPT-2-small's forward pass at 1,024 tokens on a CPU, and
nothing at all on a GPU's queue. Layer discovery (:mod:`.discovery`) runs its probes this
way, so opening the explorer costs one real forward pass (the first view's).

The model is left as found: its parameters and buffers are read, not replaced (a pass in
another thread meanwhile sees them as they are), buffers of modules in training mode are
put back after the pass (:func:`.preserve.buffers_kept`, as after every real pass), the
random-number generators are not drawn from, and a fake tensor the model's code kept as
an attribute (a cache) is taken away afterwards. A model whose code needs values
(``.item()``, a shape that depends on the data, an operation without a fake kernel)
raises; :func:`run_fake` then returns :data:`FAILED` and discovery runs the model. A
:class:`~.errors.Stop` (a cancelled job's hook) is raised on, not taken for that.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

from .batch import map_tensors
from .errors import Stop
from .forward import Batch, ForwardFn, call_model
from .preserve import buffers_kept


class _Failed:
    """The fake pass raised (the model needs values): run it for real."""


FAILED = _Failed()


def run_fake(model: nn.Module, batch: Batch, forward: ForwardFn | None = None) -> Any:
    """``forward(model, batch)`` on fake tensors, or :data:`FAILED` if the model's code
    cannot run without values. Hooks on the model's modules see fake outputs."""
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    kept = _attributes(model)
    try:
        with buffers_kept(model), mode, torch.no_grad():
            return (forward or call_model)(model, map_tensors(mode.from_tensor, batch))
    except Stop:  # a cancelled job: not the model's doing
        raise
    except Exception:  # values needed, no fake kernel, ...: the caller runs the model
        return FAILED
    finally:
        _restore(kept)


_Held = list[tuple[dict[str, Any], dict[str, Any]]]


def _attributes(model: nn.Module) -> _Held:
    """Each module's parameters, buffers and attributes, each table with a copy of it."""
    return [
        (held, dict(held))
        for module in model.modules()
        for held in (module._parameters, module._buffers, vars(module))
    ]


def _restore(kept: _Held) -> None:
    """Take away every fake tensor the pass left on a module (a cache the model's code
    keeps): the earlier value back, or none. Real values are never touched, so a real pass
    in another thread meanwhile keeps what it set."""
    for held, before in kept:
        for key, value in list(held.items()):
            if isinstance(value, FakeTensor):
                if key in before and not isinstance(before[key], FakeTensor):
                    held[key] = before[key]
                else:
                    del held[key]


def is_fake(tensor: torch.Tensor) -> bool:
    return isinstance(tensor, FakeTensor)
