"""Layer names: the dotted paths of ``model.named_modules()``, calls, aliases and wrappers.

A *layer* is one call of one submodule, named by its dotted path as in
``model.named_modules()`` (``"encoder.layer.3.intermediate"``); a module that runs several
times in one forward pass has one layer per call: ``name`` for the first, ``name#1``,
``name#2``... for the others.

A module reachable by several paths (TransformerLens 4's hook names such as
``blocks.0.mlp.hook_post`` alias deeper modules) answers to every one of them; the first
path ``named_modules()`` gives is its *canonical* name, the others its *aliases*.

Wrappers such as nnsight's ``NNsight`` / ``LanguageModel`` are not modules themselves;
:func:`unwrap` finds the module they wrap (``_module`` or ``model``), so that names are
those the user sees on the wrapped model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

from .errors import LayerNotFoundError

CALL_SEPARATOR = "#"
_WRAPPED = ("_module", "_model", "model", "module")


def split_call(name: str) -> tuple[str, int]:
    """``"block#2"`` → ``("block", 2)``; ``"block"`` → ``("block", 0)``."""
    base, sep, call = name.rpartition(CALL_SEPARATOR)
    if sep and call.isdigit():
        return base, int(call)
    return name, 0


def call_name(base: str, call: int) -> str:
    return base if call == 0 else f"{base}{CALL_SEPARATOR}{call}"


def unwrap(model: Any) -> nn.Module:
    """The ``nn.Module`` behind ``model``: itself, or the module a wrapper holds.

    Raises ``TypeError`` (naming what was given) when there is none.
    """
    if isinstance(model, nn.Module):
        return model
    for attr in _WRAPPED:
        try:
            inner = object.__getattribute__(model, attr)
        except AttributeError:
            continue
        if isinstance(inner, nn.Module):
            return inner
    raise TypeError(
        f"model must be a torch.nn.Module (or a wrapper of one, such as nnsight's NNsight), "
        f"not {type(model).__name__}."
    )


def all_paths(model: nn.Module) -> dict[str, nn.Module]:
    """Every path of every submodule (aliases included), the root excluded."""
    paths = dict(model.named_modules(remove_duplicate=False))
    paths.pop("", None)
    return paths


def canonical_names(model: nn.Module) -> dict[int, str]:
    """Each submodule's canonical name (its first path), by ``id(module)``."""
    return {id(m): name for name, m in model.named_modules() if name}


def aliases(model: nn.Module) -> dict[str, list[str]]:
    """Canonical name → its other paths, for modules reachable by more than one path."""
    canonical = canonical_names(model)
    out: dict[str, list[str]] = {}
    for path, module in all_paths(model).items():
        name = canonical.get(id(module))
        if name is not None and name != path:
            out.setdefault(name, []).append(path)
    return out


def resolve_modules(model: nn.Module, names: Iterable[str] | None) -> dict[str, nn.Module]:
    """Modules by base name (``None``: every submodule once, by canonical name).

    Any path of a module is accepted (aliases too); ``name#k`` resolves to ``name``'s
    module. Unknown names raise :class:`LayerNotFoundError` with the closest names.
    """
    if names is None:
        return {name: m for name, m in model.named_modules() if name}
    paths = all_paths(model)
    chosen: dict[str, nn.Module] = {}
    for name in names:
        base, _ = split_call(name)
        if base not in paths:
            raise LayerNotFoundError(name, paths)
        chosen[base] = paths[base]
    return chosen


def canonical(model: nn.Module, name: str) -> str:
    """``name`` with its module path replaced by the module's canonical one (``#k`` kept)."""
    base, call = split_call(name)
    module = resolve_modules(model, [base])[base]
    return call_name(canonical_names(model).get(id(module), base), call)
