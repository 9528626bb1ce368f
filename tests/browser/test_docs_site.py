"""The documentation site works from disk with nothing outside it: built here with one
notebook (the full site is built by ``make docs``, warnings as errors, after the tests), opened
with every request that leaves the site blocked, and an explorer on a notebook page clicked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import screenshot

ROOT = Path(__file__).resolve().parents[2]


def test_a_notebook_page_of_the_built_site_works_offline(browser, tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "ACTSCOPE_DOCS_NOTEBOOKS": "quickstart", "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    page_file = site / "notebooks" / "quickstart.html"
    assert page_file.is_file()
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    left: list[str] = []

    def only_the_site(route):
        url = route.request.url
        if url.startswith((site.as_uri(), "data:")) or url == "about:blank":
            route.continue_()
        else:
            left.append(url)
            route.abort()

    context.route("**/*", only_the_site)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri())
    frame = page.frame_locator("iframe.actscope-frame").first
    root = frame.locator(".acts-root")
    root.wait_for(timeout=30_000)
    frame.locator(".acts-root[data-drawn^='0|']").wait_for(timeout=30_000)
    first = root.get_attribute("data-drawn")
    # Another layer from the saved snapshot: a click draws it, with no kernel behind.
    frame.locator(".acts-row[data-name='features.conv2']").click()
    frame.locator(".acts-root[data-drawn='0|features.conv2']").wait_for(timeout=10_000)
    assert first != root.get_attribute("data-drawn")
    # The iframe took the explorer's height (no scrollbar inside).
    height = page.locator("iframe.actscope-frame").first.evaluate("f => f.offsetHeight")
    assert height > 400
    screenshot(page, "docs-notebook-page")
    assert not errors, errors
    assert not left, f"requests outside the site: {left}"
    context.close()
