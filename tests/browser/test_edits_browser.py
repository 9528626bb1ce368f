"""Edits and patching in JupyterLab: click "ablate" on a unit and see the prediction change;
remove the edit and see the clean views again; run a patching sweep from the panel and open
a cell; then the exported page with the edits and the sweep, light and dark."""

from __future__ import annotations

from .conftest import screenshot, themed_pages

DIGITS = [
    "import actscope\nfrom actscope.demo.digits import digits_demo\n"
    "model, images, labels = digits_demo(8)\n"
    "ex = actscope.Explorer(model, images, labels=labels, layer='features.conv4')\nex",
]


def outputs_text(page) -> str:
    return page.locator(".acts-outputs .acts-barlist").inner_text()


def test_ablate_changes_the_prediction_and_removing_it_restores_the_views(notebook, page):
    nb = notebook(DIGITS)
    page.wait_for_selector(".acts-root[data-drawn='0|features.conv4']", timeout=60_000)
    page.wait_for_selector(".acts-outputs[data-outputs='drawn']", timeout=30_000)
    clean = outputs_text(page)
    assert "clean" not in clean
    assert page.locator(".acts-edits").inner_text().startswith("Select a unit")
    # The most active unit of this input, then "ablate" (with a channel this important,
    # together with its neighbours: steer it far down).
    page.locator(".acts-rank-row").first.click()
    unit = nb.kernel.wait_for("ex.unit", lambda u: u is not None)
    page.locator(".acts-edits-amount").fill("-50")
    page.locator(".acts-edits-amount").dispatch_event("change")
    page.locator("[data-edit='steer']").click()
    nb.kernel.wait_for("len(ex.edits)", lambda n: n == 1, timeout=20)
    assert nb.kernel.eval("ex.edits[0]['units']") == [unit]
    page.wait_for_selector(".acts-outputs .acts-edits-badge", timeout=30_000)
    edited = outputs_text(page)
    assert "(clean" in edited and edited != clean
    assert page.locator(".acts-root").get_attribute("data-edited") == "1"
    assert page.locator(".acts-edits-chip").count() == 1
    # The difference view: only what the edit changed.
    page.locator("[data-view='difference']").click()
    nb.kernel.wait_for("ex.edit_view", lambda v: v == "difference")
    screenshot(page, "edits-digits", page.locator(".acts-root"))
    # Remove the edit: the clean outputs, as before.
    page.locator(".acts-edits-remove").click()
    nb.kernel.wait_for("len(ex.edits)", lambda n: n == 0, timeout=20)
    page.wait_for_function(
        "() => !document.querySelector('.acts-outputs .acts-edits-badge')", timeout=30_000
    )
    assert outputs_text(page) == clean


PROMPTS = [
    "import actscope\nfrom actscope.demo.lm import load_tiny_lm\n"
    "model, tokenizer = load_tiny_lm()\n"
    "clean = 'import os\\nimport sys\\n\\n\\ndef main():\\n    path = os.path.join('\n"
    "corrupt = 'import os\\nimport sys\\n\\n\\ndef main():\\n    path = sys.path.join('\n"
    "ex = actscope.Explorer(model, [clean, corrupt], tokenizer=tokenizer, "
    "layer='transformer.h.0')\nex",
]


def test_a_patching_sweep_from_the_panel_opens_a_cell(notebook, page):
    nb = notebook(PROMPTS)
    page.wait_for_selector(".acts-patching[data-patching='empty']", timeout=60_000)
    page.locator("[data-action='patch']").click()
    page.wait_for_selector(".acts-patching[data-patching='drawn']", timeout=60_000)
    cells = page.locator(".acts-patching-cell")
    n_tokens = nb.kernel.eval("len(tokenizer(clean)['input_ids'])")
    assert cells.count() == 2 * n_tokens  # two blocks, each position
    page.locator(".acts-patching-cell[data-layer='1'][data-position='3']").click()
    nb.kernel.wait_for(
        "(ex.layer, ex.position, ex.input_index)", lambda v: v == ["transformer.h.1", 3, 1]
    )
    screenshot(page, "patching-lm", page.locator(".acts-patching"))


def test_the_exported_page_shows_the_edits_and_the_sweep_in_both_themes(browser, tmp_path):
    import subprocess
    import sys

    page_path = tmp_path / "edited.html"
    script = (
        "import actscope\nfrom actscope.demo.lm import load_tiny_lm\n"
        "model, tokenizer = load_tiny_lm()\n"
        "clean = 'import os\\nimport sys\\n\\n\\ndef main():\\n    path = os.path.join('\n"
        "corrupt = 'import os\\nimport sys\\n\\n\\ndef main():\\n    path = sys.path.join('\n"
        "ex = actscope.Explorer(model, [clean, corrupt], tokenizer=tokenizer, "
        "layer='transformer.h.1.mlp.act')\n"
        "ex.patch(0, 1)\nex.wait()\n"
        "ex.add_edit('scale', 0.0, units=[0, 1, 2, 3])\n"
        "ex.snapshot(layers=['transformer.h.1.mlp.act'], inputs=[0, 1])\n"
        f"ex.to_html({str(page_path)!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    for page, scheme in themed_pages(browser, page_path, height=1200):
        page.wait_for_selector(
            ".acts-outputs[data-outputs='drawn'] .acts-edits-badge", timeout=20_000
        )
        page.wait_for_selector(".acts-patching[data-patching='drawn']", timeout=20_000)
        assert page.locator(".acts-edits-chip").count() == 1
        assert page.locator("[data-action='patch']").is_disabled()  # no kernel to run one
        # Another input was saved edited too; a layer not in the snapshot says so.
        screenshot(page, f"edits-page-{scheme}", page.locator(".acts-root"))
