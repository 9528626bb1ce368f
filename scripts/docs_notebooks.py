"""The example notebooks as pages of the documentation site.

:func:`execute_all` runs each notebook once on a fresh kernel (nbclient, which saves the
widget state), a few at a time, and keeps the executed copy in ``build/docs/executed/``
under a key of the notebook, the package sources and the pins: a second build with
nothing changed executes nothing. Before the kernel stops, one extra cell (removed again)
adds a snapshot to each explorer that has none, so that a reader can click through its
layers and inputs on the page.

:func:`convert` turns an executed notebook into a Markdown page. Each explorer output
becomes an iframe of a standalone page (``actscope.widget.sharing.page``, the format of
``Explorer.to_html``) built from that explorer's saved widget state; each plotly figure a
page of its own that loads plotly.js from the site; images become files. Nothing loads
from the network.

Run as a script, ``python scripts/docs_notebooks.py execute SRC DEST`` executes one
notebook (the build runs these in parallel).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "example_notebooks"
EXECUTED = ROOT / "build" / "docs" / "executed"
# The order of the notebooks in the navigation; others follow, by name.
ORDER = [
    "quickstart",
    "transformer_neurons",
    "top_activating_examples",
    "saliency",
    "language_model",
    "sharing",
]
CELL_TIMEOUT_S = 300
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY = "application/vnd.plotly.v1+json"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Runs after the notebook's own cells; its output (JSON) says what it added, by model id.
SNAPSHOT_CELL = """
import gc as _gc, json as _json
from actscope import ActscopeError as _ActscopeError
from actscope.widget import Explorer as _Explorer

def _actscope_docs_snapshots(max_inputs=8, max_bytes=4_000_000):
    added = {}
    for ex in [o for o in _gc.get_objects() if issubclass(type(o), _Explorer)]:
        ex.wait()
        if ex.snapshot_data or ex.model_id is None:
            continue
        inputs = range(min(max_inputs, len(ex.session.inputs)))
        units = [ex.unit] if ex.unit is not None else None
        saliency = [ex.saliency_method] if ex.saliency_method else []
        for layers in (None, [ex.layer]):
            try:
                info = ex.snapshot(layers, inputs, units, saliency=saliency, max_bytes=max_bytes)
            except _ActscopeError:
                continue
            added[ex.model_id] = str(info)
            break
    return added

