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
    nb.kernel.wait_for("ex.layer", lambda v: v == "features.conv3")

    # A change in Python redraws the view.
    nb.kernel.run("ex.layer = 'classifier.fc2'")
    page.wait_for_selector(".acts-root[data-drawn='0|classifier.fc2']", timeout=10_000)
    assert page.locator(".acts-bar-row").count() == 10
    screenshot(page, "lab-digits-logits", root)


MINILM = [
    "import actscope\nfrom actscope.demo.text import load_minilm, SENTENCES\n"
    "model, tokenizer = load_minilm()\n"
    "ex = actscope.Explorer(model, SENTENCES, tokenizer=tokenizer, "
    "layer='encoder.layer.3.intermediate')\nex",
]


def test_minilm_explorer_renders_a_token_neuron_heatmap(notebook, page):
    nb = notebook(MINILM)
    page.wait_for_selector(
        ".acts-root[data-drawn='0|encoder.layer.3.intermediate']", timeout=60_000
    )
    labels = page.locator(".acts-seq-label").all_text_contents()
    assert labels[:3] == ["[CLS]", "the", "cat"]
    # Pick the top neuron from the ranking: the tokens are coloured by it.
    page.locator(".acts-rank-row").first.click()
    unit = nb.kernel.wait_for("ex.unit", lambda u: isinstance(u, int))
    colored = f".acts-token-text[data-unit='{unit}']"
    page.wait_for_selector(colored, timeout=10_000)
    # Every token of the input coloured (the attention panel below has a token line too).
    assert page.locator(f"{colored} .acts-token").count() == len(labels)
    screenshot(page, "lab-minilm", page.locator(".acts-root"))


def test_notebook7_renders_the_explorer(notebook, page):
    nb = notebook(DIGITS, app="notebook")
    page.wait_for_selector(".acts-root[data-drawn='0|features.conv1']", timeout=30_000)
    page.locator(".acts-input[data-index='3']").click()
    page.wait_for_selector(".acts-root[data-drawn='3|features.conv1']", timeout=10_000)
    nb.kernel.wait_for("ex.input_index", lambda v: v == 3)
    screenshot(page, "notebook7-digits", page.locator(".acts-root"))
