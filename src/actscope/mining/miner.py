"""``actscope.mine``: one streaming pass over a dataset → an :class:`ActivationIndex`.

Each batch runs through the model once, with temporary forward hooks on the chosen layers.
A hook reduces its layer's output on the spot (per-example maxima, their positions,
active counts: :mod:`.reduce`) and keeps nothing else; after the forward pass, every
layer's statistics take the batch in (:mod:`.state`). Everything stays on the model's
device. On a GPU nothing is read back to the host inside the loop (moving each batch to
the device is the only transfer, as in any forward loop), so the GPU never waits; on the
CPU, where reading a count costs nothing, the loop reads a few to skip work.

A batch is added to all layers or to none: if the dataset or the model raises, or the user
presses Ctrl-C, the statistics hold exactly the batches before it, and the error carries
them as a valid index (:class:`MiningInterrupted`).
"""

from __future__ import annotations

import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from .._structure import OutputSelector, select
from ..capture import resolve_modules, split_call, this_thread_only
from ..errors import ActscopeError, InputError, LayerOutputError
from ..inputs import ForwardFn, model_float_dtype, move, resolve_device
from ..layers import LayerInfo, list_layers
from ..runner import run_forward
from . import keys as K
from . import state as S
from .distributed import Group, comm_device, current_group, exchange, reduce_states
from .index import ActivationIndex, LayerMeta, Settings
from .reduce import LayerBatch, Mask, Strategy, as_units, reduce
from .sources import Chunk, LoadError, Source, head, make_source

ProgressCallback = Callable[[dict[str, Any]], None]


class MiningInterrupted(ActscopeError):  # noqa: N818 - named like KeyboardInterrupt, its kin
    """Mining stopped part-way; ``.index`` holds every batch before the one that failed.

    Attributes:
        index: a valid :class:`ActivationIndex` of the examples mined so far.
        batch: the number of the batch that failed (0-based, in dataset order).
        start: the id of that batch's first example, when known.
    """

    def __init__(self, message: str, index: ActivationIndex, batch: int, start: int | None) -> None:
        super().__init__(message)
        self.index = index
        self.batch = batch
        self.start = start


class MiningCancelled(MiningInterrupted, KeyboardInterrupt):
    """Ctrl-C during mining: still a ``KeyboardInterrupt``, with the partial ``.index``."""


@dataclass(frozen=True)
class _Plan:
    """One layer to mine: what discovery said of it, and how to find it in a forward pass."""

    info: LayerInfo
    base: str
    call: int
    selector: OutputSelector | None


@dataclass
class _Failure:
    error: BaseException
    batch: int
    start: int | None
    cancelled: bool


