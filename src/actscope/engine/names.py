"""Layer names: the dotted paths of ``model.named_modules()``, calls, aliases and wrappers.

A *layer* is one call of one submodule, named by its dotted path as in
``model.named_modules()`` (``"encoder.layer.3.intermediate"``); a module that runs several
times in one forward pass has one layer per call: ``name`` for the first, ``name#1``,
``name#2``... for the others.

A module reachable by several paths answers to every one of them
(``named_modules(remove_duplicate=False)``), and to the names its framework gives it:
TransformerLens' hook names (``hook_dict``: ``blocks.0.mlp.hook_post``, ``hook_embed``) and
nnsight's ``rename=`` aliases. Its *canonical* name is its first path through the fewest
private attributes (``_original_component``...), so that a TransformerLens 4 bridge shows
``blocks.0.ln1.hook_out`` as the user knows it; the others are its *aliases*.

Wrappers such as nnsight's ``NNsight`` / ``LanguageModel`` are not modules themselves;
:func:`unwrap` finds the module they wrap (``_module`` or ``model``), so that names are
those the user sees on the wrapped model.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from .errors import ActscopeError, LayerNotFoundError

CALL_SEPARATOR = "#"
_WRAPPED = ("_module", "_model", "model", "module")
_RENAMED: weakref.WeakKeyDictionary[nn.Module, dict[str, nn.Module]] = weakref.WeakKeyDictionary()
"""Per unwrapped module, the extra paths its wrapper's ``rename=`` gave (nnsight)."""
_VIRTUAL: weakref.WeakKeyDictionary[nn.Module, dict[str, tuple[str, nn.Module]]] = (
    weakref.WeakKeyDictionary()
)
"""Per model, its virtual layers (lenses): name → (base layer's canonical name, module)."""
VIRTUAL_SEPARATOR = "/"


def add_virtual(model: nn.Module, name: str, base: str, module: nn.Module) -> None:
    """Make ``name`` a layer of ``model``: ``module``, run on the output of layer ``base``
    (the model itself is not changed; a later module under the same name replaces it)."""
    _VIRTUAL.setdefault(model, {})[name] = (base, module)


def virtual_layers(model: nn.Module) -> dict[str, tuple[str, nn.Module]]:
    """The virtual layers (lenses) registered for ``model``: name → (base, module)."""
    return dict(_VIRTUAL.get(model, {}))


def split_call(name: str) -> tuple[str, int]:
    """``"block#2"`` → ``("block", 2)``; ``"block"`` → ``("block", 0)``."""
    base, sep, call = name.rpartition(CALL_SEPARATOR)
    if sep and call.isdigit():
        return base, int(call)
    return name, 0


def call_name(base: str, call: int) -> str:
    return base if call == 0 else f"{base}{CALL_SEPARATOR}{call}"


def unwrap(model: Any) -> nn.Module:
    """The ``nn.Module`` behind ``model``: itself, or the module a wrapper holds as
    ``_module`` or ``model`` (a wrapper of a wrapper too).

    Raises ``TypeError`` (naming what was given) when there is none.
    """
    if isinstance(model, nn.Module):
        return model
    holder = model
    for _ in range(8):
        inner = _wrapped(holder)
        if isinstance(inner, nn.Module):
            if any(p.is_meta for p in inner.parameters()):
                raise ActscopeError(
                    f"The {type(inner).__name__} inside this {type(model).__name__} has no "
                    "weights yet (they are on the meta device: nnsight loads them on first "
                    "use). Load them first: LanguageModel(..., dispatch=True), or run one "
                    "trace."
                )
            _remember_renames(holder, inner)
            return inner
        if inner is None:
            break
        holder = inner
    raise TypeError(
        f"model must be a torch.nn.Module, or a wrapper that holds one as _module or model "
        f"(such as nnsight's NNsight), not {type(model).__name__}."
    )


def _wrapped(wrapper: Any) -> Any:
    """What ``wrapper`` wraps: a module it holds, else a wrapper it holds, else ``None``."""
    held = []
    for attr in _WRAPPED:
        try:
            value = object.__getattribute__(wrapper, attr)
        except Exception:  # absent, or a property that cannot be computed
            continue
        if isinstance(value, nn.Module):
            return value
        if value is not None and value is not wrapper:
            held.append(value)
    for value in held:
        if any(hasattr(type(value), a) or a in getattr(value, "__dict__", {}) for a in _WRAPPED):
            return value
    return None


