"""The examples panel in JupyterLab: a neuron's top examples and histogram, a band's
samples, mining from the widget, and an example opened as the current input."""

from __future__ import annotations

from .conftest import screenshot

CELLS = [
    "import actscope\nfrom actscope.demo.digits import digits_demo, digits_data\n"
    "model, images, labels = digits_demo(4)\nall_images, _ = digits_data()\n"
    "ex = actscope.Explorer(model, images, labels=labels, dataset=list(all_images[:300]), "
    "layer='features.conv2')\nex",
]


def panel(page, key, timeout=30_000):
    page.wait_for_selector(f".acts-examples[data-key='{key}']", timeout=timeout)


def test_mine_then_browse_examples_bands_and_open_one(notebook, page):
    nb = notebook(CELLS)
    page.wait_for_selector(".acts-root[data-drawn='0|features.conv2']", timeout=30_000)
    page.locator(".acts-tile[data-unit='3']").click()
    panel(page, "features.conv2|3|-1")
    mine = page.locator("button.acts-mine")
    assert "Mine top examples" in mine.inner_text()
    mine.click()
    nb.kernel.wait_for("ex.mining['layers']", lambda v: v == ["features.conv2"], timeout=60)
    page.wait_for_selector(".acts-examples .acts-example", timeout=30_000)
    assert page.locator(".acts-examples .acts-example").count() == 10
    assert page.locator(".acts-hist-bar").count() == 40
    assert "300 examples" in page.locator(".acts-examples-summary").inner_text()
    # A band's samples.
    page.locator(".acts-band[data-band='9']").click()
    panel(page, "features.conv2|3|9")
    assert page.locator(".acts-example-list").count() == 2
    screenshot(page, "examples-digits", page.locator(".acts-root"))
    # An example opens as the current input.
    first = page.locator(".acts-example").first
    example_id = first.get_attribute("data-id")
    first.click()
    page.wait_for_selector(".acts-root[data-drawn='4|features.conv2']", timeout=30_000)
    nb.kernel.wait_for("ex.input_index", lambda i: i == 4)
    assert (
        page.locator(".acts-input[data-index='4'] .acts-input-label").inner_text()
        == f"example {example_id}"
    )
