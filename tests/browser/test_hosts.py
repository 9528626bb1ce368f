"""The explorer in marimo and Voilà, beside the JupyterLab and Notebook 7 tests."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .conftest import IGNORED_CONSOLE, screenshot
from .hosts import marimo_server, voila_server

HERE = Path(__file__).resolve().parent
QUICKSTART = HERE.parents[1] / "example_notebooks" / "quickstart.ipynb"

# Voilà's own page logs these for any notebook, a widget or not (seen with a `1+1` one):
# its template asks a CDN for a font, and a lab extension it bundles wants a shared module
# that Voilà does not provide.
VOILA_CONSOLE = [
    re.compile(r"shared module is not a function[\s\S]*@jupyterlab/docregistry"),
]


def drawn(page, key, timeout=60_000):
    page.wait_for_selector(f".acts-root[data-drawn='{key}']", timeout=timeout)


def python_says(page, text, timeout=30_000):
    """Wait until a cell output that prints Python's state shows ``text``."""
    page.wait_for_function("(t) => document.body.innerText.includes(t)", arg=text, timeout=timeout)


@pytest.fixture
def marimo_app(tmp_path, page):
    server = marimo_server(HERE / "apps" / "marimo_explorer.py", tmp_path)
    yield server
    page.goto("about:blank")  # leave before the server goes, or its socket errors are logged
    server.stop()


def test_marimo_syncs_clicks_and_cancels_mining(page, marimo_app):
    page.goto(marimo_app.url)
    drawn(page, "0|features.conv1")
    page.locator(".acts-row[data-name='features.conv3']").click()
    drawn(page, "0|features.conv3")
    python_says(page, "python layer: features.conv3")  # the widget's value, read in Python
    # Mining runs in the background: progress arrives while it runs, and Cancel reaches
    # Python part-way through (the slow dataset has 5,391 examples).
    page.locator(".acts-tile[data-unit='3']").click()
    page.locator(".acts-mine").click()
    page.wait_for_selector(".acts-task[data-state='running'] progress", timeout=30_000)
    # (marimo draws widgets in a shadow root: locators reach into it, querySelector does not)
    page.locator(".acts-task").filter(
        has_text=re.compile(r"mining: [1-9][0-9,]* examples")
    ).wait_for(timeout=30_000)
    page.locator(".acts-task button", has_text="Cancel").click()
    page.wait_for_selector(".acts-task[data-state='cancelled']", timeout=30_000)
    # What was mined before Cancel is kept, and is fewer examples than the dataset holds.
    page.locator(".acts-row[data-name='features.conv2']").click()
    python_says(page, "python layer: features.conv2")
    mined = page.locator("text=/indexes: \\d+ examples/").inner_text()
    count = int(re.search(r"indexes: (\d+) examples", mined).group(1))
    assert 0 < count < 5391, mined
    screenshot(page, "host-marimo", page.locator(".acts-root"))


@pytest.fixture
def voila_app(tmp_path, page):
    folder = tmp_path / "app"
    folder.mkdir()
    shutil.copy(QUICKSTART, folder / "quickstart.ipynb")
    server = voila_server(folder / "quickstart.ipynb", tmp_path)
    yield server
    page.goto("about:blank")
    server.stop()


def test_voila_serves_the_quickstart_as_an_app(page, voila_app):
    IGNORED_CONSOLE.extend(VOILA_CONSOLE)
    try:
        page.goto(voila_app.url, timeout=120_000)
        # The notebook's cells selected conv3, then set a bad layer on purpose (caught):
        # the app opens on the state the explorer is in, with no banner for the refusal.
        drawn(page, "0|features.conv3", timeout=120_000)
        assert page.locator(".acts-banner.acts-shown").count() == 0
        page.locator(".acts-row[data-name='features.conv2']").click()
        drawn(page, "0|features.conv2")
        page.locator(".acts-input[data-index='3']").click()
        drawn(page, "3|features.conv2")
        screenshot(page, "host-voila", page.locator(".acts-root"))
    finally:
        for pattern in VOILA_CONSOLE:
            IGNORED_CONSOLE.remove(pattern)
