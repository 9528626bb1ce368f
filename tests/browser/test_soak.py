"""A soak test: 1,000 random clicks and key presses on the MiniLM explorer in JupyterLab.

At the end the view shows exactly the selection Python holds, the page logged no error
(the page fixture fails on any), the JS heap stays under its bound and the kernel's memory
has not grown past what the session's cache may hold.
"""

from __future__ import annotations

from .conftest import screenshot
from .test_lab import MINILM

ACTIONS = 1_000
JS_HEAP_BOUND = 256 * 2**20
"""Bytes of JS heap the page may use after the soak (the view store's budget is 96 MB)."""
KERNEL_GROWTH_BOUND = 400 * 2**20
"""Bytes the kernel may grow by: the session caches every layer of at most 4 inputs
(MiniLM, 8 short sentences: tens of MB) plus prefetched blobs; far less than this."""

RSS = "__import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss * 1024"

SOAK = """async ([n, seed]) => {
    let s = seed;
    const rand = (k) => { s = (s * 1103515245 + 12345) % 2147483648; return s % k; };
    const root = document.querySelector('.acts-root');
    const pick = (sel) => { const all = root.querySelectorAll(sel); return all[rand(all.length)]; };
    const keys = ['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Escape'];
    const done = {click: 0, key: 0};
    for (let i = 0; i < n; i++) {
        const what = rand(10);
        let el = null;
        if (what < 3) el = pick('.acts-row');
        else if (what < 5) el = pick('.acts-input');
        else if (what < 6) el = pick('.acts-rank-row');
        else if (what < 7) el = pick('.acts-seg button');
        else if (what < 8) el = pick('.acts-band, .acts-clip, .acts-caret');
        if (el) { el.click(); done.click++; }
        else {
            const key = keys[rand(keys.length)];
            root.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true}));
            done.key++;
        }
        if (i % 25 === 0) await new Promise((r) => setTimeout(r, 15));
    }
    return done;
}"""


def test_a_thousand_random_actions_end_on_the_selection_python_holds(notebook, page):
    nb = notebook(MINILM)
    page.wait_for_selector(
        ".acts-root[data-drawn='0|encoder.layer.3.intermediate']", timeout=60_000
    )
    rss_before = nb.kernel.eval(RSS)
    done = page.evaluate(SOAK, [ACTIONS, 7])
    assert done["click"] + done["key"] == ACTIONS and done["click"] > 500 and done["key"] > 100
    # Let the last debounced change reach Python; then both sides must agree, and stay so.
    page.wait_for_timeout(200)  # the 60 ms keyboard debounce, with margin
    selection = "[ex.layer, ex.input_index, ex.unit]"
    previous = None
    for _ in range(60):
        layer, input_index, unit = nb.kernel.eval(selection)
        key = f"{input_index}|{layer}"
        page.wait_for_selector(f".acts-root[data-drawn='{key}']", timeout=30_000)
        if previous == (layer, input_index, unit):
            break
        previous = (layer, input_index, unit)
    root = page.locator(".acts-root")
    assert root.get_attribute("data-drawn") == f"{input_index}|{layer}"
    assert root.get_attribute("data-layer") == layer
    assert root.get_attribute("data-input") == str(input_index)
    shown_unit = root.get_attribute("data-unit") or None  # absent or "" when none is selected
    assert shown_unit == (None if unit is None else str(unit))
    assert nb.kernel.eval("ex.status['state']") == "ready", nb.kernel.eval("ex.status")
    heap = page.evaluate("() => performance.memory.usedJSHeapSize")
    assert heap < JS_HEAP_BOUND, f"JS heap {heap / 2**20:.0f} MB"
    growth = nb.kernel.eval(RSS) - rss_before
    assert growth < KERNEL_GROWTH_BOUND, f"kernel grew by {growth / 2**20:.0f} MB"
    held = nb.kernel.eval("ex.session.cached()")
    assert len(held["all_layers"]) <= 4 and len(held["one_layer"]) <= 4
    screenshot(page, "soak-minilm", root)
