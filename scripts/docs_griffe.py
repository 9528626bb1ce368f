"""Griffe extension for the docs build (``mkdocs.yml`` loads it through mkdocstrings).

actscope's docstrings document parameters that go together on one line::

    Args:
        dataset, index: data to mine top-activating examples from, or a ready index.

Google style, as griffe parses it, wants one parameter per entry, and warns that a
parameter called ``dataset, index`` is not in the signature. This extension splits such
an entry into one per name, each with the whole description, before griffe parses it, so
that the warning keeps catching what it is for: a documented parameter that does not
exist.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

SECTION = re.compile(
    r"^(\s*)(Args|Arguments|Parameters|Params|Other Parameters|Keyword Args|"
    r"Keyword Arguments):\s*$"
)
GROUPED = re.compile(r"^(\s+)(\w+(?:\s*,\s*\w+)+):(.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def split_grouped(text: str) -> str:
    """``a, b: text`` entries of parameter sections as ``a: text`` and ``b: text``."""
    lines = text.split("\n")
    out: list[str] = []
    section: int | None = None  # the indent of the parameter section we are in
    i = 0
    while i < len(lines):
        line = lines[i]
        header = SECTION.match(line)
        if header:
            section = len(header.group(1))
            out.append(line)
            i += 1
            continue
        if section is not None and line.strip() and _indent(line) <= section:
            section = None
        grouped = GROUPED.match(line) if section is not None else None
        if grouped is None or section is None or len(grouped.group(1)) <= section:
            out.append(line)
            i += 1
            continue
        indent, names, first = grouped.group(1), grouped.group(2), grouped.group(3)
        j = i + 1
        while j < len(lines) and lines[j].strip() and _indent(lines[j]) > len(indent):
            j += 1
        rest = lines[i + 1 : j]
        for name in (n.strip() for n in names.split(",")):
            out.append(f"{indent}{name}:{first}")
            out.extend(rest)
        i = j
    return "\n".join(out)


class GroupedParameters(Extension):
    """Split ``a, b: ...`` parameter entries (see the module docstring)."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        doc = getattr(obj, "docstring", None)
        if doc is not None and "," in doc.value:
            doc.value = split_grouped(doc.value)
