"""The saliency panel in JupyterLab: over an image and over tokens, following the input
and the selected neuron."""

from __future__ import annotations

from .conftest import screenshot
from .test_lab import DIGITS, MINILM


def panel_key(page, key, timeout=30_000):
    page.wait_for_selector(f".acts-saliency[data-key='{key}']", timeout=timeout)


def tokens_of_top_unit(page, input_index: int, method: str, layer: str) -> str:
    """Select the top-ranked unit; its token scores must cover every token. Returns it."""
    first = page.locator(".acts-rank-row").first
    unit = first.get_attribute("data-unit")
    first.click()
    panel_key(page, f"{input_index}|{method}|unit:{layer}:{unit}")
    tokens = page.locator(".acts-saliency-tokens .acts-token")
    assert tokens.count() == page.locator(".acts-seq-label").count()
    return str(unit)


def test_saliency_over_an_image_follows_the_input(notebook, page):
    nb = notebook(DIGITS)
    page.wait_for_selector(".acts-root[data-drawn='0|features.conv1']", timeout=30_000)
    page.select_option(
        ".acts-saliency select[aria-label='Saliency method']", "integrated_gradients"
    )
    nb.kernel.wait_for("ex.saliency_method", lambda m: m == "integrated_gradients")
    panel_key(page, "0|integrated_gradients|top")
    assert page.locator("canvas.acts-saliency-map").count() == 1
    assert "completeness delta" in page.locator(".acts-saliency").inner_text()
    page.locator(".acts-input[data-index='4']").click()
    panel_key(page, "4|integrated_gradients|top")
    # Target a channel: the map follows the selected unit.
    page.select_option(".acts-saliency select[aria-label='Saliency target']", "unit")
    page.locator(".acts-tile[data-unit='6']").click()
    panel_key(page, "4|integrated_gradients|unit:features.conv1:6")
    page.locator(".acts-saliency button", has_text="signed").click()
    assert page.locator(".acts-saliency button", has_text="absolute").count() == 1
    screenshot(page, "saliency-digits", page.locator(".acts-root"))


def test_saliency_over_tokens_follows_the_neuron(notebook, page):
    nb = notebook(
        [*MINILM, "ex.saliency_target = {'type': 'unit'}\nex.saliency_method = 'gradient'"]
    )
    page.wait_for_selector(
        ".acts-root[data-drawn='0|encoder.layer.3.intermediate']", timeout=60_000
    )
    # No unit selected yet: the panel's answer for exactly that says to pick one.
    panel_key(page, "0|gradient|unit:encoder.layer.3.intermediate:")
    assert "Select a unit" in page.locator(".acts-saliency").inner_text()
    tokens_of_top_unit(page, 0, "gradient", "encoder.layer.3.intermediate")
    tokens = page.locator(".acts-saliency-tokens .acts-token")
    assert "token 0:" in tokens.first.get_attribute("title")
    second = page.locator(".acts-rank-row").nth(1).get_attribute("data-unit")
    page.locator(".acts-rank-row").nth(1).click()
    panel_key(page, f"0|gradient|unit:encoder.layer.3.intermediate:{second}")
    nb.kernel.wait_for("ex.unit", lambda u: str(u) == second)
    screenshot(page, "saliency-minilm", page.locator(".acts-root"))
