"""How fast the explorer is, measured side by side with baselines in one run.

    .venv/bin/python benchmarks/explorer.py              # everything (about 2 minutes)
    .venv/bin/python benchmarks/explorer.py --no-browser # capture overhead and bytes only
    .venv/bin/python benchmarks/explorer.py --no-plotly  # skip the slow plotly baseline

Prints, for MiniLM-L6 at 128 tokens (on CUDA as well when a GPU is there):
- capture overhead: one forward pass with every module hooked, over the bare forward pass;
- bytes per activation value on the wire, against JSON lists and plotly's figure JSON;
- in a real JupyterLab and Chromium: median time from a click to the frame painted (the
  clock stops two animation frames after the draw, for every side alike), for a layer
  (128 tokens × 1,536 neurons), for an input (forward pass included; at the first and at
  the last MLP layer) and for a layer of 50,000 units. Like for like: a prefetched draw
  against a bare anywidget canvas redrawing data it already holds, a round trip against
  the same canvas asking Python, and a plotly FigureWidget heatmap whose update a click
  asks Python for, timed in the page too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import actscope  # noqa: E402
from actscope.demo.text import MLP_LAYERS, corpus, load_minilm  # noqa: E402
from actscope.widget import wire  # noqa: E402

TOKENS = 128
MLP3 = MLP_LAYERS[3]
Row = tuple[str, str, str, str, str]


def long_texts(n: int) -> list[str]:
    """``n`` texts of real documentation, each long enough for 128 tokens."""
    paragraphs = corpus()
    return [" ".join(paragraphs[i * 6 : (i + 1) * 6]) for i in range(n)]


def median_ms(fn, repeats: int = 30, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def tokens(tokenizer, device: torch.device) -> tuple[str, dict[str, torch.Tensor]]:
    text = long_texts(1)[0]
    encoded = tokenizer(text, return_tensors="pt", truncation=True, max_length=TOKENS)
    return text, {k: v.to(device) for k, v in encoded.items()}


def overhead(model, tokenizer, device: torch.device) -> dict[str, float]:
    """Bare forward, forward with every module captured, and with hooks that keep nothing.

    Also the page faults per captured forward: keeping every output alive needs fresh
    memory, and whether glibc hands back pages it already has depends on the state of
    its heap, which varies from one process to the next.
    """
    model = model.to(device)
    _, batch = tokens(tokenizer, device)
    modules = [m for n, m in model.named_modules() if n]

    def bare() -> None:
        with torch.no_grad():
            model(**batch)
        sync(device)

    faults = [0]

    def hooked() -> None:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        with torch.no_grad(), actscope.capture(model, None):
            model(**batch)
        sync(device)
        faults[0] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    def hooks_only() -> None:
        handles = [m.register_forward_hook(lambda *_: None) for m in modules]
        with torch.no_grad():
            model(**batch)
        for handle in handles:
            handle.remove()
        sync(device)

    # Interleave them so that drift (thermal, other load) hits all alike.
    bare_ms, hooked_ms, only_ms = [], [], []
    for _ in range(5):
        bare_ms.append(median_ms(bare, repeats=10))
        hooked_ms.append(median_ms(hooked, repeats=10))
        only_ms.append(median_ms(hooks_only, repeats=10))
    return {
        "bare": statistics.median(bare_ms),
        "hooked": statistics.median(hooked_ms),
        "only": statistics.median(only_ms),
        "faults": faults[0] / (5 * 13),  # per captured forward (warm-ups included)
        "modules": len(modules),
    }


def fresh_processes(n: int, env: dict[str, str] | None = None) -> list[dict[str, float]]:
    """``overhead`` on the CPU in ``n`` new processes (each with its own heap)."""
    runs = []
    for _ in range(n):
        out = subprocess.run(
            [sys.executable, __file__, "--overhead-json"],
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return runs


# Keep freed memory in the heap instead of giving it back to the kernel: see the README.
MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": "1000000000", "MALLOC_MMAP_THRESHOLD_": "1000000000"}


def overhead_rows(runs: list[dict[str, float]], label: str, goal: str) -> list[Row]:
    ratios = sorted(r["hooked"] / r["bare"] for r in runs)
    only = statistics.median(r["only"] / r["bare"] for r in runs)
    faults = statistics.median(r["faults"] for r in runs)
    spread = (
        f" ({ratios[0]:.2f}–{ratios[-1]:.2f} over {len(runs)} processes)" if len(runs) > 1 else ""
    )
    rows = [
        (
            f"capture overhead, {int(runs[0]['modules'])} modules hooked ({label})",
            f"{statistics.median(r['hooked'] for r in runs):.1f} ms",
            f"bare forward {statistics.median(r['bare'] for r in runs):.1f} ms",
            f"{statistics.median(ratios):.2f}×{spread}",
            goal,
        )
    ]
    if goal:
        rows.append(("  … of which the hooks alone (keeping nothing)", "", "", f"{only:.2f}×", ""))
    if label.startswith("cpu"):
        rows.append((f"  … page faults per captured forward: {faults:.0f}", "", "", "", ""))
    return rows


def engine_rows(model, tokenizer, device: torch.device) -> list[Row]:
    if device.type == "cpu":
        rows = overhead_rows(fresh_processes(5), "cpu", "≤ 1.2×")
        rows += overhead_rows(fresh_processes(3, MALLOC_ENV), "cpu, glibc keeps freed memory", "")
    else:
        rows = overhead_rows([overhead(model, tokenizer, device)], device.type, "≤ 1.2×")
    model = model.to(device)
    text, _ = tokens(tokenizer, device)
    ex = actscope.Explorer(model, [text], tokenizer=tokenizer, max_length=TOKENS, layer=MLP3)
    meta, arrays = wire.decode(ex.layer_view)
    values = arrays["act"].size
    blob = len(ex.layer_view)
    as_json = len(json.dumps(arrays["act"].round(4).tolist()).encode())
    rows += [
        (
            f"bytes per value on the wire ({meta['shape'][0]}×{meta['shape'][1]})",
            f"{blob / values:.2f}",
            f"JSON list {as_json / values:.1f}",
            f"{blob / as_json:.2f}×",
            "≤ 2",
        ),
    ]
    try:
        import plotly.graph_objects as go

        fig = go.Figure(go.Heatmap(z=arrays["act"]))
        plotly_bytes = len(fig.to_json().encode())
        rows.append(
            (
                "  … against plotly figure JSON",
                f"{blob / values:.2f}",
                f"plotly {plotly_bytes / values:.1f}",
                f"{blob / plotly_bytes:.2f}×",
                "",
            )
        )
    except ImportError:
        pass
    model.to("cpu")
    return rows


# -- in the browser --------------------------------------------------------------------------

SETUP = f"""
import sys, pathlib, torch, anywidget, traitlets, actscope
from actscope.demo.text import load_minilm, corpus
sys.path.insert(0, {str(ROOT / "benchmarks")!r})
model, tokenizer = load_minilm()
paragraphs = corpus()
texts = [" ".join(paragraphs[i * 6:(i + 1) * 6]) for i in range(8)]
"""
EXPLORERS = f"""
options = dict(tokenizer=tokenizer, max_length={TOKENS}, layer={MLP_LAYERS[0]!r})
ex = actscope.Explorer(model, texts, **options)
ex_cold = actscope.Explorer(model, texts, prefetch=False, **options)
nn = torch.nn
wide = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 50_000)).eval()
ex_wide = actscope.Explorer(wide, torch.randn(4, 64), layer="2", prefetch=False)
last = dict(options, layer={MLP_LAYERS[-1]!r})
ex_last = actscope.Explorer(model, texts, prefetch=False, **last)
ex_first = actscope.Explorer(model, texts, prefetch=False, **options)
from IPython.display import display
display(ex, ex_cold, ex_wide, ex_last, ex_first)
"""
BASELINE = f"""
class Baseline(anywidget.AnyWidget):
    _esm = pathlib.Path({str(ROOT / "benchmarks" / "baseline_canvas.js")!r})
    request = traitlets.Int(0).tag(sync=True)
    data = traitlets.Bytes(b"").tag(sync=True)
    shape = traitlets.List([{TOKENS}, 1536]).tag(sync=True)