print("actscope-docs:", _json.dumps(_actscope_docs_snapshots()))
"""


def notebooks(only: Iterable[str] | None = None) -> list[Path]:
    """The example notebooks in navigation order (``only``: those stems alone)."""
    found = sorted(NOTEBOOKS.glob("*.ipynb"))
    rank = {stem: i for i, stem in enumerate(ORDER)}
    found.sort(key=lambda p: (rank.get(p.stem, len(ORDER)), p.stem))
    if only is not None:
        wanted = set(only)
        found = [p for p in found if p.stem in wanted]
    return found


# -- execution ------------------------------------------------------------------------------------


def fingerprint() -> str:
    """What an executed notebook depends on besides itself: the package and the pins."""
    digest = hashlib.sha256(SNAPSHOT_CELL.encode())
    sources = [ROOT / "scripts" / "constraints.txt", ROOT / "pyproject.toml"]
    sources += sorted(
        p for p in (ROOT / "src" / "actscope").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    for path in sources:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def execute_one(source: Path, dest: Path) -> None:
    """Execute ``source`` on a fresh kernel in a scratch folder; write it to ``dest``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SNAPSHOT_CELL))
    with tempfile.TemporaryDirectory() as scratch:
        NotebookClient(
            nb,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": scratch}},
        ).execute()
    added = nb.cells.pop()
    text = "".join(o.get("text", "") for o in added.outputs if o.output_type == "stream")
    found = re.search(r"^actscope-docs: (.*)$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"the snapshot cell printed no result: {text!r} {added.outputs!r}")
    nb.metadata["actscope_docs"] = {"snapshots_added": json.loads(found.group(1))}
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


@dataclass
class Executed:
    path: Path
    """The executed copy."""
    seconds: float
    """Time spent executing it now (0 when it came from the cache)."""


def execute_all(
    sources: list[Path], jobs: int = 2, log: Callable[[str], None] = print, fresh: bool = False
) -> dict[str, Executed]:
    """Each notebook executed, from the cache where its key has not changed (``fresh``:
    executed again whatever the cache holds, and cached: the notebook tests do this, so
    that the docs build after them executes nothing).

    Raises:
        RuntimeError: when a notebook fails, with the end of its error.
    """
    EXECUTED.mkdir(parents=True, exist_ok=True)
    key = fingerprint()
    done: dict[str, Executed] = {}
    todo = []
    for src in sources:
        nb_key = hashlib.sha256(src.read_bytes()).hexdigest()[:16] + "-" + key
        dest = EXECUTED / f"{src.stem}.ipynb"
        stamp = EXECUTED / f"{src.stem}.key"
        if not fresh and dest.is_file() and stamp.is_file() and stamp.read_text() == nb_key:
            done[src.stem] = Executed(dest, 0.0)
        else:
            stamp.unlink(missing_ok=True)
            todo.append((src, dest, stamp, nb_key))
    running: list[tuple[Any, ...]] = []
    failures = []
    while todo or running:
        while todo and len(running) < jobs:
            src, dest, stamp, nb_key = todo.pop(0)
            log(f"executing {src.name}")
            cmd = [sys.executable, __file__, "execute", str(src), str(dest)]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            running.append((proc, src, dest, stamp, nb_key, time.monotonic()))
        time.sleep(0.2)
        for item in list(running):
            proc, src, dest, stamp, nb_key, start = item
            if proc.poll() is None:
                continue
            running.remove(item)
            output = proc.stdout.read() if proc.stdout else ""
            seconds = time.monotonic() - start
            if proc.returncode != 0:
                failures.append(f"{src.name} failed:\n{_tail(output)}")
                continue
            stamp.write_text(nb_key)
            done[src.stem] = Executed(dest, seconds)
            log(f"executed {src.name} in {seconds:.0f} s")
    if failures:
        raise RuntimeError("\n\n".join(failures))
    return done


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(ANSI.sub("", text).rstrip().splitlines()[-lines:])


# -- conversion -----------------------------------------------------------------------------------

# Injected into each output page: tell the notebook page how tall the content is.
RESIZE_SCRIPT = """<script>
(() => {
  if (window.parent === window) return;
  const post = () => window.parent.postMessage(
    { type: "actscope-frame-height", height: document.documentElement.scrollHeight }, "*");
  new ResizeObserver(post).observe(document.documentElement);
  window.addEventListener("message", (e) => { if (e.data?.type === "actscope-frame-ping") post(); });
  window.addEventListener("load", post);
})();
</script>
"""


@dataclass
class Page:
    """A notebook converted: the page's Markdown and the files beside it."""

    title: str
    markdown: str
    files: dict[str, bytes] = field(default_factory=dict)
    """Paths relative to the page's folder → contents."""
    explorers: int = 0


def explorer_traits() -> set[str]:
    """The synced traits a standalone page takes (those actscope declares; see
    ``actscope.widget.sharing.widget_state``)."""
    from actscope.widget import Explorer

    names: set[str] = set()
    for cls in Explorer.__mro__:
        if cls.__module__.startswith("actscope") and hasattr(cls, "class_own_traits"):
            names |= {n for n in cls.class_own_traits(sync=True) if not n.startswith("_")}
    return names


def explorer_state(model: dict[str, Any], traits: set[str]) -> dict[str, Any]:
    """A saved widget model as the state a standalone page reads (bytes as ``$b64``)."""
    state = {k: v for k, v in model["state"].items() if k in traits}
    for buffer in model.get("buffers", []):
        name = buffer["path"][0]
        if name in traits:
            data = buffer["data"]
            if buffer.get("encoding") != "base64":
                data = base64.b64encode(data.encode("latin-1")).decode()
            state[name] = {"$b64": data}
    return state


def is_explorer(model: dict[str, Any] | None) -> bool:
    return bool(model) and str(model["state"].get("_anywidget_id", "")).endswith(".Explorer")


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _clean(text: str) -> str:
    """Output text as a terminal would show it: no colour codes, progress lines overwritten."""
    text = ANSI.sub("", text)
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def _fence(text: str, lang: str) -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}\n"


def _output_block(text: str) -> str:
    return f'<div class="actscope-output" markdown>\n\n{_fence(text, "text")}\n</div>\n'


