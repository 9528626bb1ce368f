"""Capturing layer outputs with hooks that never outlive the ``with`` block.

Hooks are global state on a user's model, so every hook actscope adds is temporary by
construction: :func:`capture` is a context manager that removes its hooks in ``finally``,
whatever happens in the block (an exception, ``KeyboardInterrupt``). It adds forward hooks
and nothing else: parameters, buffers, ``training`` flags, ``requires_grad``, ``.grad`` and
the user's own hooks are left exactly as they were.

A submodule that runs several times in one forward pass is recorded once per call: the
first call under its plain name, later calls as ``name#1``, ``name#2``...

Hooks record only the forward passes of the thread that opened the ``with`` block (see
:mod:`.hooks`), so a capture running in a background thread (mining, saliency started from
the widget) and the explorer's own passes never see each other's activations.

Any path of a module names it (:mod:`.names`): a module reachable by two paths is hooked
once, and its outputs are read by either name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .batch import detach, map_tensors, tensors
from .errors import InputError, LayerNotFoundError, LayerOutputError
from .fake import is_fake
from .hooks import Hooks
from .lenses import register as register_lenses
from .names import all_paths, call_name, resolve_modules, split_call, unwrap, virtual_layers
from .outputs import OutputSelector, select


class Activations(Mapping[str, torch.Tensor]):
    """Detached layer outputs by name, filled while a :func:`capture` block runs.

    ``acts[name]`` is the selected tensor of the module's first call (``acts["x#1"]`` the
    second call's); :meth:`calls` lists every call and :meth:`raw` gives the whole output
    (a tuple, a dict...) of a call.
    """

    def __init__(
        self,
        outputs: Mapping[str, OutputSelector] | None = None,
        *,
        clone: bool = False,
        sparse: Iterable[str] = (),
        shapes_only: bool = False,
        budget: int | None = None,
        always: Iterable[str] = (),
    ) -> None:
        self._records: dict[str, list[Any]] = {}
        self._shapes_only = shapes_only
        self._budget = budget
        self._always = set(always)
        self._held = 0
        self.over_budget = False
        """With a ``budget`` (bytes): whether the outputs passed it, so that only the
        ``always`` layers were kept."""
        self._sparse = set(sparse)
        self._versions: dict[str, list[int | None]] = {}
        self._outputs = dict(outputs or {})
        self._clone = clone
        self._alias: dict[str, str] = {}  # another path of a recorded module → its record
        self.overwritten: set[str] = set()
        """Layers whose output a later module changed in place (capture again with clone=True)."""

    def _split(self, name: str) -> tuple[str, int]:
        """``(recorded base name, call)`` of a layer name given by any of its paths."""
        base, call = split_call(name)
        return self._alias.get(base, base), call

    # Mapping interface ---------------------------------------------------------------
    def __getitem__(self, name: str) -> torch.Tensor:
        raw = self.raw(name)
        if self._split(name)[0] in self.overwritten:
            raise LayerOutputError(
                f"The output of layer {name!r} was changed in place by a later module "
                "(for example ReLU(inplace=True)) after it was captured. "
                "Capture it with actscope.capture(..., clone=True)."
            )
        return select(raw, self.selector(name), name)

    def __iter__(self) -> Iterator[str]:
        for base, calls in self._records.items():
            for i in range(len(calls)):
                yield call_name(base, i)

    def __len__(self) -> int:
        return sum(len(calls) for calls in self._records.values())

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        base, call = self._split(name)
        return call < len(self._records.get(base, ()))

    def __repr__(self) -> str:
        return f"Activations({list(self)})"

    # Extras ----------------------------------------------------------------------------
    def raw(self, name: str) -> Any:
        """The whole (detached) output of one call of a layer, before selection."""
        base, call = self._split(name)
        if base not in self._records:
            raise LayerNotFoundError(name, self._records)
        calls = self._records[base]
        if call >= len(calls):
            if not calls:
                raise LayerOutputError(
                    f"Layer {base!r} did not run during the forward pass, so it has no "
                    "activations. Check that the model uses it for these inputs."
                )
            raise LayerOutputError(
                f"Layer {base!r} ran {len(calls)} time(s); there is no call {call}. "
                f"Its calls are {[call_name(base, i) for i in range(len(calls))]}."
            )
        return calls[call]

    def calls(self, name: str) -> list[torch.Tensor]:
        """The selected tensor of every call of a module, in call order."""
        base, _ = self._split(name)
        if base not in self._records:
            raise LayerNotFoundError(name, self._records)
        return [self[call_name(base, i)] for i in range(len(self._records[base]))]

    def n_calls(self, name: str) -> int:
        """How many times the module ``name`` ran (0 if it was hooked but never ran)."""
        return len(self._records.get(self._split(name)[0], ()))

    def selector(self, name: str) -> OutputSelector | None:
        """The output selector that applies to ``name`` (its own, else its module's)."""
        base, call = split_call(name)
        own, _ = self._split(name)
        for key in (name, base, call_name(own, call), own):
            if key in self._outputs:
                return self._outputs[key]
        return None

    @property
    def nbytes(self) -> int:
        """Bytes of the tensors held (a sparse one: its values and indices), each storage
        counted once (a module that returns its input shares its storage)."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for calls in self._records.values():
            for output in calls:
                for t in tensors(output):
                    parts = (t.coalesce().indices(), t.coalesce().values()) if t.is_sparse else (t,)
                    for part in parts:
                        storage = part.untyped_storage()
                        key = (storage.data_ptr(), storage.nbytes())
                        if key not in seen:
                            seen.add(key)
                            total += storage.nbytes()
        return total

    def densify_larger(self) -> None:
        """Make dense again each sparse record that takes more memory than its dense form
        (a lens whose features are mostly non-zero: a PCA, a transcoder, an untrained SAE)."""
        for name in self._sparse:
            calls = self._records.get(name, [])
            for i, t in enumerate(calls):
                if isinstance(t, torch.Tensor) and t.is_sparse:
                    sparse = t._nnz() * (t.sparse_dim() * 8 + t.element_size())
                    if sparse >= t.numel() * t.element_size():
                        calls[i] = t.to_dense()

    def update(self, other: Activations) -> None:
        """Take ``other``'s records for the layers it captured (e.g. again, with clone=True)."""
        self._alias.update(other._alias)
        for name, calls in other._records.items():
            self._records[name] = calls
            self._versions[name] = other._versions[name]
            if name in other.overwritten:
                self.overwritten.add(name)
            else:
                self.overwritten.discard(name)

    def _hook(self, name: str) -> Any:
        record: list[Any] = []
        versions: list[int | None] = []
        self._records[name] = record
        self._versions[name] = versions
        append, note = record.append, versions.append
        clone = self._clone
        sparse = name in self._sparse
        # A function that picks the tensor runs on the real output (it may need values).
        shapes_only = self._shapes_only and not any(
            callable(v) and split_call(k)[0] == name for k, v in self._outputs.items()
        )
        budgeted = self._budget is not None and name not in self._always

        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            if shapes_only:  # no memory held: the pass reuses it as a bare pass does
                note(None)
                append(map_tensors(_shape_of, output))
                return
            if budgeted and not self._within_budget(output):
                return
            if sparse and isinstance(output, torch.Tensor):  # a copy: later edits cannot reach it
                note(None)
                append(output.detach().to_sparse())
                return
            if isinstance(output, torch.Tensor):
                if clone:
                    output = output.detach().clone()
                note(None if output.is_inference() else output._version)
            else:
                note(None)
            append(output)

        return hook

    def _within_budget(self, output: Any) -> bool:
        """Count ``output`` against the budget; past it, drop every layer but the
        ``always`` ones (their memory goes back to the pass) and keep no more."""
        if self.over_budget:
            return False
        self._held += sum(t.numel() * t.element_size() for t in tensors(output))
        if self._budget is not None and self._held > self._budget:
            self.over_budget = True
            for name in [n for n in self._records if n not in self._always]:
                del self._records[name], self._versions[name]
            return False
        return True

    def _finalise(self) -> None:
        for name, calls in self._records.items():
            versions = self._versions[name]
            for output, version in zip(calls, versions, strict=True):
                if version is not None and output._version != version:
                    self.overwritten.add(name)
            calls[:] = [detach(c) for c in calls]


@contextmanager
def capture(
    model: nn.Module,
    layers: str | Iterable[str] | None = None,
    *,
    outputs: Mapping[str, OutputSelector] | None = None,
    clone: bool = False,
    lenses: Iterable[Any] | None = None,
    sparse: bool | str | Iterable[str] = False,
    shapes_only: bool = False,
) -> Iterator[Activations]:
    """Record the outputs of ``layers`` during the forward passes run inside the block.

    Args:
        model: any ``torch.nn.Module``; it is left exactly as found.
        layers: a dotted name as in ``model.named_modules()``, a list of them, or ``None``
            for every submodule.
        outputs: for layers that return tuples or dicts, which tensor to take: a path
            (``"0"``, ``"1.0"``, ``"last_hidden_state"``) or a function of the output. By
            default the first tensor.
        clone: copy each output as it is recorded. Needed only when a later module
            changes it in place (``ReLU(inplace=True)``); reading such a layer without it
            raises an error that says so.
        lenses: :class:`~actscope.Lens` objects whose features to capture as layers
            ``"<layer>/<name>"`` (see :mod:`.lenses`).
        sparse: keep outputs as sparse COO tensors (``torch.Tensor.to_sparse``: the
            non-zero values and their indices, on the model's device), each pass's dense
            output dropped as soon as it is recorded. ``True``: the captured lenses'
            features (tens active of thousands: a 16,384-feature SAE at 64 active per token
            keeps 1.75 kB a token instead of 64 kB); a name or list of names: those layers
            (a ReLU's output, say). ``acts[name].to_dense()`` gives the dense tensor.
        shapes_only: record each output's shapes and dtypes only, as tensors on the
            ``meta`` device (no values, no memory held): what :func:`list_layers` needs.

    Returns:
        An :class:`Activations` mapping, filled as the model runs; tensors are detached.

    Example::

        with actscope.capture(model, ["encoder.layer.3.intermediate"]) as acts:
            model(**batch)
        acts["encoder.layer.3.intermediate"]   # (batch, tokens, 1536)
    """
    model = unwrap(model)
    register_lenses(model, lenses)
    acts = Activations(outputs, clone=clone, shapes_only=shapes_only)
    with recording(model, layers, acts, sparse):
        yield acts


@contextmanager
def recording(
    model: nn.Module,
    layers: str | Iterable[str] | None,
    acts: Activations,
    sparse: bool | str | Iterable[str] = False,
) -> Iterator[Activations]:
    """:func:`capture` into ``acts`` (made by the caller: with a byte budget, say)."""
    names = [layers] if isinstance(layers, str) else layers
    modules = resolve_modules(model, names)
    kept_sparse = _sparse_modules(model, modules, sparse)
    hooked: dict[int, str] = {}
    for base, module in modules.items():
        if id(module) in hooked:
            acts._alias[base] = hooked[id(module)]  # two paths of one module: one hook
            continue
        hooked[id(module)] = base
    for path, module in all_paths(model).items():  # reading by any path works
        own = hooked.get(id(module))
        if own is not None and path != own:
            acts._alias.setdefault(path, own)
    acts._sparse = {hooked[i] for i in kept_sparse}
    if acts._always:  # the names records are kept under
        found = resolve_modules(model, sorted(acts._always))
        acts._always = {hooked.get(id(m), n) for n, m in found.items()}
    try:
        with Hooks() as hooks:
            for base in hooked.values():
                hooks.forward(modules[base], acts._hook(base))
            yield acts
    finally:
        acts._finalise()


def _shape_of(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's shape and dtype as a ``meta`` tensor (a fake one is kept: it holds none)."""
    if tensor.is_meta or is_fake(tensor):
        return tensor.detach()
    try:
        return tensor.detach().to("meta")
    except (RuntimeError, NotImplementedError):  # a layout without meta support
        return torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")


def _sparse_modules(
    model: nn.Module, modules: Mapping[str, nn.Module], sparse: bool | str | Iterable[str]
) -> set[int]:
    """The ids of the captured modules to keep sparse."""
    if sparse is False:
        return set()
    if sparse is True:
        lenses = {id(module) for _, module in virtual_layers(model).values()}
        return {id(module) for module in modules.values() if id(module) in lenses}
    asked = [sparse] if isinstance(sparse, str) else list(sparse)
    missing = [name for name in asked if split_call(name)[0] not in modules]
    if missing:
        raise InputError(
            f"sparse= names {missing}, which this capture does not record: name layers it "
            f"captures ({sorted(modules)[:8]}{' ...' if len(modules) > 8 else ''}), or pass "
            "sparse=True for every lens's features."
        )
    return {id(modules[split_call(name)[0]]) for name in asked}
