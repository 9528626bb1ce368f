"""The explorer in a real JupyterLab: renders, and stays in step with Python both ways."""

from __future__ import annotations

from .conftest import screenshot

DIGITS = [
    "import actscope\nfrom actscope.demo.digits import digits_demo\n"
    "model, images, labels = digits_demo(16)\n"
    "ex = actscope.Explorer(model, images, labels=labels)\nex",
]


def test_digits_explorer_renders_and_syncs(notebook, page):
    nb = notebook(DIGITS)
    root = page.locator(".acts-root")
    root.wait_for(timeout=30_000)
    page.wait_for_selector(".acts-root[data-drawn='0|features.conv1']", timeout=30_000)
    # The conv layer is drawn as a grid of 16 channel maps, one tile each.
    assert page.locator(".acts-tile").count() == 16
    screenshot(page, "lab-digits", root)

    # A click in the browser changes the Python trait and what is drawn.
    page.locator(".acts-row[data-name='features.conv3']").click()
    page.wait_for_selector(".acts-root[data-drawn='0|features.conv3']", timeout=10_000)
    assert page.locator(".acts-tile").count() == 64
    assert nb.kernel.eval("ex.layer") == "features.conv3"

    # A change in Python redraws the view.
    nb.kernel.run("ex.layer = 'classifier.fc2'")
    page.wait_for_selector(".acts-root[data-drawn='0|classifier.fc2']", timeout=10_000)
    assert page.locator(".acts-bar-row").count() == 10
    screenshot(page, "lab-digits-logits", root)
