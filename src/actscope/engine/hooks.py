"""Temporary module hooks: the only way actscope hooks a user's model.

Hooks are global state on a user's model, so every hook actscope adds lives inside a
``with Hooks() as hooks:`` block and is removed in ``finally`` when the block ends, however
it ends (an exception, ``KeyboardInterrupt``, a generator closed early). They are also
*thread-bound*: a hook runs only for forward passes of the thread that opened the block,
so a background job (mining, saliency) and the explorer's own passes on the same model
never see each other's hooks.

Example::

    with Hooks() as hooks:
        hooks.forward(model.encoder.layer[3], lambda module, args, output: print(output.shape))
        model(**batch)
    # no hook is left on the model here
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle

ForwardHook = Callable[[nn.Module, tuple[Any, ...], Any], Any]
PreHook = Callable[[nn.Module, tuple[Any, ...]], Any]


def this_thread_only(hook: Callable[..., Any], owner: int | None = None) -> Callable[..., Any]:
    """``hook``, run only for calls from thread ``owner`` (default: the calling thread)."""
    ident = threading.get_ident() if owner is None else owner

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == ident:
            return hook(*args, **kwargs)
        return None

    return guarded


def as_seen(module: nn.Module, hook: ForwardHook) -> ForwardHook:
    """``hook``, given the output as the user sees it: a TransformerLens ``HookPoint`` with
    a ``hook_conversion`` (TransformerLens 4 shows ``hook_q``... per head) shows its output
    converted (and a value the hook returns is converted back), as in ``run_with_cache``."""
    conversion = getattr(module, "hook_conversion", None)
    convert = getattr(conversion, "convert", None)
    revert = getattr(conversion, "revert", None)
    if not callable(convert) or not callable(revert):
        return hook

    def seen(mod: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        result = hook(mod, args, convert(output))
        return None if result is None else revert(result)

    return seen


_LIVE: set[int] = set()
"""The ids of the handles of every hook a ``Hooks`` block holds now, in any thread."""
_LIVE_LOCK = threading.Lock()


def live_hook_ids() -> set[int]:
    """The handle ids (keys in a module's hook dicts) of the hooks actscope holds now."""
    with _LIVE_LOCK:
        return set(_LIVE)


class VirtualModule(nn.Module):
    """A module that is not part of the model but runs on one of its modules' output (a
    :class:`~actscope.engine.lenses.Lens`'s features): hooking it with :class:`Hooks` also
    hooks ``base`` with :meth:`drive`, once per thread however many blocks hook it."""

    base: nn.Module

    def drive(self, _module: nn.Module, _args: tuple[Any, ...], output: Any) -> Any:
        """The forward hook on ``base`` that runs this module (and its hooks)."""
        raise NotImplementedError

    def driver_hooks(self) -> list[tuple[nn.Module, ForwardHook]]:
        """Every forward hook that driving needs: :meth:`drive` on ``base``, and any other
        (a transcoder's write into another layer)."""
        return [(self.base, self.drive)]


_DRIVERS: dict[tuple[int, int | None], list[Any]] = {}
"""(id of a virtual module, owning thread or None for all) → [handles, blocks using it]."""


def _drive(virtual: VirtualModule, owner: int | None) -> Callable[[], None]:
    """Hook ``virtual.base`` with its driver for thread ``owner`` (shared by every block
    that hooks ``virtual`` in that thread); returns the release."""
    key = (id(virtual), owner)
    with _LIVE_LOCK:
        entry = _DRIVERS.get(key)
        if entry is None:
            handles = []
            for module, driver in virtual.driver_hooks():
                hook = as_seen(module, driver)
                bound = hook if owner is None else this_thread_only(hook, owner)
                handles.append(module.register_forward_hook(bound))
            _LIVE.update(h.id for h in handles)
            entry = _DRIVERS[key] = [handles, 0]
        entry[1] += 1

    def release() -> None:
        with _LIVE_LOCK:
            entry[1] -= 1
            if entry[1] == 0 and _DRIVERS.get(key) is entry:
                del _DRIVERS[key]
                for handle in entry[0]:
                    handle.remove()
                    _LIVE.discard(handle.id)

    return release


class Hooks:
    """A set of module hooks that exists only inside its ``with`` block.

    Args:
        all_threads: run the hooks for every thread's forward passes, not only for the
            thread that opened the block (for code that runs the model on worker threads).
    """

    def __init__(self, *, all_threads: bool = False) -> None:
        self._handles: list[RemovableHandle] = []
        self._releases: list[Callable[[], None]] = []
        self._open = False
        self._all_threads = all_threads
        self._owner = threading.get_ident()

    def __enter__(self) -> Hooks:
        self._open = True
        self._owner = threading.get_ident()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook of the block now (also done when the block ends)."""
        self._open = False
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()
        with _LIVE_LOCK:
            _LIVE.difference_update(h.id for h in handles)
        releases, self._releases = self._releases, []
        for release in releases:
            release()

    def keep(self, handle: RemovableHandle) -> None:
        """Hold ``handle`` (a hook registered on this block's behalf) until the block ends."""
        with _LIVE_LOCK:
            _LIVE.add(handle.id)
        self._handles.append(handle)

    def _bind(self, hook: Callable[..., Any]) -> Callable[..., Any]:
        if not self._open:
            raise RuntimeError("Hooks can be added only inside their `with Hooks():` block.")
        return hook if self._all_threads else this_thread_only(hook, self._owner)

    def forward(self, module: nn.Module, hook: ForwardHook, *, prepend: bool = False) -> None:
        """Call ``hook(module, args, output)`` after each call of ``module``; a value it
        returns replaces the output. The output is as the module's framework shows it
        (:func:`as_seen`)."""
        bound = self._bind(as_seen(module, hook))
        self.keep(module.register_forward_hook(bound, prepend=prepend))
        if isinstance(module, VirtualModule):
            self._releases.append(_drive(module, None if self._all_threads else self._owner))

    def pre(self, module: nn.Module, hook: PreHook, *, prepend: bool = False) -> None:
        """Call ``hook(module, args)`` before each call of ``module``; a value it returns
        replaces the positional arguments."""
        self.keep(module.register_forward_pre_hook(self._bind(hook), prepend=prepend))
        if isinstance(module, VirtualModule):
            self._releases.append(_drive(module, None if self._all_threads else self._owner))

    def __len__(self) -> int:
        return len(self._handles)
