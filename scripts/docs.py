"""The MkDocs hook of actscope's documentation site (``mkdocs.yml`` names this file).

``make docs`` runs ``mkdocs build --strict``; this hook adds what is generated:

- the API reference lists (``<!-- api: PAGE -->`` in ``docs/api/*.md``) from
  ``actscope.__all__``, and the completeness check: a public name, an ``ActivationIndex``
  member or an ``Explorer`` member without a docstring, or a trait without its ``Type:`` /
  ``Default:`` lines, is a warning, which strict mode makes an error (``docs_api.py``);
- one page per example notebook, executed once (cached in ``build/docs/executed/``), each
  explorer a standalone page from its saved state (``docs_notebooks.py``);
- the gallery of the browser tests' screenshots (``docs_gallery.py``);
- the changelog (``CHANGELOG.md``).

Environment: ``ACTSCOPE_DOCS_NOTEBOOKS=quickstart,sharing`` builds those notebooks alone (a
quick look; strict builds then warn that the others are missing from the navigation);
``ACTSCOPE_DOCS_JOBS`` notebooks execute at a time (default 2);
``ACTSCOPE_DOCS_GALLERY=complete`` makes a missing screenshot an error (``make test``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import docs_api
import docs_gallery
import docs_notebooks
import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "build" / "docs" / "generated"
API_MARKER = re.compile(r"^<!-- api: ([\w-]+) -->$", re.MULTILINE)

log = get_plugin_logger("actscope")
_timings: dict[str, float] = {}


def _selected() -> list[Path]:
    only = os.environ.get("ACTSCOPE_DOCS_NOTEBOOKS")
    return docs_notebooks.notebooks(only.split(",") if only else None)


def on_config(config: Any) -> Any:
    """Fill the navigation's Notebooks section with one page per example notebook."""
    _timings.clear()
    _timings["start"] = time.monotonic()
    pages = ["notebooks/index.md"] + [f"notebooks/{p.stem}.md" for p in _selected()]
    for n, item in enumerate(config.nav):
        if isinstance(item, dict) and item.get("Notebooks") == "notebooks/index.md":
            config.nav[n] = {"Notebooks": pages}
    return config


def on_files(files: Files, config: Any) -> Files:
    for problem in docs_api.problems():
        log.warning("API reference: %s", problem)
    if GENERATED.exists():
        shutil.rmtree(GENERATED)
    GENERATED.mkdir(parents=True)
    written: dict[str, bytes] = {}
    written.update(_notebook_pages())
    written.update(_gallery())
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    written["changelog.md"] = changelog.encode()
    for uri, data in written.items():
        path = GENERATED / uri
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        old = files.get_file_from_path(uri)
        if old is not None:
            files.remove(old)
        files.append(File(uri, str(GENERATED), config.site_dir, config.use_directory_urls))
    return files


def _notebook_pages() -> dict[str, bytes]:
    sources = _selected()
    jobs = int(os.environ.get("ACTSCOPE_DOCS_JOBS", "2"))
    start = time.monotonic()
    try:
        executed = docs_notebooks.execute_all(sources, jobs=jobs, log=log.info)
    except RuntimeError as exc:
        raise PluginError(f"An example notebook failed to run:\n{exc}") from None
    _timings["notebooks executed"] = time.monotonic() - start
    ran = sum(1 for e in executed.values() if e.seconds)
    log.info("notebooks: %d executed, %d from the cache", ran, len(executed) - ran)
    out: dict[str, bytes] = {}
    rows = []
    figures = False
    for src in sources:
        nb = nbformat.read(executed[src.stem].path, as_version=4)
        name = f"example_notebooks/{src.name}"
        try:
            page = docs_notebooks.convert(nb, src.stem, source_name=name)
        except RuntimeError as exc:
            raise PluginError(str(exc)) from None
        out[f"notebooks/{src.stem}.md"] = page.markdown.encode()
        out[f"notebooks/{src.name}"] = src.read_bytes()  # the notebook, to download
        for rel, data in page.files.items():
            out[f"notebooks/{rel}"] = data
        figures = figures or any(rel.endswith("plotly.min.js") for rel in page.files)
        rows.append(f"| [{page.title}]({src.stem}.md) | `{name}` | {page.explorers} |")
    if figures:
        out["notebooks/outputs/plotly.min.js"] = docs_notebooks.plotly_js()
    out["notebooks/index.md"] = "\n".join(
        [
            "# Example notebooks",
            "",
            "Every notebook of `example_notebooks/`, executed on a fresh kernel when this site "
            "was built. Each explorer on these pages is its saved widget state in a standalone "
            "page (the format of `Explorer.to_html`): it works with no kernel and no network. "
            "Where a notebook did not snapshot an explorer, the build added a snapshot of its "
            "layers for the first inputs, so that you can click through them.",
            "",
            "| notebook | file | explorers |",
            "|---|---|---|",
            *rows,
            "",
        ]
    ).encode()
    return out


def _gallery() -> dict[str, bytes]:
    shots = docs_gallery.shots()
    shown = [s for s in shots if s.exists]
    missing = [s for s in shots if not s.exists]
    for shot in shots:
        if shot.test is None:
            log.warning("gallery: no browser test saves the screenshot %r", shot.name)
    if missing:
        names = ", ".join(s.name for s in missing)
        if os.environ.get("ACTSCOPE_DOCS_GALLERY") == "complete":
            log.warning("gallery: screenshots missing after the browser tests: %s", names)
        else:
            log.info("gallery: not taken yet (run the browser tests): %s", names)
    out = {f"gallery/{s.name}.png": s.path.read_bytes() for s in shown}
    out["gallery.md"] = docs_gallery.markdown(shown, missing).encode()
    return out


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace ``<!-- api: PAGE -->`` with the generated reference of that page."""
    return API_MARKER.sub(lambda m: docs_api.page_markdown(m.group(1)), markdown)


def on_post_build(config: Any) -> None:
    total = time.monotonic() - _timings.get("start", time.monotonic())
    executed = _timings.get("notebooks executed", 0.0)
    log.info("built in %.0f s (notebooks: %.0f s)", total, executed)
