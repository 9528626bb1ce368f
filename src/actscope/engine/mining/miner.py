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

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from ..batch import move
from ..discovery import list_layers
from ..errors import ActscopeError, InputError, LayerOutputError
from ..forward import ForwardFn, run_forward
from ..inputs import model_float_dtype, resolve_device
from ..layers import LayerInfo
from ..lenses import register as register_lenses
from ..names import canonical, resolve_modules, split_call, unwrap
from ..outputs import OutputSelector
from . import keys as K
from . import state as S
from .distributed import Group, comm_device, current_group, exchange, reduce_states
from .index import ActivationIndex
from .meta import LayerMeta, Settings
from .ready import Probe
from .reduce import Strategy
from .run import Failure, Plan, ProgressCallback, Run
from .sources import Source, head, make_source


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
    batches: bool | None = None,
    lenses: Sequence[Any] | None = None,
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
            both give identical results (see :mod:`actscope.engine.mining.reduce`).
        batches: whether the items of an ``IterableDataset``, of a ``DataLoader`` with
            ``batch_size=None`` or of a list are ready batches (``True``) or single
            examples (``False``). By default a ``batch_size=None`` loader yields batches
            (as PyTorch means it) and otherwise the first item decides: items the model
            runs on as they are, but not with a batch axis added, are batches.
        lenses: :class:`~actscope.Lens` objects, to mine their features as layers
            ``"<layer>/<name>"`` (a lens's features are its units).

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
    model = unwrap(model)
    register_lenses(model, lenses)
    _positive("k", k)
    _positive("batch_size", batch_size)
    _positive("reservoir", reservoir)
    if id_offset < 0:
        raise InputError(f"id_offset must be >= 0, not {id_offset}.")
    asked = [layers] if isinstance(layers, str) else list(dict.fromkeys(layers))
    if not asked:
        raise InputError(
            "No layers to mine: pass layers=[...] (actscope.list_layers(model, example) shows "
            "the names)."
        )
    resolve_modules(model, asked)  # unknown names raise with suggestions
    # Every path of a module names it; the index files each layer under the name asked for.
    names = list(dict.fromkeys(asked))
    buckets = K.Buckets(bits=histogram_bits)
    dev = resolve_device(model, device)
    chosen: Literal["full", "pruned"] = (
        ("pruned" if dev.type == "cpu" else "full") if strategy == "auto" else strategy
    )
    group = current_group(distributed)
    source = make_source(
        dataset,
        batch_size=batch_size,
        tokenizer=tokenizer,
        max_length=max_length,
        batches=batches,
        probe=forward_probe(model, forward, dev),
    )
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
    run = Run(model, plans, forward, dev, k, reservoir, seed, buckets, chosen, id_offset)
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


def forward_probe(model: nn.Module, forward: ForwardFn | None, device: torch.device) -> Probe:
    """Runs the model on a batch (no gradients): ``None`` if it ran, else the error."""
    dtype = model_float_dtype(model)

    def probe(batch: Any) -> str | None:
        try:
            with torch.no_grad():
                run_forward(model, move(batch, device, dtype), forward, what="the first item")
        except Exception as exc:  # the caller words the outcome
            return str(exc) if isinstance(exc, ActscopeError) else f"{type(exc).__name__}: {exc}"
        return None

    return probe


def probe_layers(
    model: nn.Module,
    batch: Any,
    names: Sequence[str],
    *,
    forward: ForwardFn | None,
    outputs: Mapping[str, OutputSelector] | None,
    unit_axes: Mapping[str, int] | None,
    device: torch.device,
) -> list[Plan]:
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
        run=device.type == "cpu",  # one example for real: cheaper than a fake pass's Python
    )
    infos = {i.name: i for i in described}
    plans = []
    for name in names:
        base, call = split_call(name)
        own = split_call(canonical(model, name))[0]
        info = infos.get(canonical(model, name))
        if info is not None and info.name != name:  # an alias: filed under the name asked for
            info = dataclasses.replace(info, name=name)
        ran = max((i.calls for i in described if split_call(i.name)[0] == own), default=0)
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
        plans.append(Plan(info, base, call, selector))
    return plans


# -- helpers -------------------------------------------------------------------------------------


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
        "batches": source.batches,
    }


def _interrupted(failure: Failure, index: ActivationIndex, group: Group) -> MiningInterrupted:
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
        "and use its .index (`except actscope.MiningInterrupted as err: index = "
        "err.index`; in a notebook, `sys.last_value.index`). To finish, mine the remaining "
        "examples with id_offset=<id of the first> and merge them into it."
    )
    cls = MiningCancelled if failure.cancelled else MiningInterrupted
    return cls(head_line + rest, index, failure.batch, failure.start)