def _remember_renames(wrapper: Any, module: nn.Module) -> None:
    """Record the extra names an nnsight ``rename=`` gave the wrapper's modules."""
    state = getattr(wrapper, "__dict__", {})
    if not state.get("_rename"):
        _RENAMED.pop(module, None)
        return
    paths: dict[str, nn.Module] = {}
    stack: list[tuple[str, Any, int]] = [("", wrapper, 0)]
    while stack:
        prefix, envoy, depth = stack.pop()
        own = vars(envoy)
        edges = dict(own.get("_child_map") or {})
        edges.update({a: own.get(a) for a in own.get("_aliases") or {}})
        for name, child in edges.items():
            inner = vars(child).get("_module") if hasattr(child, "__dict__") else None
            if isinstance(inner, nn.Module) and depth < 64:
                path = f"{prefix}.{name}" if prefix else name
                paths[path] = inner
                stack.append((path, child, depth + 1))
    _RENAMED[module] = paths


def _tree(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every module path, in pre-order, duplicates included, the root excluded."""
    return [(p, m) for p, m in model.named_modules(remove_duplicate=False) if p]


def _hook_names(model: nn.Module) -> dict[str, nn.Module]:
    """TransformerLens' hook names (``hook_dict``, with its aliases such as
    ``blocks.0.mlp.hook_post`` and ``hook_embed``), and nnsight's renames."""
    out = dict(_RENAMED.get(model, {}))
    try:
        hooks = getattr(model, "hook_dict", None)
    except Exception:  # a property that cannot be computed: no hook names
        hooks = None
    if isinstance(hooks, Mapping):
        out.update({n: m for n, m in hooks.items() if isinstance(n, str) and n})
    return {n: m for n, m in out.items() if isinstance(m, nn.Module)}


def _private(path: str) -> int:
    return sum(1 for part in path.split(".") if part.startswith("_"))


def all_paths(model: nn.Module) -> dict[str, nn.Module]:
    """Every name of every submodule (aliases included), the root excluded."""
    paths = dict(_tree(model))
    for name, module in _hook_names(model).items():
        paths.setdefault(name, module)
    for name, (_, module) in _VIRTUAL.get(model, {}).items():
        paths[name] = module
    return paths


def canonical_names(model: nn.Module) -> dict[int, str]:
    """Each submodule's canonical name, by ``id(module)``: its first path through the
    fewest private (``_``) attributes."""
    best: dict[int, str] = {}
    for path, module in _tree(model):
        now = best.get(id(module))
        if now is None or _private(path) < _private(now):
            best[id(module)] = path
    return best


def named_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every submodule once, by canonical name, parents before children (the canonical
    names of a module's children extend its own)."""
    canonical = canonical_names(model)
    under: dict[str, list[tuple[str, nn.Module]]] = {}
    for name, (base, module) in _VIRTUAL.get(model, {}).items():
        under.setdefault(base, []).append((name, module))
    out: dict[str, nn.Module] = {}
    for path, m in _tree(model):
        if canonical[id(m)] == path:
            out[path] = m
            out.update(under.get(path, ()))
    return out


def aliases(model: nn.Module) -> dict[str, list[str]]:
    """Canonical name → its other names (public ones first), for modules with several."""
    canonical = canonical_names(model)
    out: dict[str, list[str]] = {}
    for path, module in all_paths(model).items():
        name = canonical.get(id(module))
        if name is not None and name != path:
            out.setdefault(name, []).append(path)
    return {name: sorted(paths, key=_private) for name, paths in out.items()}


def resolve_modules(model: nn.Module, names: Iterable[str] | None) -> dict[str, nn.Module]:
    """Modules by base name (``None``: every submodule once, by canonical name).

    Any name of a module is accepted (aliases too); ``name#k`` resolves to ``name``'s
    module. Unknown names raise :class:`LayerNotFoundError` with the closest names.
    """
    if names is None:
        return named_layers(model)
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
