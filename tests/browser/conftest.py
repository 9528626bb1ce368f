"""Fixtures for browser tests: a JupyterLab server, Chromium, and notebooks with widgets.

Any browser console error or uncaught exception fails the test. When a test fails, its
page's screenshot and console log land in ``tests/.artifacts/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from .harness import CHROMIUM, CHROMIUM_ARGS, JupyterServer, Notebook, new_name

ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts"

# Console errors that are not ours and not the widget's. Each entry says why.
IGNORED_CONSOLE = [
    # Chromium logs every refused request; the harness blocks the network on purpose.
    re.compile(r"net::ERR_(FAILED|BLOCKED_BY_CLIENT|INTERNET_DISCONNECTED|NAME_NOT_RESOLVED)"),
    # The widgets HTML manager of an exported page first looks for a module beside the
    # page (file://.../anywidget.js), then falls back to the CDN: the first miss is logged.
    re.compile(r"net::ERR_FILE_NOT_FOUND"),
]
# Uncaught errors of the host application itself, seen on a notebook with no widget at all.
IGNORED_PAGE_ERRORS = [
    # Notebook 7.6.5's shortcut-settings plugin reads `plugins[id].schema` of a plugin it
    # has not loaded, on every page load (a plain `1+1` notebook shows it too).
    re.compile(r"reading 'schema'\)[\s\S]*/static/notebook/notebook_core\."),
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = JupyterServer(tmp_path_factory.mktemp("jupyter"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def jupyter_notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A server of its own for Notebook 7 pages: after JupyterLab pages have used a server,
    Notebook 7.6.5 tries to restore a file browser it does not have and throws
    ("Command 'filebrowser:open-path' not registered"), with or without our widget."""
    server = JupyterServer(tmp_path_factory.mktemp("jupyter-nb7"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class ConsoleLog:
    """Everything the page printed, and the errors among it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.errors: list[str] = []

    def on_console(self, msg: ConsoleMessage) -> None:
        line = f"[{msg.type}] {msg.text}"
        self.lines.append(line)
        if msg.type == "error" and not any(p.search(msg.text) for p in IGNORED_CONSOLE):
            self.errors.append(line)

    def on_error(self, exc: Any) -> None:
        line = f"[pageerror] {exc}\n{getattr(exc, 'stack', '')}"
        self.lines.append(line)
        if not any(p.search(line) for p in IGNORED_PAGE_ERRORS):
            self.errors.append(line)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    log = ConsoleLog()
    pg.on("console", log.on_console)
    pg.on("pageerror", log.on_error)
    pg.console_log = log  # type: ignore[attr-defined]
    yield pg
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed or log.errors:
        ARTIFACTS.mkdir(exist_ok=True)
        stem = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-120:]
        with contextlib.suppress(Exception):
            pg.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
        (ARTIFACTS / f"{stem}.console.log").write_text("\n".join(log.lines))
    context.close()
    assert not log.errors, "browser console errors:\n" + "\n".join(log.errors)


@pytest.fixture
def notebook(page: Page, request: pytest.FixtureRequest) -> Iterator[Callable[..., Notebook]]:
    """``notebook(cells, app="lab")`` writes a notebook, opens it and runs every cell
    (``app="notebook"`` opens it in Notebook 7)."""
    opened: list[Notebook] = []

    def open_notebook(cells: list[str], app: str = "lab", run: bool = True) -> Notebook:
        server = request.getfixturevalue("jupyter" if app == "lab" else "jupyter_notebook7")
        name = new_name("test")
        server.write_notebook(name, cells)
        nb = Notebook(server, page, name, app=app)
        opened.append(nb)
        if run:
            nb.run_all()
        return nb

    yield open_notebook
    for nb in opened:
        nb.close()
        nb.server.delete_sessions(nb.name)


def screenshot(page: Page, name: str, locator: Any = None) -> Path:
    """Save a screenshot under tests/.artifacts/ to look at (the widget, or the page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    (locator or page).screenshot(path=str(path))
    return path


def themed_pages(browser: Browser, path: Path, height: int = 1000) -> Iterator[tuple[Page, str]]:
    """An exported page opened in the light and then the dark colour scheme: yields
    ``(page, scheme)`` for each, and fails if the page logged an error by the time the
    loop moves on."""
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 1400, "height": height}, color_scheme=scheme
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, out=errors: out.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e, out=errors: out.append(str(e)))
        page.goto(path.as_uri())
        yield page, scheme
        assert not errors, errors
        context.close()