arrays = [torch.randn({TOKENS}, 1536).half().numpy().tobytes() for _ in range(2)]
baseline = Baseline()
baseline.observe(lambda change: setattr(baseline, "data", arrays[change["new"] % 2]), "request")
baseline
"""
PLOTLY = f"""
import plotly.graph_objects as go
zs = [torch.randn({TOKENS}, 1536).numpy() for _ in range(2)]
fig = go.FigureWidget(go.Heatmap(z=zs[0]))
class Trigger(anywidget.AnyWidget):  # a click in the page asks Python for the next z
    _esm = pathlib.Path({str(ROOT / "benchmarks" / "plotly_trigger.js")!r})
    request = traitlets.Int(0).tag(sync=True)
trigger = Trigger()
trigger.observe(lambda change: setattr(fig.data[0], "z", zs[change["new"] % 2]), "request")
display(fig, trigger)
"""

# Every clock stops when the frame is painted: two animation frames after the draw (the
# first runs before the paint, the second after it), for actscope and baselines alike.

CLICK_TO_DRAWN = """async ([rootIndex, selector, key]) => {
    const root = document.querySelectorAll('.acts-root')[rootIndex];
    const painted = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return await new Promise((resolve, reject) => {
        let t0 = 0;
        const timer = setTimeout(() => reject(new Error('not drawn: ' + key)), 20000);
        const done = (e) => {
            if (e.target !== root || `${e.detail.input_index}|${e.detail.layer}` !== key) return;
            document.removeEventListener('actscope:drawn', done);
            clearTimeout(timer);
            painted().then(() => resolve(performance.now() - t0));
        };
        document.addEventListener('actscope:drawn', done);
        const el = root.querySelector(selector);
        t0 = performance.now();
        el.click();
    });
}"""

BASELINE_CLICK = """async (which) => {
    const button = document.querySelector(`.baseline-${which}`);
    const painted = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return await new Promise((resolve) => {
        let t0 = 0;
        const done = () => {
            document.removeEventListener('baseline:drawn', done);
            painted().then(() => resolve(performance.now() - t0));
        };
        document.addEventListener('baseline:drawn', done);
        t0 = performance.now();
        button.click();
    });
}"""

PLOTLY_CLICK = """async () => {
    const plot = document.querySelector('.js-plotly-plot');
    const button = document.querySelector('.plotly-request');
    const painted = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return await new Promise((resolve) => {
        let t0 = 0;
        const done = () => {
            plot.removeListener('plotly_afterplot', done);
            painted().then(() => resolve(performance.now() - t0));
        };
        plot.on('plotly_afterplot', done);
        t0 = performance.now();
        button.click();
    });
}"""


def browser_rows(with_plotly: bool) -> list[Row]:
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, JupyterServer, Notebook

    base = Path(tempfile.mkdtemp(prefix="actscope-bench-"))
    server = JupyterServer(base)
    cells = [SETUP, EXPLORERS, BASELINE] + ([PLOTLY] if with_plotly else [])
    server.write_notebook("bench.ipynb", cells)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            nb = Notebook(server, page, "bench.ipynb")
            nb.run_all(timeout=300_000)
            page.wait_for_selector(".acts-root[data-drawn]", timeout=60_000)
            rows = measure(page, with_plotly)
            nb.close()
            browser.close()
    finally:
        server.stop()
    return rows


def click(page, root: int, selector: str, key: str) -> float:
    return float(page.evaluate(CLICK_TO_DRAWN, [root, selector, key]))


def row(layer: str) -> str:
    return f".acts-row[data-name='{layer}']"


def input_item(i: int) -> str:
    return f".acts-input[data-index='{i}']"


def measure(page, with_plotly: bool) -> list[Row]:
    roots = page.locator(".acts-root")
    roots.nth(4).wait_for()
    # Warm: the default explorer, after prefetching the current input's layers.
    page.wait_for_function(
        "() => document.querySelectorAll('.acts-root')[0].dataset.prefetching === '0'",
        timeout=120_000,
    )
    warm = []
    for i in range(30):
        layer = MLP_LAYERS[(i + 1) % 6]
        warm.append(click(page, 0, row(layer), f"0|{layer}"))
    # Cold: no prefetching, every layer a first visit (a round trip to the kernel).
    cold = []
    current = MLP_LAYERS[0]
    for i in range(1, 5):
        click(page, 1, input_item(i), f"{i}|{current}")
        for layer in MLP_LAYERS:
            if layer != current:
                cold.append(click(page, 1, row(layer), f"{i}|{layer}"))
                current = layer
    # The first look at an input stops the forward pass after the selected layer: the first
    # MLP layer skips most of the model, the last one runs all of it. Both explorers have
    # prefetch off, so that every click is a first look with nothing fetched ahead.
    inputs_warm = [click(page, 4, input_item(i), f"{i}|{MLP_LAYERS[0]}") for i in range(1, 8)]
    inputs_last = [click(page, 3, input_item(i), f"{i}|{MLP_LAYERS[-1]}") for i in range(1, 8)]
    # Stepping back one input at a time, pausing on each: the previous input's view was
    # prefetched during the pause.
    inputs_paused = []
    for i in range(6, 2, -1):
        page.wait_for_timeout(1500)
        inputs_paused.append(click(page, 0, input_item(i), f"{i}|{MLP_LAYERS[0]}"))
    # A layer of 50,000 units: first visit (round trip) and revisit.
    # (Input 0's view of it is drawn at start: first visits are on inputs 1 to 3.)
    wide_cold, wide_warm = [], []
    click(page, 2, row("1"), "0|1")
    for i in range(1, 4):
        click(page, 2, input_item(i), f"{i}|1")
        wide_cold.append(click(page, 2, row("2"), f"{i}|2"))
        click(page, 2, row("1"), f"{i}|1")
        wide_warm.append(click(page, 2, row("2"), f"{i}|2"))
        click(page, 2, row("1"), f"{i}|1")  # back to layer 1 for the next input
    bare = [float(page.evaluate(BASELINE_CLICK, "request")) for _ in range(30)]
    bare_local = [float(page.evaluate(BASELINE_CLICK, "local")) for _ in range(30)]
    med = statistics.median
    rows = [
        (
            f"layer click → painted, {TOKENS}×1536 (prefetched)",
            f"{med(warm):.1f} ms",
            f"bare canvas, data held {med(bare_local):.1f} ms",
            f"{med(warm) / med(bare_local):.2f}×",
            "≤ 25 ms",
        ),
        (
            f"layer click → painted, {TOKENS}×1536 (round trip)",
            f"{med(cold):.1f} ms",
            f"bare canvas, round trip {med(bare):.1f} ms",
            f"{med(cold) / med(bare):.2f}×",
            "",
        ),
        (
            "input click → painted, MLP layer 0 (pass stops there)",
            f"{med(inputs_warm):.1f} ms",
            f"MLP layer 5 {med(inputs_last):.1f} ms",
            f"{med(inputs_warm) / med(inputs_last):.2f}×",
            "≤ 80 ms",
        ),
        (
            "input click → painted, MLP layer 5 (whole forward)",
            f"{med(inputs_last):.1f} ms",
            "",
            "",
            "≤ 80 ms",
        ),
        (
            "input step after a pause (prefetched)",
            f"{med(inputs_paused):.1f} ms",
            f"MLP layer 5 {med(inputs_last):.1f} ms",
            f"{med(inputs_paused) / med(inputs_last):.2f}×",
            "",
        ),
        (
            "open a 50,000-unit layer (round trip)",
            f"{med(wide_cold):.1f} ms",
            f"revisit {med(wide_warm):.1f} ms",
            "",
            "≤ 200 ms",
        ),
    ]
    if with_plotly:
        rows.append(plotly_row(page, med(cold)))
    return rows


def plotly_row(page, ours: float) -> Row:
    """A plotly FigureWidget heatmap of the same size: a click asks Python for a new z
    (a round trip, as actscope's) and the clock stops when plotly's frame is painted."""
    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
    page.wait_for_selector(".plotly-request", timeout=60_000)
    times = [float(page.evaluate(PLOTLY_CLICK)) for _ in range(10)]
    p = statistics.median(times)
    return (
        "layer click → painted, round trip, vs plotly FigureWidget",
        f"actscope {ours:.1f} ms",
        f"plotly {p:.0f} ms",
        f"{ours / p:.2f}×",
        "",
    )


def print_table(title: str, rows: list[Row]) -> None:
    header = ("measure", "actscope", "baseline", "ratio", "goal")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print(f"\n{title}")
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-browser", action="store_true", help="skip JupyterLab measurements")
    parser.add_argument("--no-plotly", action="store_true", help="skip the plotly baseline")
    parser.add_argument("--overhead-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model, tokenizer = load_minilm()
    if args.overhead_json:  # one fresh process's measurement, for engine_rows
        print(json.dumps(overhead(model, tokenizer, torch.device("cpu"))))
        return
    threads = torch.get_num_threads()
    rows = engine_rows(model, tokenizer, torch.device("cpu"))
    if torch.cuda.is_available():
        rows += engine_rows(model, tokenizer, torch.device("cuda"))
    if not args.no_browser:
        rows += browser_rows(with_plotly=not args.no_plotly)
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    print_table(
        f"actscope explorer benchmark: MiniLM-L6, {TOKENS} tokens; CPU {threads} threads; {gpu}",
        rows,
    )


if __name__ == "__main__":
    main()
