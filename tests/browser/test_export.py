"""Shared pages without a kernel: Explorer.to_html with all network blocked, and a notebook
executed by nbclient, converted by nbconvert, opened with its CDN scripts served locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import screenshot
from .harness import nbconvert_page, offline
from .test_saliency_browser import panel_key, tokens_of_top_unit

DIGITS = """
import actscope
from actscope.demo.digits import digits_demo
model, images, labels = digits_demo(8)
ex = actscope.Explorer(model, images, labels=labels)
ex.snapshot(layers=["features.conv1", "features.conv3", "classifier.fc2"], inputs=range(4))
"""


def drawn(page, key, timeout=20_000):
    page.wait_for_selector(f".acts-root[data-drawn='{key}']", timeout=timeout)


def walk_snapshot(page):
    """Click through layers, inputs and units of the snapshot; a view not in it says so."""
    drawn(page, "0|features.conv1")
    page.locator(".acts-row[data-name='features.conv3']").click()
    drawn(page, "0|features.conv3")
    assert page.locator(".acts-tile").count() == 64
    page.locator(".acts-input[data-index='2']").click()
    drawn(page, "2|features.conv3")
    page.locator(".acts-tile[data-unit='5']").click()
    page.wait_for_selector("canvas.acts-big[data-unit='5']")
    page.locator(".acts-row[data-name='classifier.fc2']").click()
    drawn(page, "2|classifier.fc2")
    assert page.locator(".acts-bar-row").count() == 10
    page.locator(".acts-row[data-name='features.relu2']").click()
    note = page.locator(".acts-missing[data-key='2|features.relu2']")
    note.wait_for(timeout=10_000)
    assert "not saved with the page" in note.inner_text()
    # Input 6 is not in the snapshot either: the note that shows must answer the new
    # selection (the previous one already said "not saved").
    page.locator(".acts-input[data-index='6']").click()
    page.locator(".acts-row[data-name='features.conv1']").click()
    note = page.locator(".acts-missing[data-key='6|features.conv1']")
    note.wait_for(timeout=10_000)
    assert "not saved with the page" in note.inner_text()
    assert page.locator(".acts-root").get_attribute("data-drawn") == ""


def test_to_html_works_from_disk_with_no_network(page, tmp_path):
    namespace: dict = {}
    exec(DIGITS, namespace)  # the same cells a user would run
    path = namespace["ex"].to_html(tmp_path / "explorer.html")
    served: list[str] = []
    offline(page, served)
    page.goto(path.as_uri())
    walk_snapshot(page)
    assert not served, "a standalone page must load nothing at all"
    screenshot(page, "export-standalone", page.locator(".acts-root"))


@pytest.mark.slow
def test_nbconvert_html_stays_interactive_without_a_kernel(page, tmp_path):
    path = nbconvert_page(DIGITS + "ex", tmp_path / "exported.html")
    served: list[str] = []
    offline(page, served)
    page.goto(path.as_uri())
    walk_snapshot(page)
    assert any("anywidget" in url for url in served), "the page loaded anywidget's module"
    screenshot(page, "export-nbconvert", page.locator(".acts-root"))


def demo_page(tmp_path, *args: str) -> Path:
    """The page the README's headless demo command writes (``actscope demo --html``)."""
    from actscope import cli

    path = tmp_path / "demo.html"
    cli.main(["demo", *args, "--html", str(path)])
    return path


METHOD = ".acts-saliency select[aria-label='Saliency method']"
TARGET = ".acts-saliency select[aria-label='Saliency target']"


def test_the_headless_demo_page_has_every_layer_input_and_saliency_map(page, tmp_path):
    path = demo_page(tmp_path)
    served: list[str] = []
    offline(page, served)
    page.goto(path.as_uri())
    drawn(page, "0|features.conv1")
    page.locator(".acts-row[data-name='features.relu3']").click()
    drawn(page, "0|features.relu3")
    page.locator(".acts-input[data-index='11']").click()
    drawn(page, "11|features.relu3")
    page.locator(".acts-tile[data-unit='5']").click()
    page.wait_for_selector("canvas.acts-big[data-unit='5']")
    page.select_option(METHOD, "gradient")
    panel_key(page, "11|gradient|top")
    assert page.locator("canvas.acts-saliency-map").count() == 1
    page.select_option(METHOD, "integrated_gradients")
    panel_key(page, "11|integrated_gradients|top")
    assert "completeness delta" in page.locator(".acts-saliency").inner_text()
    page.locator(".acts-input[data-index='9']").click()
    drawn(page, "9|features.relu3")
    panel_key(page, "9|integrated_gradients|top")
    page.select_option(METHOD, "smoothgrad")  # not in the demo's snapshot
    hint = page.locator(".acts-saliency .acts-hint")
    hint.wait_for()
    assert "not saved with the page" in hint.inner_text()
    assert not served, "a standalone page must load nothing at all"
    screenshot(page, "demo-digits", page.locator(".acts-root"))


def test_the_headless_text_demo_page_colours_tokens_for_its_strongest_neurons(page, tmp_path):
    layer = "encoder.layer.3.intermediate"
    path = demo_page(tmp_path, "--text")
    served: list[str] = []
    offline(page, served)
    page.goto(path.as_uri())
    drawn(page, f"0|{layer}")
    # An encoder has no top prediction: the page says so, as a live explorer would.
    page.select_option(METHOD, "input_x_gradient")
    panel_key(page, "0|input_x_gradient|top")
    assert "no single top prediction" in page.locator(".acts-saliency-error").inner_text()
    page.select_option(TARGET, "unit")
    unit = tokens_of_top_unit(page, 0, "input_x_gradient", layer)
    page.locator(".acts-input[data-index='5']").click()
    drawn(page, f"5|{layer}")
    panel_key(page, f"5|input_x_gradient|unit:{layer}:{unit}")
    screenshot(page, "demo-text", page.locator(".acts-root"))
    page.locator(".acts-row[data-name='encoder.layer.5.intermediate']").click()
    drawn(page, "5|encoder.layer.5.intermediate")
    assert not served
