"""A lens's features in JupyterLab: the demo LM with the first principal directions of a
block's output as a lens; the features under their block in the tree, called features,
the tokens coloured by a clicked feature, ranked by count, the features most specific to
an input; ablating one from the edits panel changes the prediction; then the exported
page, light and dark."""

from __future__ import annotations

import re

from .conftest import screenshot, themed_pages

SETUP = (
    "import actscope\nfrom actscope.demo.lm import PROMPTS, load_tiny_lm\n"
    "from actscope.demo.text import corpus\n"
    "model, tokenizer = load_tiny_lm()\n"
    "pca = actscope.lenses.pca(model, corpus(120), 'transformer.h.1', 16, tokenizer=tokenizer)\n"
)
FEATURES = "transformer.h.1/pca"


def test_features_in_the_tree_the_view_and_the_edits(notebook, page):
    nb = notebook(
        [
            SETUP + "ex = actscope.Explorer(model, PROMPTS[:3], tokenizer=tokenizer, "
            f"lenses=[pca], layer={FEATURES!r})\nex"
        ]
    )
    page.wait_for_selector(f".acts-root[data-drawn='0|{FEATURES}']", timeout=60_000)
    row = page.locator(f".acts-row[data-name='{FEATURES}']")
    # what the features explain of their block on this input, beside them in the tree
    explained = row.locator(".acts-type").inner_text()
    assert re.fullmatch(r"features · PCA · \d+%", explained), explained
    assert "acts-features" in (row.get_attribute("class") or "")
    assert page.locator(".acts-detail .acts-hint").inner_text().startswith("Click a feature")
    page.locator(".acts-rank-row").first.click()
    unit = nb.kernel.wait_for("ex.unit", lambda u: u is not None)
    page.wait_for_selector(f".acts-token-text[data-unit='{unit}']", timeout=20_000)
    title = page.locator(".acts-token-text .acts-detail-title").inner_text()
    assert title.startswith(f"Feature {unit} on this input")
    assert page.locator(".acts-ranking .acts-panel-title").inner_text() == "Top features"
    assert page.locator(".acts-edits .acts-label").first.inner_text() == f"feature {unit}"
    note = page.locator(".acts-note").first.inner_text()
    assert "16 features of transformer.h.1" in note and "% of its variance on this input" in note
    # Which features fire on a token: click its label.
    page.locator(".acts-seq-label[data-position='1']").click()
    at = page.locator(".acts-at[data-position='1']")
    assert at.locator(".acts-detail-title").inner_text().startswith("The features most active at")
    first = at.locator(".acts-at-unit").first
    picked = int(first.get_attribute("data-unit"))
    first.click()
    nb.kernel.wait_for("ex.unit", lambda u, picked=picked: u == picked)
    unit = picked
    page.wait_for_selector(f".acts-token-text[data-unit='{unit}']", timeout=20_000)
    screenshot(page, "features-lm", page.locator(".acts-root"))
    # Rank by count: the features active at the most tokens.
    page.locator(".acts-ranking button[data-by='count']").click()
    assert page.locator(".acts-rank-row .acts-rank-value").first.inner_text().endswith("×")
    # Which features are most specific to this input, against the other two?
    page.locator(".acts-specific [data-group='only']").click()
    nb.kernel.wait_for("ex.contrast_group", lambda g: g == [0])
    page.wait_for_selector(".acts-specific[data-specific='drawn']", timeout=30_000)
    assert "input 0 against the other 2" in page.locator(".acts-specific").inner_text()
    specific = page.locator(".acts-specific .acts-barlist-row").first
    picked = int(specific.get_attribute("data-unit"))
    specific.click()
    nb.kernel.wait_for("ex.unit", lambda u, picked=picked: u == picked)
    screenshot(page, "features-specific", page.locator(".acts-root"))
    page.wait_for_selector(".acts-outputs[data-outputs='drawn']", timeout=30_000)
    clean = page.locator(".acts-outputs .acts-barlist").inner_text()
    page.locator("[data-edit='ablate']").click()
    nb.kernel.wait_for("len(ex.edits)", lambda n: n == 1, timeout=20)
    assert nb.kernel.eval("ex.edits[0]['layer']") == FEATURES
    page.wait_for_selector(".acts-outputs .acts-edits-badge", timeout=30_000)
    assert page.locator(".acts-outputs .acts-barlist").inner_text() != clean


def test_the_exported_page_shows_the_features_in_both_themes(browser, tmp_path):
    import subprocess
    import sys

    page_path = tmp_path / "features.html"
    script = (
        SETUP + "ex = actscope.Explorer(model, PROMPTS[:2], tokenizer=tokenizer, "
        f"lenses=[pca], layer={FEATURES!r})\n"
        f"ex.snapshot(layers=[{FEATURES!r}], inputs=[0, 1])\n"
        f"ex.to_html({str(page_path)!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    for page, scheme in themed_pages(browser, page_path):
        page.wait_for_selector(f".acts-root[data-drawn='0|{FEATURES}']", timeout=20_000)
        tree = page.locator(f".acts-row[data-name='{FEATURES}'] .acts-type")
        assert re.fullmatch(r"features · PCA · \d+%", tree.inner_text())
        page.locator(".acts-rank-row").first.click()
        page.wait_for_selector(".acts-token-text", timeout=20_000)
        assert (
            page.locator(".acts-token-text .acts-detail-title").inner_text().startswith("Feature")
        )
        # each saved input against the other, saved; a group of both was not
        page.locator(".acts-specific [data-group='only']").click()
        page.wait_for_selector(".acts-specific[data-specific='drawn']", timeout=20_000)
        assert "input 0 against the other 1" in page.locator(".acts-specific").inner_text()
        screenshot(page, f"features-page-{scheme}", page.locator(".acts-root"))
