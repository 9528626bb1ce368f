"""The language-model panels on the demo LM in JupyterLab: click a token position, a head
and a unit, and see Python follow; then the exported page, light and dark."""

from __future__ import annotations

from .conftest import screenshot, themed_pages

LM = [
    "import actscope\nfrom actscope.demo.lm import PROMPTS, load_tiny_lm\n"
    "model, tokenizer = load_tiny_lm()\n"
    "ex = actscope.Explorer(model, PROMPTS, tokenizer=tokenizer, "
    "layer='transformer.h.1.mlp.act')\nex",
]


def state(page, panel: str, value: str = "drawn", timeout: int = 60_000) -> None:
    page.wait_for_selector(f".acts-{panel}[data-{panel}='{value}']", timeout=timeout)


def test_outputs_attention_lens_and_effects_follow_the_clicks(notebook, page):
    nb = notebook(LM)
    page.wait_for_selector(".acts-root[data-drawn='0|transformer.h.1.mlp.act']", timeout=60_000)
    for panel in ("outputs", "attention", "lens"):
        state(page, panel)
    # A token: Python's position follows, the top next tokens there are listed.
    chips = page.locator(".acts-outputs-token")
    n = chips.count()
    assert n == nb.kernel.eval("len(tokenizer(PROMPTS[0])['input_ids'])")
    chips.nth(2).click()
    nb.kernel.wait_for("ex.position", lambda p: p == 2)
    page.wait_for_selector(".acts-outputs-top[data-position='2']", timeout=10_000)
    assert page.locator(".acts-lens-col[data-position='2'].acts-on").count() >= 1
    # A head: shown large, with tokens on both axes, and Python's head follows.
    heads = page.locator(".acts-attention-head")
    assert heads.count() == 4  # the tiny LM has 4 heads a layer
    chosen = heads.nth(1).get_attribute("data-head")
    heads.nth(1).click()
    nb.kernel.wait_for("ex.head", lambda h: str(h) == chosen)
    # Rank heads by another score: the grid's order follows the scores Python computed.
    page.select_option(".acts-attention select", "previous_token")
    nb.kernel.wait_for("ex.head_score", lambda s: s == "previous_token")
    order = [heads.nth(i).get_attribute("data-head") for i in range(4)]
    nb.kernel.run("from actscope.widget import wire")
    scores = nb.kernel.eval("wire.decode(ex.attention_view)[0]['scores']['previous_token']")
    assert order == [str(i) for i in sorted(range(4), key=lambda i: -scores[i])]
    # A unit: its logit effects appear.
    page.locator(".acts-rank-row").first.click()
    state(page, "effects")
    assert page.locator(".acts-effects").inner_text().count("\n") > 10
    screenshot(page, "lm-panels", page.locator(".acts-root"))


def test_the_exported_lm_page_shows_the_panels_in_both_themes(browser, tmp_path):
    import subprocess
    import sys

    page_path = tmp_path / "lm.html"
    subprocess.run(
        [sys.executable, "-m", "actscope", "demo", "--lm", "--html", str(page_path)],
        check=True,
        timeout=600,
    )
    for page, scheme in themed_pages(browser, page_path):
        for panel in ("outputs", "attention", "lens"):
            state(page, panel, timeout=20_000)
        assert page.locator(".acts-root").get_attribute("data-theme") == scheme
        page.locator(".acts-outputs-token").nth(3).click()
        page.wait_for_selector(".acts-outputs-top[data-position='3']", timeout=5_000)
        page.locator(".acts-attention-head").nth(2).click()
        # The second input was saved too: its panels draw with no kernel.
        page.locator(".acts-input[data-index='1']").click()
        page.wait_for_selector(".acts-outputs[data-outputs='drawn']", timeout=5_000)
        screenshot(page, f"lm-page-{scheme}", page.locator(".acts-root"))
