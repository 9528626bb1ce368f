"""A long input in JupyterLab: a GPT-2-small-wide MLP at 1,024 tokens is over one
message's value limit, so the view shows a window of exact positions beside the whole
layer's overview. Click the overview's end, hover the last position and read its exact
value; select a neuron and get its value at every token; then the exported page, which
holds the overview and the first window, in light and dark."""

from __future__ import annotations

import re

from .conftest import screenshot, themed_pages

LAYER = "transformer.h.0.mlp.act"  # 1,024 positions × 3,072 neurons: 3.1 M values
SETUP = (
    "import torch, warnings\nimport actscope\n"
    "from transformers import GPT2Config, GPT2LMHeadModel\n"
    "warnings.simplefilter('ignore')\ntorch.manual_seed(0)\n"
    "model = GPT2LMHeadModel(GPT2Config(n_positions=1024, n_layer=1, vocab_size=2000)).eval()\n"
    "ids = torch.randint(0, 2000, (1, 1024), generator=torch.Generator().manual_seed(1))\n"
    "inputs = [{'input_ids': ids}]\n"
)
SIZE = 2_000_000 // 3072  # positions in one window (651)
ATTENTION = "transformer.h.0.attn"
QUERIES = 4_000_000 // (12 * 1024)  # a pattern's limit over 12 heads × 1,024 keys: 325


def test_the_end_of_a_long_input_is_reachable_and_exact(notebook, page):
    nb = notebook([SETUP + f"ex = actscope.Explorer(model, inputs, layer={LAYER!r})\nex"])
    page.wait_for_selector(f".acts-root[data-drawn='0|{LAYER}']", timeout=90_000)
    strip = page.locator(".acts-overview")
    assert strip.get_attribute("data-start") == "0"
    assert page.locator(".acts-seq-label").count() == SIZE
    assert f"Exact: positions 0–{SIZE - 1} of 1,024" in strip.inner_text()
    screenshot(page, "long-view-start", page.locator(".acts-root"))
    # the overview's bottom edge: the last window, ending at the last position
    box = page.locator(".acts-overview .acts-overview-canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 2)
    last = 1024 - SIZE
    page.wait_for_selector(f".acts-overview[data-start='{last}']", timeout=30_000)
    page.wait_for_selector(f".acts-root[data-drawn='0|{LAYER}']", timeout=30_000)
    label = page.locator(".acts-seq-label[data-position='1023']")
    label.scroll_into_view_if_needed()
    row = label.bounding_box()
    canvas = page.locator(".acts-seq-canvas canvas").bounding_box()
    page.mouse.move(canvas["x"] + 1, row["y"] + row["height"] / 2)  # neuron 0, position 1023
    tip = page.locator(".acts-tooltip").inner_text()
    assert "position 1023" in tip and "neuron 0" in tip, tip
    shown = float(re.search(r"value (\S+)", tip).group(1))
    exact = nb.kernel.eval(f"float(ex.session.activation({LAYER!r}, 0)[1023, 0])")
    assert abs(shown - exact) <= 2e-3 * max(1.0, abs(exact)), (shown, exact)
    # a neuron's value at every one of the 1,024 positions, not only the window's
    page.locator(".acts-rank-row").first.click()
    unit = nb.kernel.wait_for("ex.unit", lambda u: u is not None)
    page.wait_for_selector(f".acts-token-text[data-unit='{unit}']", timeout=20_000)
    page.wait_for_function(
        "document.querySelectorAll('.acts-token-text .acts-token').length === 1024",
        timeout=30_000,
    )
    assert "at positions" not in page.locator(".acts-token-text .acts-detail-title").inner_text()
    page.locator(".acts-overview .acts-overview-canvas").hover()
    assert "largest |value|" in page.locator(".acts-tooltip").inner_text()
    screenshot(page, "long-view-end", page.locator(".acts-root"))
    # attention at 1,024 tokens: a window of queries, every key, under each head's overview
    page.wait_for_selector(".acts-attention[data-attention='drawn']", timeout=60_000)
    bar = page.locator(".acts-attention .acts-overview-bar")
    assert f"Queries 0–{QUERIES - 1} of 1,024, every key." in bar.inner_text()
    thumb = page.locator(".acts-attention-thumb").first
    assert thumb.evaluate("c => [c.width, c.height]") == [256, 256]  # every query, as tiles
    page.locator("[data-attention-step='later']").click()
    page.wait_for_selector(
        f".acts-attention .acts-overview-bar[data-start='{QUERIES}']", timeout=60_000
    )
    # the overview's bottom edge: the last window, ending at the last query
    strip = page.locator(".acts-attention-overview canvas")
    strip.hover()
    assert "largest probability" in page.locator(".acts-tooltip").inner_text()
    box = strip.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 2)
    page.wait_for_selector(
        f".acts-attention .acts-overview-bar[data-start='{1024 - QUERIES}']", timeout=60_000
    )
    page.wait_for_selector(".acts-attention-text[data-query='1023']", timeout=20_000)
    assert page.locator("[data-attention-step='later']").is_disabled()
    head = int(page.locator(".acts-attention-big").get_attribute("data-head"))
    shown = last_query_value(page)  # query 1023 → key 1023, from the exact window
    found = f"actscope.attention(model, inputs[0], [{ATTENTION!r}])[{ATTENTION!r}]"
    exact = nb.kernel.eval(f"float({found}[0, {head}, 1023, 1023])")
    assert abs(shown - exact) <= 1 / 250, (shown, exact)
    screenshot(page, "long-attention-end", page.locator(".acts-attention"))