def convert(nb: Any, stem: str, *, source_name: str) -> Page:
    """The Markdown page of an executed notebook (see the module docstring)."""
    from actscope.widget.sharing import page as standalone_page

    traits = explorer_traits()
    models = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    added = nb.metadata.get("actscope_docs", {}).get("snapshots_added", {})
    title = stem
    parts: list[str] = []
    result = Page(title=stem, markdown="")
    counter = {"explorer": 0, "figure": 0, "image": 0}

    def output_file(kind: str, ext: str) -> str:
        counter[kind] += 1
        return f"outputs/{stem}-{kind}-{counter[kind]}.{ext}"

    for index, cell in enumerate(nb.cells):
        source = _text(cell.source)
        if cell.cell_type == "markdown":
            match = re.match(r"#\s+(.+)", source)
            if match and title == stem:
                title = match.group(1).strip()
                parts.append(source.split("\n", 1)[0] + "\n")
                parts.append(intro(source_name))
                rest = source.split("\n", 1)[1] if "\n" in source else ""
                parts.append(rest + "\n")
            else:
                parts.append(source + "\n")
            continue
        if cell.cell_type != "code":
            continue
        parts.append(_fence(source, "python"))
        stream = ""
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                stream += _text(out.text)
                continue
            if stream:
                parts.append(_output_block(_clean(stream)))
                stream = ""
            if out.output_type == "error":
                raise RuntimeError(f"{source_name} cell {index}: {out.ename}: {out.evalue}")
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                model_id = data[WIDGET_VIEW]["model_id"]
                model = models.get(model_id)
                if not is_explorer(model):
                    continue  # progress bars and other widgets: nothing to show afterwards
                name = output_file("explorer", "html")
                state = explorer_state(model, traits)
                info = state.get("model_info", {})
                note = f"The saved state of {source_name}, cell {index + 1}: no kernel behind it."
                if model_id in added:
                    note += f" The docs build added a {added[model_id]}."
                text = standalone_page(state, title=f"actscope: {info.get('name', 'model')}", note=note)
                result.files[name] = text.replace("</body>", RESIZE_SCRIPT + "</body>").encode()
                result.explorers += 1
                parts.append(frame(name, f"explorer: {info.get('name', 'model')}", "actscope-explorer"))
            elif PLOTLY in data:
                name = output_file("figure", "html")
                result.files[name] = figure_page(data[PLOTLY]).encode()
                result.files["outputs/plotly.min.js"] = b""  # filled in once, by the caller
                parts.append(frame(name, "plotly figure", "actscope-figure"))
            elif "image/png" in data:
                name = output_file("image", "png")
                result.files[name] = base64.b64decode(_text(data["image/png"]))
                parts.append(f"![output]({name})\n")
            elif "text/html" in data:
                parts.append(f'<div class="actscope-output">\n{_text(data["text/html"])}\n</div>\n')
            elif "text/plain" in data:
                parts.append(_output_block(_clean(_text(data["text/plain"]))))
        if stream:
            parts.append(_output_block(_clean(stream)))
    result.title = title
    result.markdown = "\n".join(parts)
    return result


def intro(source_name: str) -> str:
    link = f"[{source_name}]({source_name.rsplit('/', 1)[-1]})"
    return (
        '!!! info "Executed when this site was built"\n'
        f"    This page is {link}, run top to bottom on a fresh kernel. Each explorer below is "
        "its saved widget state in a standalone page: click through it; there is no kernel "
        "and no network behind it. Views that were not saved say so.\n"
    )


def frame(src: str, title: str, cls: str) -> str:
    return (
        f'<iframe class="actscope-frame {cls}" src="{html.escape(src)}" '
        f'title="{html.escape(title)}"></iframe>\n'
    )


def figure_page(figure: dict[str, Any]) -> str:
    """A plotly figure as a page loading ``plotly.min.js`` from beside it."""
    import plotly.io

    text = plotly.io.to_html(
        figure, include_plotlyjs="directory", full_html=True, validate=False,
        config={"responsive": True},
    )  # fmt: skip
    return text.replace("</body>", RESIZE_SCRIPT + "</body>")


def plotly_js() -> bytes:
    """plotly.js as the installed plotly ships it (the version its figures are made for)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "execute":
        execute_one(Path(argv[1]), Path(argv[2]))
        return 0
    print("usage: docs_notebooks.py execute SRC DEST", file=sys.stderr)
    return 2


if __name__ == "__main__":
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    sys.exit(main(sys.argv[1:]))