def mine(
    model: nn.Module,
    dataset: Any,
    layers: str | Sequence[str],
    k: int = 20,
    *,
    batch_size: int = 32,
    device: str | torch.device = "auto",
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    outputs: Mapping[str, OutputSelector] | None = None,
    unit_axes: Mapping[str, int] | None = None,
    max_length: int = 512,
    seed: int = 0,
    reservoir: int = 100,
    histogram_bits: int = 3,
    id_offset: int = 0,
    distributed: bool | None = None,
    progress: bool = True,
    callback: ProgressCallback | None = None,
    strategy: Strategy = "auto",
) -> ActivationIndex:
    """Find, for every unit of ``layers``, the dataset examples that activate it most.

    One pass over ``dataset``, with memory O(layers × units × (k + reservoir + buckets))
    whatever the dataset's size. For each unit it keeps:

    - the ``k`` examples with the largest *per-example maximum* (the unit's largest value at
      any valid position: token, pixel), with the position of that maximum; ties go to the
      lower example id, so the result equals a brute-force sort exactly;
    - a histogram of per-example maxima in log-spaced buckets, from which quantiles are
      estimated within one bucket's width (12.5% with the default ``histogram_bits=3``);
    - a seeded uniform sample of ``reservoir`` examples, from which
      :meth:`ActivationIndex.quantile_samples` draws examples per quantile band;
    - over every valid position, how often the unit is > 0 (its active fraction).

    Padding (``attention_mask == 0``) is ignored for sequence layers whose length matches
    the mask. Values are the layer's output as it returns, before any later in-place op.

    Args:
        model: any ``torch.nn.Module``, on its device; it is run under ``torch.no_grad()``
            and left exactly as found (mining never calls ``.eval()``: do that first).
        dataset: a list of strings (with ``tokenizer``), tensors or dicts; a batch tensor
            ``(N, ...)``; a dict of batched tensors; a torch ``Dataset``, ``IterableDataset``
            or ``DataLoader`` (without shuffling); or any iterable of batches. An example's
            id is its position in the dataset, plus ``id_offset``.
        layers: a layer name (dotted, as in ``model.named_modules()``; ``name#1`` for a
            module's second call) or a list of them.
        k: top examples kept per unit. A dataset smaller than ``k`` is fine: the slots
            stay empty (so that shards still merge exactly), ``top`` returns what there is,
            and a warning says so.
        batch_size: examples per forward pass (ignored for a ``DataLoader`` or an iterable
            of batches, which batch themselves).
        device: ``"auto"``: where the model is. actscope never moves the model.
        tokenizer: a Hugging Face tokenizer, for strings (and to pad token dicts).
        forward: how a batch is fed, ``forward(model, batch)``; e.g.
            ``lambda model, batch: model(batch[0])`` for ``(input, label)`` batches.
        outputs: per layer, which tensor of a tuple/dict output (see ``actscope.capture``).
        unit_axes: per layer, the axis of one example's output that holds units.
        max_length: tokens kept per text.
        seed: seeds the per-unit samples (the same seed gives the same samples, however
            the data is batched or sharded).
        reservoir: examples sampled per unit for the quantile bands.
        histogram_bits: buckets per power of two are ``2**histogram_bits``.
        id_offset: the id of the dataset's first example, to mine a shard by hand and
            :meth:`~ActivationIndex.merge` it with the others.
        distributed: ``None`` mines in parallel when ``torch.distributed`` is initialised
            (each rank a share of the data, merged with collectives; every rank returns the
            whole index); ``False`` mines only what this process is given.
        progress: show a tqdm progress bar.
        callback: called after every batch with a dict: ``batch``, ``examples``, ``total``
            (``None`` if unknown), ``elapsed`` (seconds), ``rank``, ``world``, ``done``.
        strategy: ``"auto"`` (``"pruned"`` on the CPU, ``"full"`` elsewhere) or either one;
            both give identical results (see :mod:`actscope.mining.reduce`).

    Returns:
        An :class:`ActivationIndex` (tensors on the CPU).

    Raises:
        MiningInterrupted: the dataset or the model raised part-way; ``err.index`` holds
            everything before the failing batch. Ctrl-C raises :class:`MiningCancelled`
            (a ``KeyboardInterrupt``) with the same ``.index``.

    Example::

        from actscope.demo.text import MLP_LAYERS, corpus, load_minilm
        model, tokenizer = load_minilm()
        index = actscope.mine(model, corpus(2000), layers=MLP_LAYERS, k=20,
                              tokenizer=tokenizer, batch_size=64)
        index.top(MLP_LAYERS[3], 1187)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    _positive("k", k)
    _positive("batch_size", batch_size)
    _positive("reservoir", reservoir)
    if id_offset < 0:
        raise InputError(f"id_offset must be >= 0, not {id_offset}.")
    names = [layers] if isinstance(layers, str) else list(dict.fromkeys(layers))
    if not names:
        raise InputError(
            "No layers to mine: pass layers=[...] (actscope.list_layers(model, example) shows "
            "the names)."
        )
    resolve_modules(model, names)  # unknown names raise with suggestions
    buckets = K.Buckets(bits=histogram_bits)
    dev = resolve_device(model, device)
    chosen: Literal["full", "pruned"] = (
        ("pruned" if dev.type == "cpu" else "full") if strategy == "auto" else strategy
    )
    group = current_group(distributed)
    source = make_source(dataset, batch_size=batch_size, tokenizer=tokenizer, max_length=max_length)
    first = _first_batch(source)
    if model.training:
        warnings.warn(
            f"The {type(model).__name__} is in training mode, so dropout makes mining "
            "random: call model.eval() first.",
            stacklevel=2,
        )
    plans = probe_layers(
        model, first, names, forward=forward, outputs=outputs, unit_axes=unit_axes, device=dev
    )
    run = _Run(model, plans, forward, dev, k, reservoir, seed, buckets, chosen, id_offset)
    failure = run.loop(source, group, progress, callback)

    state, n_examples, failed_ranks = run.finish(), run.n_examples, []
    if group.active:
        where = comm_device(dev)
        status = [int(failure is not None), failure.batch if failure else -1, run.n_examples]
        statuses = exchange(status, where)
        failed_ranks = [r for r, s in enumerate(statuses) if s[0]]
        n_examples = sum(s[2] for s in statuses)
        state = reduce_states({"all": state}, S.merge, group, where)["all"]
    parts = S.split(state.to("cpu"), [p.info.n_units for p in plans])
    index = ActivationIndex(
        [_meta(p.info) for p in plans],
        {p.info.name: part for p, part in zip(plans, parts, strict=True)},
        n_examples=n_examples,
        settings=Settings(
            k=k,
            reservoir=reservoir,
            seed=seed,
            buckets=buckets,
            model=type(model).__name__,
            extra=_settings(source, batch_size, max_length, tokenizer, id_offset, group, chosen),
        ),
    )
    if callback is not None and failure is None:
        callback(run.progress(source, group, done=True))
    if failure is not None:
        raise _interrupted(failure, index, group) from failure.error
    if failed_ranks:
        raise MiningInterrupted(
            f"Mining stopped on rank(s) {failed_ranks} (see their errors). The merged index "
            f"of the {n_examples} examples mined by all ranks is in this error's .index.",
            index,
            -1,
            None,
        )
    if index.n_examples < k:
        warnings.warn(
            f"k={k} is more than the dataset's {index.n_examples} examples: each unit lists "
            f"all {index.n_examples}.",
            stacklevel=2,
        )
    return index


def probe_layers(
    model: nn.Module,
    batch: Any,
    names: Sequence[str],
    *,
    forward: ForwardFn | None,
    outputs: Mapping[str, OutputSelector] | None,
    unit_axes: Mapping[str, int] | None,
    device: torch.device,
) -> list[_Plan]:
    """What each layer returns, from the dataset's first example (and it doubled).

    Raises :class:`LayerOutputError` for a layer that did not run, returns no tensor or has
    no batch axis.
    """
    described = list_layers(
        model,
        head(batch, 1),
        forward=forward,
        device=device,
        outputs=outputs,
        unit_axes=unit_axes,
        layers=names,
        what="the dataset's first example",
    )
    infos = {i.name: i for i in described}
    plans = []
    for name in names:
        base, call = split_call(name)
        info = infos.get(name)
        ran = max((i.calls for i in described if split_call(i.name)[0] == base), default=0)
        if info is None or ran == 0:
            raise LayerOutputError(
                f"Layer {base!r} ran {ran} time(s) on the dataset's first example, so it has "
                f"no call {name!r}."
                if ran
                else f"Layer {base!r} did not run on the dataset's "
                "first example. Check that the model uses it for these inputs."
            )
        if info.shape is None or info.kind == "none":
            raise LayerOutputError(
                f"Layer {name!r} returns no tensor (its outputs: {info.outputs or 'none'}). "
                "Pick a tensor with outputs={...} or choose another layer."
            )
        if info.batch_axis is None:
            raise LayerOutputError(
                f"Layer {name!r} gives the same output for every example (it has no batch "
                "axis), so it has nothing to mine. Choose another layer."
            )
        selector = (outputs or {}).get(name, (outputs or {}).get(base))
        plans.append(_Plan(info, base, call, selector))
    return plans


class _Run:
    """The streaming pass: hooks, per-batch reduction, and the running statistics."""

    def __init__(
        self,
        model: nn.Module,
        plans: list[_Plan],
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
    ) -> _Failure | None:
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
                return _Failure(exc, current.number, current.start, cancelled=True)
            return _Failure(exc, next_batch, next_start, cancelled=True)
        except LoadError as exc:
            cause = exc.__cause__ or exc
            return _Failure(cause, exc.number, exc.start, cancelled=False)
        except Exception as exc:
            if current is not None:
                return _Failure(exc, current.number, current.start, cancelled=False)
            return _Failure(exc, next_batch, next_start, cancelled=False)
        finally:
            bar.close()
        return None

    def finish(self) -> S.LayerState:
        """The statistics so far, complete (pending candidates merged; int64 counts)."""
        with _interrupts_deferred():
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
        with _interrupts_deferred():
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
        modules = resolve_modules(self.model, [p.base for p in self.plans])
        handles = []
        try:
            for base, module in modules.items():
                # Thread-bound: the explorer may run the same model while this mines.
                handles.append(module.register_forward_hook(this_thread_only(self._hook(base))))
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _hook(self, base: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            call = self._calls.get(base, 0)
            self._calls[base] = call + 1
            plan = self._by_call.get((base, call))
            if plan is None or self._batch is None:
                return
            self._reduce(plan, output)

        return hook

    def _reduce(self, plan: _Plan, output: Any) -> None:
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


# -- helpers -------------------------------------------------------------------------------------


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
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


def _first_batch(source: Source) -> Any:
    empty = InputError(
        "The dataset is empty: mining needs at least one example (check the dataset, or the "
        "filter or split that produced it)."
    )
    if source.size == 0:
        raise empty
    try:
        return source.first()
    except StopIteration:
        raise empty from None


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive int, not {value!r}.")


def _meta(info: LayerInfo) -> LayerMeta:
    assert info.shape is not None
    assert info.batch_axis is not None
    return LayerMeta(
        name=info.name,
        kind=info.kind,
        shape=info.shape,
        unit_axis=info.unit_axis,
        n_units=info.n_units,
        batch_axis=info.batch_axis,
        output=info.output,
        type=info.type,
    )


def _settings(
    source: Source,
    batch_size: int,
    max_length: int,
    tokenizer: Any,
    id_offset: int,
    group: Group,
    strategy: str,
) -> dict[str, Any]:
    name = getattr(tokenizer, "name_or_path", None) if tokenizer is not None else None
    return {
        "dataset": source.description,
        "dataset_size": source.size,
        "batch_size": batch_size,
        "max_length": max_length,
        "tokenizer": str(name) if name else (type(tokenizer).__name__ if tokenizer else None),
        "id_offset": id_offset,
        "world_size": group.world,
        "strategy": strategy,
    }


def _interrupted(failure: _Failure, index: ActivationIndex, group: Group) -> MiningInterrupted:
    where = f"batch {failure.batch}"
    if failure.start is not None:
        where += f" (examples from id {failure.start})"
    if group.active:
        where += f" on rank {group.rank}"
    if failure.cancelled:
        head_line = f"Mining was interrupted at {where}."
    else:
        error = failure.error
        head_line = f"Mining stopped at {where}: {type(error).__name__}: {error}"
    scope = "by all ranks" if group.active else "before it"
    rest = (
        f" The index of the {index.n_examples} examples mined {scope} is kept: catch the error "
        "and use its .index (`except actscope.mining.MiningInterrupted as err: index = "
        "err.index`; in a notebook, `sys.last_value.index`). To finish, mine the remaining "
        "examples with id_offset=<id of the first> and merge them into it."
    )
    cls = MiningCancelled if failure.cancelled else MiningInterrupted
    return cls(head_line + rest, index, failure.batch, failure.start)
