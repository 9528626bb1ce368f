"""A real JupyterLab server, a real Chromium, and a kernel we can ask questions.

``JupyterServer`` starts ``jupyter lab`` on 127.0.0.1 (random port, token, temporary
root and runtime folders). ``Notebook`` opens a notebook in a Playwright page, runs its
cells through JupyterLab's own command registry (``window.jupyterapp``), and talks to the
notebook's kernel directly over ZMQ to read and set Python state (``nb.eval("ex.layer")``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client import BlockingKernelClient
from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT_S = 60

ASSETS = Path(__file__).resolve().parents[1] / ".assets"
# The scripts nbconvert's HTML loads from CDNs, and the npm packages that hold them.
CDN = [
    (
        r"cdnjs\.cloudflare\.com/ajax/libs/require\.js/.*/require(\.min)?\.js",
        "requirejs-2.3.8/require.js",
    ),
    (
        r"unpkg\.com/@jupyter-widgets/html-manager@.*/dist/embed-amd\.js",
        "jupyter-widgets-html-manager-1.0.15/dist/embed-amd.js",
    ),
    (r"cdn\.jsdelivr\.net/npm/anywidget@.*/dist/index\.js", "anywidget-0.11.0/dist/index.js"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterServer:
    """``jupyter lab`` in a temporary root; stop() ends it and its kernels."""

    def __init__(self, base: Path) -> None:
        self.root = base / "root"
        self.runtime = base / "runtime"
        settings = base / "settings"
        for d in (self.root, self.runtime, settings):
            d.mkdir(parents=True, exist_ok=True)
        # No "get notified about Jupyter news?" toast over the widgets in screenshots.
        news = settings / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "IPYTHONDIR": str(base / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.log = (base / "server.log").open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter", "lab",
                "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={self.port}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                "--LabApp.expose_app_in_browser=True",
                "--JupyterNotebookApp.expose_app_in_browser=True",
                f"--LabApp.user_settings_dir={settings}",
                f"--LabApp.workspaces_dir={base / 'workspaces'}",
                "--ServerApp.disable_check_xsrf=True",
                "--LabApp.news_url=",
            ],
            cwd=self.root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: see {self.log.name}")
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("jupyter lab did not answer /api/status in time")

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/api/{path}?token={self.token}", timeout=5) as r:
            return json.loads(r.read())

    def delete_sessions(self, name: str) -> None:
        """Shut down the kernels of the notebook ``name``."""
        for session in self.api("sessions"):
            if session["path"].endswith(name):
                req = urllib.request.Request(
                    f"{self.url}/api/sessions/{session['id']}?token={self.token}", method="DELETE"
                )
                urllib.request.urlopen(req, timeout=10).close()

    def write_notebook(self, name: str, cells: list[str]) -> Path:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        path = self.root / name
        nbformat.write(nb, path)
        return path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Kernel:
    """A second client on the notebook's kernel: evaluate Python, read the widget's traits."""

    def __init__(self, connection_file: Path) -> None:
        self.client = BlockingKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=30)

    def run(self, code: str, timeout: float = 60) -> str:
        """Execute ``code``; returns the text of its result (or stdout); raises on error."""
        out: list[str] = []
        error: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "execute_result":
                out.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                error.append(f"{content['ename']}: {content['evalue']}")

        self.client.execute_interactive(
            code, store_history=False, output_hook=hook, timeout=timeout
        )
        if error:
            raise RuntimeError(f"kernel raised {error[0]} running {code!r}")
        return "".join(out).strip()

    def eval(self, expr: str) -> Any:
        """The value of ``expr``, through JSON (so str, int, None, lists and dicts)."""
        return json.loads(self.run(f"import json as _j; print(_j.dumps({expr}))"))

    def wait_for(self, expr: str, check: Any, timeout: float = 10) -> Any:
        """Poll ``expr`` until ``check(value)`` holds (front-end changes reach Python
        asynchronously); returns the value, or fails with the last one seen."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expr)
            if check(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr} is still {value!r} after {timeout} s")
            time.sleep(0.05)

    def close(self) -> None:
        self.client.stop_channels()


class Notebook:
    """One notebook open in JupyterLab (or Notebook 7), with its kernel."""

    def __init__(self, server: JupyterServer, page: Page, name: str, app: str = "lab") -> None:
        self.server = server
        self.page = page
        self.name = name
        # JupyterLab: a workspace of its own per notebook, so no test restores the tabs
        # (or the file browser state, which Notebook 7 trips on) another test left.
        if app == "lab":
            space = name.removesuffix(".ipynb")
            page.goto(f"{server.url}/lab/workspaces/{space}/tree/{name}?reset&token={server.token}")
        else:
            page.goto(f"{server.url}/notebooks/{name}?token={server.token}")
        page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        self.idle()
        self.kernel = Kernel(self._connection_file())

    def _connection_file(self) -> Path:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for session in self.server.api("sessions"):
                if session["path"].endswith(self.name) and session.get("kernel"):
                    path = self.server.runtime / f"kernel-{session['kernel']['id']}.json"
                    if path.exists():
                        return path
            time.sleep(0.2)
        raise TimeoutError(f"no kernel session for {self.name}")

    def idle(self, timeout: float = 120_000) -> None:
        self.page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle'], "
            "#jp-NotebookKernelStatus[data-status='idle'], "
            ".jp-mod-current [data-status='idle']",
            timeout=timeout,
            state="attached",
        )

    def run_all(self, timeout: float = 180_000) -> None:
        """Run every cell through JupyterLab's command, then wait for the kernel to finish."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        self.page.wait_for_function(
            """() => {
                const panel = window.jupyterapp.shell.currentWidget;
                const cells = panel?.content?.widgets ?? [];
                return cells.length > 0 && cells.every(
                    (c) => c.model.type !== "code" || (c.model.executionCount ?? 0) > 0
                        && c.model.executionState !== "running"
                );
            }""",
            timeout=timeout,
        )
        errors = self.page.evaluate(
            """() => window.jupyterapp.shell.currentWidget.content.widgets
                .flatMap((c) => c.model.outputs ? c.model.outputs.toJSON() : [])
                .filter((o) => o.output_type === "error")
                .map((o) => `${o.ename}: ${o.evalue}`)"""
        )
        if errors:
            raise AssertionError(f"a cell of {self.name} raised {errors[0]}")

    def close(self) -> None:
        self.kernel.close()


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}.ipynb"


# -- pages without a kernel ----------------------------------------------------------------------


def offline(page, served: list[str]):
    """Block every request but local files, and CDN scripts served from tests/.assets."""

    def handle(route):
        url = route.request.url
        for pattern, local in CDN:
            if re.search(pattern, url):
                served.append(url)
                return route.fulfill(
                    path=str(ASSETS / local), content_type="application/javascript"
                )
        if url.startswith(("file:", "blob:", "data:")):
            return route.continue_()
        return route.abort()

    page.route("**/*", handle)


def nbconvert_page(code: str, path: Path) -> Path:
    """A notebook of one cell, executed by nbclient (widget state saved) and converted to
    HTML by nbconvert, written to ``path``."""
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    NotebookClient(
        nb, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    html, _ = HTMLExporter().from_notebook_node(nb)
    path.write_text(html)
    return path
