"""The streaming pass behind ``mine``: hooks, per-batch reduction, running statistics.

A batch is added to all layers or to none: the statistics are updated only after every
layer's hook has reduced its output, and with Ctrl-C held back (:func:`interrupts_deferred`)
so that an update is never half-applied.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..batch import move
from ..errors import InputError, LayerOutputError
from ..forward import ForwardFn, run_forward
from ..hooks import Hooks
from ..inputs import model_float_dtype
from ..layers import LayerInfo
from ..lenses import LensModule
from ..names import resolve_modules
from ..outputs import OutputSelector, select
from . import keys as K
from . import state as S
from .distributed import Group
from .lensed import reduce_encoded
from .reduce import LayerBatch, Mask, as_units, reduce
from .sources import Chunk, LoadError, Source

ProgressCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Plan:
    """One layer to mine: what discovery said of it, and how to find it in a forward pass."""

    info: LayerInfo
    base: str
    call: int
    selector: OutputSelector | None


@dataclass
class Failure:
    error: BaseException
    batch: int
    start: int | None
    cancelled: bool


class Run:
    """The streaming pass: hooks, per-batch reduction, and the running statistics."""

    def __init__(
        self,
        model: nn.Module,
        plans: list[Plan],
        forward: ForwardFn | None,
        device: torch.device,
        k: int,
        reservoir: int,
        seed: int,
        buckets: K.Buckets,
        strategy: Literal["full", "pruned"],
        id_offset: int,
    ) -> None:
        self.model = model
        self.plans = plans
        self.forward = forward
        self.device = device
        self.dtype = model_float_dtype(model)
        self.seed = seed
        self.k = k
        self.buckets = buckets
        self.strategy: Literal["full", "pruned"] = strategy
        self.id_offset = id_offset
        # Every layer's units side by side: one update per batch for all of them.
        sizes = [p.info.n_units for p in plans]
        self.state = S.LayerState.empty(
            sum(sizes), k, reservoir, buckets, device, hist_dtype=torch.int32
        )
        self.pending = S.pending_for(self.state) if strategy == "pruned" else None
        self.units = torch.cat([K.unit_hashes(n, seed, device) for n in sizes])
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self._span = {p.info.name: (a, a + n) for p, a, n in zip(plans, starts, sizes, strict=True)}
        self._threshold: torch.Tensor | None = None
        self._ids = torch.empty(0, dtype=torch.int64, device=device)
        self.n_examples = 0
        self.n_batches = 0
        self.started = time.perf_counter()
        self._by_call = {(p.base, p.call): p for p in plans}
        self._sequence = any(p.info.kind == "sequence" for p in plans)
        self._calls: dict[str, int] = {}
        self._batch: tuple[int, Mask | None] | None = None
        self._stash: dict[str, LayerBatch] = {}

    # The loop ------------------------------------------------------------------------------
    def loop(
        self, source: Source, group: Group, progress: bool, callback: ProgressCallback | None
    ) -> Failure | None:
        """Mine this rank's batches; a failure is returned (the statistics stay valid)."""
        from tqdm.auto import tqdm

        total = source.local_size(group.rank, group.world)
        bar = tqdm(
            total=total,
            unit="ex",
            desc="mining",
            disable=not progress or group.rank != 0,
            dynamic_ncols=True,
        )
        current: Chunk | None = None
        next_batch, next_start = 0, 0
        try:
            with torch.no_grad(), self._hooks():
                chunks = source.chunks(group.rank, group.world)
                for chunk in chunks:
                    current = chunk
                    self.step(chunk)
                    current = None
                    next_batch, next_start = chunk.number + 1, chunk.start + chunk.size
                    bar.update(chunk.size)
                    if callback is not None:
                        callback(self.progress(source, group))
        except KeyboardInterrupt as exc:
            if current is not None:
                return Failure(exc, current.number, current.start, cancelled=True)
            return Failure(exc, next_batch, next_start, cancelled=True)
        except LoadError as exc:
            cause = exc.__cause__ or exc
            return Failure(cause, exc.number, exc.start, cancelled=False)
        except Exception as exc:
            if current is not None:
                return Failure(exc, current.number, current.start, cancelled=False)
            return Failure(exc, next_batch, next_start, cancelled=False)
        finally:
            bar.close()
        return None

    def finish(self) -> S.LayerState:
        """The statistics so far, complete (pending candidates merged; int64 counts)."""
        with interrupts_deferred():
            if self.pending is not None:
                self.pending.flush()
        return S.LayerState.from_tensors(
            [t.to(torch.int64) if t is self.state.hist else t for t in self.state.tensors()]
        )

    def progress(self, source: Source, group: Group, done: bool = False) -> dict[str, Any]:
        """What the progress callback is given (host counters only: no device sync)."""
        return {
            "batch": self.n_batches,
            "examples": self.n_examples,
            "total": source.local_size(group.rank, group.world),
            "elapsed": time.perf_counter() - self.started,
            "rank": group.rank,
            "world": group.world,
            "done": done,
        }

    def step(self, chunk: Chunk) -> None:
        """Run one batch and add it to every layer's statistics (all or nothing)."""
        first_id = chunk.start + self.id_offset
        if first_id + chunk.size > K.ID_LIMIT:
            raise InputError(
                f"Example ids reach {first_id + chunk.size}; ids must stay below 2**32."
            )
        if self.n_examples + chunk.size >= 2**31:
            raise InputError(
                "One run can mine at most 2**31 - 1 examples: mine the rest with "
                "id_offset=... and merge the indexes."
            )
        batch = move(chunk.batch, self.device, self.dtype)
        mask = None
        if chunk.mask is not None and self._sequence:
            on_cpu = chunk.mask.device.type == "cpu"
            if not (on_cpu and bool(chunk.mask.all())):  # a CPU tensor: no device sync
                rows = self.strategy == "pruned" and on_cpu
                mask = Mask.build(chunk.mask, self.device, rows=rows)
        self._calls = {}
        self._stash = {}
        self._batch = (chunk.size, mask)
        self._threshold = None
        self._ids = torch.arange(first_id, first_id + chunk.size, device=self.device)
        if self.strategy == "pruned":
            self._threshold = self.state.top_key[:, -1].clone()
        try:
            last = chunk.start + chunk.size - 1
            run_forward(
                self.model,
                batch,
                self.forward,
                what=f"batch {chunk.number} (examples {chunk.start}–{last})",
            )
        finally:
            self._batch = None
        missing = [p.info.name for p in self.plans if p.info.name not in self._stash]
        if missing:
            raise LayerOutputError(
                f"Layer(s) {missing} did not run on batch {chunk.number}: mining needs every "
                "layer to run on every batch."
            )
        ids = self._ids
        stats = self._stacked()
        with interrupts_deferred():
            self.state = S.update(
                self.state, stats, ids, self.units, self.seed, self.buckets, self.pending
            )
            self.n_examples += chunk.size
            self.n_batches += 1
        self._stash = {}

    def _stacked(self) -> S.BatchStats:
        """The layers' reductions side by side, as the stacked state wants them."""
        parts = [self._stash[p.info.name] for p in self.plans]
        counts = [  # a fill, not a copy from the host: no sync on a GPU
            part.positions.expand(part.active.shape[0])
            if isinstance(part.positions, torch.Tensor)
            else torch.full(part.active.shape, part.positions, device=self.device)
            for part in parts
        ]

        def cat(tensors: list[torch.Tensor], dim: int) -> torch.Tensor:
            return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim)

        candidates = [part.candidate for part in parts if part.candidate is not None]
        return S.BatchStats(
            maxima=cat([part.maxima for part in parts], 1),
            argmax=cat([part.argmax for part in parts], 1),
            nan=cat([part.nan for part in parts], 1),
            active=cat([part.active for part in parts], 0),
            positions=cat(counts, 0),
            candidate=cat(candidates, 1) if len(candidates) == len(parts) else None,
        )

    # Hooks ---------------------------------------------------------------------------------
    @contextmanager
    def _hooks(self) -> Iterator[None]:
        """Forward hooks on the mined modules (thread-bound: the explorer may run the same
        model while this mines)."""
        modules = resolve_modules(self.model, [p.base for p in self.plans])
        with Hooks() as hooks:
            for base, module in modules.items():
                lens = self._fused(base, module)
                hooks.forward(module if lens is None else lens.base, self._hook(base, lens))
            yield

    def _fused(self, base: str, module: nn.Module) -> LensModule | None:
        """The lens whose features this module is, when mining encodes them itself from
        its base layer's output (:mod:`.lensed`: the CPU path, for a pointwise encode that
        nothing else hooks)."""
        if not isinstance(module, LensModule) or self.strategy != "pruned":
            return None
        if not module.lens.pointwise or module._forward_hooks or module._forward_pre_hooks:
            return None
        plans = [p for p in self.plans if p.base == base]
        if any(p.selector is not None or p.info.batch_axis != 0 for p in plans):
            return None
        return module

    def _hook(self, base: str, lens: LensModule | None) -> Callable[[nn.Module, Any, Any], None]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            call = self._calls.get(base, 0)
            self._calls[base] = call + 1
            plan = self._by_call.get((base, call))
            if plan is None or self._batch is None:
                return
            if lens is None:
                self._reduce(plan, output)
            else:
                self._reduce_lens(plan, lens, output)

        return hook

    def _reduce_lens(self, plan: Plan, lens: LensModule, output: Any) -> None:
        """Encode and reduce a lens's features from its base layer's ``output`` at once."""
        assert self._batch is not None
        size, mask = self._batch
        x = select(output, lens.lens.output, lens.base_name).detach()
        info = plan.info
        use = mask if mask is not None and mask.length == x.shape[1] else None
        sequence = x.ndim == 3 and x.shape[0] == size and info.kind == "sequence"
        features_last = info.unit_axis == 1 and lens.lens.feature_axis in (-1, 2)
        if not (sequence and features_last and info.n_units > 0) or (use and use.rows is None):
            self._reduce(plan, lens.features(x))  # not (B, T, D) → (B, T, F): encode it all
            return
        assert self._threshold is not None
        lo, hi = self._span[info.name]
        self._stash[info.name] = reduce_encoded(
            x,
            lens.features,
            info.n_units,
            use,
            self._threshold[lo:hi],
            self.k,
            self._ids,
            info.name,
        )

    def _reduce(self, plan: Plan, output: Any) -> None:
        assert self._batch is not None
        size, mask = self._batch
        info = plan.info
        tensor = select(output, plan.selector, info.name).detach()
        assert info.batch_axis is not None
        if tensor.ndim <= info.batch_axis or tensor.shape[info.batch_axis] != size:
            raise InputError(
                f"Layer {info.name!r} returned shape {tuple(tensor.shape)} for a batch of "
                f"{size}: its batch axis ({info.batch_axis}) should have {size} entries. "
                "Each batch must hold its examples on axis 0."
            )
        x, units_last = as_units(tensor, info.batch_axis, info.unit_axis, info.n_units, info.name)
        positions = x.shape[1 if units_last else 2]
        use = mask if mask is not None and info.kind == "sequence" else None
        if use is not None and positions != use.length:
            use = None
        threshold = None
        if self._threshold is not None:
            lo, hi = self._span[info.name]
            threshold = self._threshold[lo:hi]
        self._stash[info.name] = reduce(
            x, units_last, use, threshold, self.strategy, self.k, self._ids
        )


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, so that an update is never half-applied."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:  # a process that ignores Ctrl-C keeps ignoring it
        yield
        return
    try:
        signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, None)
            else:
                raise KeyboardInterrupt
