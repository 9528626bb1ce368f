"""Mining with several processes (``torchrun``): who reads what, and merging on rank 0.

When ``torch.distributed`` is initialised, each rank mines its share of the dataset (see
:mod:`.sources`) and the ranks' statistics are combined with collectives, no files: a
binary tree of point-to-point sends folds every rank's state into rank 0 in
``ceil(log2(world))`` rounds (each rank holds at most two states at a time), and rank 0
broadcasts the result, so every rank returns the same complete index. Merging is exact
(see :func:`.state.merge`), so the result equals a single-process run.

The collectives run on the CPU for gloo and on the model's GPU for NCCL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .state import LayerState


@dataclass(frozen=True)
class Group:
    """This process's place in the run: ``rank`` of ``world``."""

    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1


def current_group(enabled: bool | None) -> Group:
    """The initialised process group (``enabled=None``: use it if there is one)."""
    if enabled is False or not torch.distributed.is_available():
        return Group()
    if not torch.distributed.is_initialized():
        if enabled:
            raise RuntimeError(
                "distributed=True but torch.distributed is not initialised: launch with "
                "torchrun and call torch.distributed.init_process_group() first."
            )
        return Group()
    return Group(torch.distributed.get_rank(), torch.distributed.get_world_size())


def comm_device(model_device: torch.device) -> torch.device:
    """Where tensors must be for the group's backend."""
    backend = str(torch.distributed.get_backend()).lower()
    return model_device if "nccl" in backend else torch.device("cpu")


def exchange(values: list[int], device: torch.device) -> list[list[int]]:
    """Every rank's small list of ints (the same length on every rank)."""
    mine = torch.tensor(values, dtype=torch.int64, device=device)
    gathered = [torch.empty_like(mine) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(gathered, mine)
    return [[int(v) for v in t.tolist()] for t in gathered]


def reduce_states(
    states: dict[str, LayerState],
    merge: Callable[[LayerState, LayerState], LayerState],
    group: Group,
    device: torch.device,
) -> dict[str, LayerState]:
    """Fold every rank's ``states`` into rank 0, then give rank 0's result to every rank."""
    names = list(states)
    local = {name: states[name].to(device) for name in names}
    step = 1
    while step < group.world:
        if group.rank % (2 * step) == step:
            for name in names:
                for tensor in local[name].tensors():
                    torch.distributed.send(tensor.contiguous(), dst=group.rank - step)
        elif group.rank % (2 * step) == 0 and group.rank + step < group.world:
            for name in names:
                received = [torch.empty_like(t) for t in local[name].tensors()]
                for tensor in received:
                    torch.distributed.recv(tensor, src=group.rank + step)
                local[name] = merge(local[name], LayerState.from_tensors(received))
        step *= 2
    for name in names:
        tensors = [t.contiguous() for t in local[name].tensors()]
        for tensor in tensors:
            torch.distributed.broadcast(tensor, src=0)
        local[name] = LayerState.from_tensors(tensors)
    return local
