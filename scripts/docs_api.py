"""The API reference of the documentation site, derived from ``actscope.__all__``.

Every public name lands on one page by what it is (a function, the explorer, the
activation index, a result class, an error), so a name added to ``__all__`` is in the
reference without anyone listing it. :func:`problems` is the completeness check the docs
build turns into warnings (and strict mode into a failure): a public name, an
``ActivationIndex`` member or an ``Explorer`` member with no docstring, or an explorer trait
whose docstring lacks its ``Type:`` or ``Default:`` line.

Docstrings are read with griffe, the loader mkdocstrings renders them with, so the check
sees what the page shows.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Function pages group by the engine module a function is defined in; modules not named
# here get a section of their own after these, titled by the module's name.
SECTIONS = [
    ("actscope.engine.layers", "Layers"),
    ("actscope.engine.capture", "Capture"),
    ("actscope.engine.ranking", "Ranking units"),
    ("actscope.engine.mining", "Top-activating examples"),
    ("actscope.engine.saliency", "Saliency"),
    ("actscope.engine.lm", "Language models"),
    ("actscope.engine.directions", "Language models"),
    ("actscope.engine.lenses", "Features (lenses)"),
    ("actscope.engine.search", "Features (lenses)"),
    ("actscope.engine.pca", "Features (lenses)"),
    ("actscope.engine.attention", "Attention"),
    ("actscope.engine.interventions", "Interventions"),
    ("actscope.engine.effects", "Interventions"),
    ("actscope.engine.patching", "Interventions"),
]
# Panel protocol the explorer's panels share: public by name, not for users.
EXPLORER_INTERNAL = {"messages", "snapshot_entries"}


@dataclass(frozen=True)
class Public:
    """One name of ``actscope.__all__`` and where it is defined."""

    name: str
    obj: Any
    path: str
    """The dotted path of its definition (``actscope.engine.capture.capture``)."""

    @property
    def page(self) -> str:
        if self.name == "Explorer":
            return "explorer"
        if self.name == "ActivationIndex":
            return "activation-index"
        if inspect.isclass(self.obj):
            return "errors" if issubclass(self.obj, BaseException) else "classes"
        return "functions"


def public() -> list[Public]:
    """The public names, in ``__all__`` order (dunders such as ``__version__`` aside)."""
    import actscope

    found = []
    for name in actscope.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(actscope, name)
        if inspect.ismodule(obj):  # actscope.lenses: its functions, as lenses.pca
            for inner in obj.__all__:
                member = getattr(obj, inner)
                if inspect.isfunction(member):
                    path = f"{member.__module__}.{member.__qualname__}"
                    found.append(Public(f"{name}.{inner}", member, path))
            continue
        path = f"{obj.__module__}.{obj.__qualname__}"
        found.append(Public(name, obj, path))
    return found


@cache
def _package() -> Any:
    import griffe

    return griffe.load("actscope", search_paths=[str(ROOT / "src")], resolve_aliases=False)


def griffe_object(path: str) -> Any:
    """The griffe object at a dotted path (aliases followed to their target)."""
    obj = _package()[path.removeprefix("actscope.")]
    return obj.final_target if obj.is_alias else obj


# -- pages -----------------------------------------------------------------------------------------


def directive(path: str, heading: str, **options: Any) -> str:
    """A mkdocstrings block for ``path``, headed by its public name."""
    lines = [f"::: {path}", "    options:", f'      heading: "{heading}"']
    lines.append(f'      toc_label: "{heading}"')
    for key, value in options.items():
        if isinstance(value, list):
            lines.append(f"      {key}:")
            lines += [f"        - {v}" for v in value]
        else:
            lines.append(f"      {key}: {str(value).lower() if isinstance(value, bool) else value}")
    return "\n".join(lines) + "\n"


def section_of(path: str) -> str:
    module = path.rsplit(".", 1)[0]
    for prefix, title in SECTIONS:
        if module == prefix or module.startswith(prefix + "."):
            return title
    return module.removeprefix("actscope.").removeprefix("engine.")


def page_markdown(page: str) -> str:
    """The generated part of ``docs/api/<page>.md``."""
    names = [p for p in public() if p.page == page]
    if page == "index":
        return index_table()
    if page == "explorer":
        return explorer_markdown()
    if page != "functions":
        return "\n".join(directive(p.path, f"actscope.{p.name}") for p in names)
    order = [title for _, title in SECTIONS]
    sections: dict[str, list[Public]] = {}
    for p in names:
        sections.setdefault(section_of(p.path), []).append(p)
    titles = sorted(sections, key=lambda t: (order.index(t) if t in order else len(order), t))
    out = []
    for title in titles:
        out.append(f"## {title}\n")
        out += [directive(p.path, f"actscope.{p.name}") for p in sections[title]]
    return "\n".join(out)


def summary(obj: Any) -> str:
    doc = obj.docstring.value if obj.docstring else ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    return first.replace("|", "\\|")


def index_table() -> str:
    pages = {
        "functions": "Functions",
        "explorer": "Explorer",
        "activation-index": "ActivationIndex",
        "classes": "Result classes",
        "errors": "Errors",
    }
    rows = ["| name | what | page |", "|---|---|---|"]
    for p in sorted(public(), key=lambda p: p.name.lower()):
        link = f"[`actscope.{p.name}`][{p.path}]"
        rows.append(f"| {link} | {summary(griffe_object(p.path))} | {pages[p.page]} |")
    return "\n".join(rows) + "\n"


# -- the explorer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    name: str
    kind: str
    """trait, method or attribute"""
    owner: str
    """The class that defines it (``SaliencyPanel``)."""


def synced_traits() -> set[str]:
    """The explorer's synced traits that actscope declares (as ``sharing.widget_state``)."""
    from actscope.widget import Explorer

    names: set[str] = set()
    for cls in Explorer.__mro__:
        if cls.__module__.startswith("actscope") and hasattr(cls, "class_own_traits"):
            names |= {n for n in cls.class_own_traits(sync=True) if not n.startswith("_")}
    return names


