"""A feature map of thousands of channels in JupyterLab and in an exported page: 2,048
channels of 48 × 48 (4.7 M values) are over one message's limit, so a window of channels
comes exact and every channel's map as tiles. Sorted by max, channels past the window are
drawn from their tiles; selecting one brings its whole map exact (read a pixel against the
kernel), and the exported page says that it saved the tiles only, in light and dark."""

from __future__ import annotations

import re

from .conftest import screenshot, themed_pages

SETUP = (
    "import torch\nimport actscope\ntorch.manual_seed(0)\n"
    "model = torch.nn.Sequential(torch.nn.Conv2d(3, 2048, 3, padding=1)).eval()\n"
    "images = torch.randn(1, 3, 48, 48)\n"
)
EXACT = 2_000_000 // (48 * 48)  # channels in one message: 868


def tile_drawn_channel(page) -> int:
    """Sort the grid by max and pick the first channel drawn from its tiles."""
    page.locator("[data-sort='max']").click()
    tile = page.locator(".acts-tile:has(canvas[data-exact='false'])").first
    tile.wait_for(timeout=20_000)
    unit = int(tile.get_attribute("data-unit"))
    assert unit >= EXACT
    tile.locator("canvas").hover()
    assert f"channel {unit} (tiles)" in page.locator(".acts-tooltip").inner_text()
    tile.click()
    return unit


def test_a_channel_past_the_window_comes_exact_when_selected(notebook, page):
    nb = notebook([SETUP + "ex = actscope.Explorer(model, images, layer='0')\nex"])
    page.wait_for_selector(".acts-root[data-drawn='0|0']", timeout=90_000)
    note = page.locator(".acts-note").first.inner_text()
    assert f"channels 0–{EXACT - 1} are exact here" in note, note
    unit = tile_drawn_channel(page)
    nb.kernel.wait_for("ex.unit", lambda u: u == unit)
    page.wait_for_selector(
        f"canvas.acts-big[data-unit='{unit}'][data-exact='true']", timeout=30_000
    )
    big = page.locator("canvas.acts-big")
    big.scroll_into_view_if_needed()
    box = big.bounding_box()
    page.mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] - 1)  # y 47, x 47
    tip = page.locator(".acts-tooltip").inner_text()
    assert "y 47, x 47" in tip, tip
    shown = float(re.search(r"value (\S+)", tip).group(1))
    exact = nb.kernel.eval(f"float(ex.session.activation('0', 0)[{unit}, 47, 47])")
    assert abs(shown - exact) <= 2e-3 * max(1.0, abs(exact)), (shown, exact)
    screenshot(page, "channel-grid-live", page.locator(".acts-root"))


def test_the_exported_page_draws_the_other_channels_from_their_tiles(browser, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "channels.html"
    script = SETUP + (
        "ex = actscope.Explorer(model, images, layer='0')\n"
        f"ex.snapshot(layers=['0'])\nex.to_html({str(path)!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    for page, scheme in themed_pages(browser, path):
        page.wait_for_selector(".acts-root[data-drawn='0|0']", timeout=30_000)
        unit = tile_drawn_channel(page)
        page.wait_for_selector(f"canvas.acts-big[data-unit='{unit}'][data-exact='false']")
        hint = page.locator(".acts-detail .acts-hint").inner_text()
        assert hint == "Drawn from tiles: this page saved its tiles only.", hint
        screenshot(page, f"channel-grid-page-{scheme}", page.locator(".acts-root"))
