"""Sizes and open times of shared explorers, side by side in one run.

    .venv/bin/python benchmarks/sharing.py

Prints the bundle size, then for the digits CNN (all layers, 16 inputs) and MiniLM (6 MLP
layers × 8 sentences of up to 32 tokens): the snapshot, the standalone page, the page of a
notebook executed by nbclient and converted by nbconvert, and the time each page takes to
open in Chromium (navigation start to the snapshot decoded and pinned: every saved view can
then be clicked to; the first view alone may be drawn earlier), with every network request
blocked (the CDN scripts of the nbconvert page are served from tests/.assets). Baselines in
the same run: the explorer's first view as a self-contained plotly page, and the nbconvert
page of a notebook holding a single ipywidgets IntSlider (what the widget manager itself
costs to open).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.harness import nbconvert_page, offline  # noqa: E402

STATIC = ROOT / "src" / "actscope" / "static"
DIGITS = """
import actscope
from actscope.demo.digits import digits_demo
model, images, labels = digits_demo(16)
ex = actscope.Explorer(model, images, labels=labels)
info = ex.snapshot()
"""
MINILM = """
import actscope
from actscope.demo.text import MLP_LAYERS, SENTENCES, load_minilm
model, tokenizer = load_minilm()
ex = actscope.Explorer(model, SENTENCES, tokenizer=tokenizer, max_length=32, layer=MLP_LAYERS[3])
info = ex.snapshot(layers=MLP_LAYERS)
"""
CASES = [
    ("digits CNN, all layers × 16 inputs", DIGITS, 2.0),
    ("MiniLM, 6 MLP × 8 sentences", MINILM, 3.0),
]
OPEN_GOAL_S = 1.5
DRAWN = ".acts-root[data-snapshot]"  # set once the whole snapshot is decoded
# Baselines: the cheapest widget page nbconvert makes, and one view as a plotly page.
SLIDER = "import ipywidgets\nipywidgets.IntSlider(5)"
SLIDER_DRAWN = ".widget-slider"
PLOTLY_DRAWN = ".js-plotly-plot .main-svg"


def build(code: str, folder: Path) -> tuple[Path, Path, Path, int]:
    """The standalone page, the nbconvert page, one view as a plotly page, the snapshot size."""
    namespace: dict = {}
    exec(code, namespace)
    ex = namespace["ex"]
    standalone = ex.to_html(folder / "standalone.html")
    exported = nbconvert_page(code + "ex", folder / "nbconvert.html")
    plotly_page = folder / "plotly.html"
    ex.figure().write_html(plotly_page, include_plotlyjs=True, full_html=True)
    return standalone, exported, plotly_page, namespace["info"].bytes


def open_seconds(browser, path: Path, drawn: str = DRAWN, repeats: int = 3) -> float:
    """Median seconds from navigation start to ``drawn`` on the page, offline."""
    times = []
    for _ in range(repeats):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        offline(page, [])
        page.goto(path.as_uri())
        page.wait_for_selector(drawn, timeout=60_000)
        times.append(page.evaluate("() => performance.now()") / 1e3)
        page.close()
    return statistics.median(times)


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS

    bundle = (STATIC / "widget.js").stat().st_size + (STATIC / "widget.css").stat().st_size
    rows = [
        (
            "widget bundle (JS + CSS, inlined in each explorer's state)",
            f"{bundle / 1e3:.0f} kB",
            "",
            "",
            "≤ 110 kB",
        )
    ]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        slider = nbconvert_page(SLIDER, Path(tmp) / "slider.html")
        slider_s = open_seconds(browser, slider, SLIDER_DRAWN)
        for n, (name, code, goal_mb) in enumerate(CASES):
            folder = Path(tmp) / str(n)
            folder.mkdir()
            standalone, exported, plotly_page, snap = build(code, folder)
            size = standalone.stat().st_size
            opens = open_seconds(browser, standalone)
            plotly_s = open_seconds(browser, plotly_page, PLOTLY_DRAWN)
            plotly_mb = plotly_page.stat().st_size / 1e6
            nb_s = open_seconds(browser, exported)
            rows += [
                (f"{name}: snapshot (compressed)", f"{snap / 1e6:.2f} MB", "", "", ""),
                (
                    f"{name}: standalone page",
                    f"{size / 1e6:.2f} MB, opens in {opens:.2f} s",
                    f"one view as a plotly page: {plotly_mb:.2f} MB, {plotly_s:.2f} s",
                    f"{size / 1e6 / plotly_mb:.2f}× size, {opens / plotly_s:.2f}× time",
                    f"≤ {goal_mb:.0f} MB, ≤ {OPEN_GOAL_S} s",
                ),
                (
                    f"{name}: nbconvert page",
                    f"{exported.stat().st_size / 1e6:.2f} MB, opens in {nb_s:.2f} s",
                    f"an IntSlider's nbconvert page: {slider_s:.2f} s",
                    f"{nb_s / slider_s:.2f}× time",
                    "",
                ),
            ]
        browser.close()
    rows.insert(0, ("", "actscope", "baseline", "ratio", "goal"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print("\nactscope sharing benchmark (sizes on disk; open times in headless Chromium, offline)")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    if "--json" in sys.argv:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