def last_query_value(page) -> float:
    """Hover the last cell (last query, last key) of the big pattern; its tooltip's value."""
    scroll = page.locator(".acts-attention-scroll")
    scroll.scroll_into_view_if_needed()
    scroll.evaluate("e => { e.scrollTop = e.scrollHeight; e.scrollLeft = e.scrollWidth; }")
    box = page.locator(".acts-attention-map").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 1.5, box["y"] + box["height"] - 1.5)
    tip = page.locator(".acts-tooltip").inner_text()
    assert "query 1023 → key 1023" in tip, tip
    return float(tip.rsplit(": ", 1)[1])


def test_the_exported_page_holds_the_overview_and_every_window_that_fits(browser, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "long.html"
    script = SETUP + (
        f"ex = actscope.Explorer(model, inputs, layer={LAYER!r})\n"
        f"ex.snapshot(layers=[{LAYER!r}])\nex.to_html({str(path)!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    for page, scheme in themed_pages(browser, path):
        page.wait_for_selector(f".acts-root[data-drawn='0|{LAYER}']", timeout=30_000)
        assert page.locator(".acts-overview").get_attribute("data-start") == "0"
        # the snapshot's limit left room for the other window: the end is exact offline too
        page.locator("[data-step='later']").click()
        page.wait_for_selector(f".acts-overview[data-start='{1024 - SIZE}']", timeout=10_000)
        label = page.locator(".acts-seq-label[data-position='1023']")
        label.scroll_into_view_if_needed()
        row = label.bounding_box()
        canvas = page.locator(".acts-seq-canvas canvas").bounding_box()
        page.mouse.move(canvas["x"] + 1, row["y"] + row["height"] / 2)
        assert "position 1023" in page.locator(".acts-tooltip").inner_text()
        screenshot(page, f"long-view-page-{scheme}", page.locator(".acts-root"))
        # attention: every head's overview, and the first window of queries exact
        page.wait_for_selector(".acts-attention[data-attention='drawn']", timeout=30_000)
        thumb = page.locator(".acts-attention-thumb").first
        assert thumb.evaluate("c => [c.width, c.height]") == [256, 256]
        strip = page.locator(".acts-attention-overview canvas")
        strip.scroll_into_view_if_needed()
        box = strip.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 2)
        said = page.locator(".acts-attention-overview .acts-overview-say").inner_text()
        assert f"This page saved queries 0–{QUERIES - 1} exactly; query 10" in said, said
        screenshot(page, f"long-attention-page-{scheme}", page.locator(".acts-attention"))