def explorer_members() -> list[Member]:
    """What actscope adds to ``anywidget.AnyWidget``, in source order, panel by panel."""
    import anywidget

    inherited = set(dir(anywidget.AnyWidget))
    traits = synced_traits()
    cls = griffe_object("actscope.widget.explorer.Explorer")
    members = []
    for name, member in cls.all_members.items():
        if name.startswith("_") or name in EXPLORER_INTERNAL:
            continue
        if name in inherited and name not in traits:
            continue  # set_state, send...: the widget protocol
        target = member.final_target if member.is_alias else member
        owner = target.parent.name
        kind = "trait" if name in traits else "method" if target.is_function else "attribute"
        members.append(Member(name, kind, owner))
    return members


def explorer_markdown() -> str:
    path = "actscope.widget.explorer.Explorer"
    out = [directive(path, "actscope.Explorer", members=False, show_bases=False)]
    members = explorer_members()
    groups: dict[str, list[Member]] = {}
    for m in members:
        if m.kind == "trait":
            groups.setdefault(m.owner, []).append(m)
    # The explorer's own traits first, then each panel's in the order of its bases.
    from actscope.widget import Explorer

    mro = [cls.__name__ for cls in Explorer.__mro__]
    groups = dict(sorted(groups.items(), key=lambda kv: mro.index(kv[0]) if kv[0] in mro else 99))
    out.append("## Traits\n")
    out.append(
        "Synced with the front end: read them for the selection, set them to drive the view. "
        "A bad value raises, shows in the widget, and the trait keeps its last good value.\n"
    )
    for owner, traits in groups.items():
        title = "The explorer" if owner == "Explorer" else panel_title(owner)
        out.append(f"### {title}\n")
        for m in traits:
            out.append(directive(f"{path}.{m.name}", m.name, heading_level=4, show_labels=False))
    out.append("## Methods and attributes\n")
    for m in members:
        if m.kind != "trait":
            out.append(directive(f"{path}.{m.name}", f"Explorer.{m.name}", heading_level=3))
    return "\n".join(out)


def panel_title(owner: str) -> str:
    """``LayerViewPanel`` → ``Layer view panel``."""
    words = []
    for ch in owner:
        if ch.isupper() and words:
            words.append(" ")
        words.append(ch.lower() if words else ch)
    return "".join(words)


# -- the completeness check ----------------------------------------------------------------------


def problems() -> list[str]:
    """Every public name, member and trait the reference would show without a docstring."""
    found = []
    for p in public():
        obj = griffe_object(p.path)
        if obj.docstring is None:
            found.append(f"actscope.{p.name} ({p.path}) has no docstring")
        if obj.is_class and p.name != "Explorer":
            for name, member in obj.all_members.items():
                target = member.final_target if member.is_alias else member
                if name.startswith("_") or not target.path.startswith("actscope."):
                    continue
                needs_doc = p.name == "ActivationIndex" or target.is_function
                if needs_doc and target.docstring is None:
                    found.append(f"actscope.{p.name}.{name} has no docstring")
    cls = griffe_object("actscope.widget.explorer.Explorer")
    for m in explorer_members():
        member = cls.all_members[m.name]
        target = member.final_target if member.is_alias else member
        doc = target.docstring.value if target.docstring else ""
        where = f"actscope.Explorer.{m.name} ({target.path})"
        if not doc:
            found.append(f"{where} has no docstring")
        elif m.kind == "trait":
            found += [f"{where}: its docstring has no '{k}' line" for k in ("Type:", "Default:") if k not in doc]
    return found
