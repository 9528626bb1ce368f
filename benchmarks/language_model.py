"""Language-model views: their cost over one bare forward pass, and their size on the wire,
beside CircuitsVis and bertviz.

Two models, measured in one run: the demo tiny GPT-2 on a 256-token slice of Python's own
source, and a random-initialised GPT-2-small shape (12 layers, 768 wide, 12 heads) on 512
tokens. For each, the median time of ``predictions`` (top 10 next tokens at every
position), ``logit_lens`` (every block) and ``attention`` (every head of every layer), each
timed alternately with the bare forward pass it is compared to (same batch, same warm
state, ``torch.no_grad``), and their ratio (goal ≤ 1.3×: one pass each).

Then the attention view's wire size: the blob actscope sends for one layer (every head, the
whole pattern) in bytes per probability shown, beside the HTML CircuitsVis'
``attention_patterns`` returns for the same heads and tokens and bertviz's ``head_view``
(which embeds every layer's attention as JSON text; its issue #82: the page fails to draw
near 512 tokens).

Then, in JupyterLab and Chromium (``--no-browser`` skips it): a click on a head → that
head drawn large (after paint), on both models, beside a bare anywidget's click → Python →
paint round trip (``benchmarks/interventions.py``'s), median of ``--clicks``.

    python benchmarks/language_model.py                 # CUDA when present
    python benchmarks/language_model.py --device cpu --repeats 5
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

import actscope
from actscope.widget.panels.attention import attention_blob


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def alternate(fns: dict[str, Callable[[], Any]], repeats: int, device: torch.device) -> dict:
    """Median seconds of each function, run in turn ``repeats`` times after one warm-up."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def tiny_lm(device: torch.device) -> tuple[Any, Any, torch.Tensor, str]:
    from actscope.demo.lm import load_tiny_lm

    model, tokenizer = load_tiny_lm()
    text = inspect.getsource(argparse)
    ids = tokenizer(text, return_tensors="pt")["input_ids"][:, :256]
    return model.to(device), tokenizer, ids.to(device), "demo tiny GPT-2 (2×128)"


def gpt2_small(device: torch.device) -> tuple[Any, Any, torch.Tensor, str]:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GPT2LMHeadModel(GPT2Config()).eval()  # GPT-2 small's shape, random weights
    ids = torch.randint(0, model.config.vocab_size, (1, 512), generator=torch.Generator())
    return model.to(device), None, ids.to(device), "GPT-2-small shape, random (12×768)"


def time_views(model: Any, ids: torch.Tensor, repeats: int, device: torch.device) -> dict:
    batch = {"input_ids": ids}

    def bare() -> Any:
        with torch.no_grad():
            return model(**batch)

    return alternate(
        {
            "bare forward": bare,
            "predictions": lambda: actscope.predictions(model, batch, k=10),
            "logit_lens": lambda: actscope.logit_lens(model, batch, k=10),
            "attention": lambda: actscope.attention(model, batch),
        },
        repeats,
        device,
    )


def wire_sizes(model: Any, tokenizer: Any, ids: torch.Tensor) -> list[tuple[str, str, str]]:
    """(what, bytes, bytes per probability) of one layer's attention, every head."""
    patterns = actscope.attention(model, {"input_ids": ids})
    name = list(patterns)[-1]
    pattern = patterns[name][0].float().cpu()  # (heads, T, T)
    shown = pattern.numel()
    tokens = (
        tokenizer.convert_ids_to_tokens(ids[0].tolist())
        if tokenizer is not None
        else [f"t{i}" for i in ids[0].tolist()]
    )
    rows = []
    ours = attention_blob(pattern, layer=name, input_index=0, ids=ids[0].cpu(), tokens=tokens)
    rows.append(("actscope attention view", len(ours), len(ours) / shown))
    try:
        from circuitsvis.attention import attention_patterns

        html = attention_patterns(tokens=tokens, attention=pattern)
        size = len(str(getattr(html, "cdn_src", html)).encode())
        rows.append(("CircuitsVis attention_patterns (HTML)", size, size / shown))
    except Exception as exc:  # a baseline's failure is a result
        rows.append((f"CircuitsVis failed: {type(exc).__name__}", 0, float("nan")))
    try:
        from bertviz import head_view

        every = actscope.attention(model, {"input_ids": ids})
        layers = tuple(every[n].float().cpu() for n in every)
        html = head_view(layers, tokens, html_action="return")
        size = len(str(getattr(html, "data", html)).encode())
        total = sum(t.numel() for t in layers)
        rows.append(("bertviz head_view (HTML, every layer)", size, size / total))
    except Exception as exc:
        failed = f"bertviz head_view failed: {type(exc).__name__}: {exc}"[:70]
        rows.append((failed, 0, float("nan")))
    return [(what, f"{size:,}", f"{per:.2f}") for what, size, per in rows]


NOTEBOOKS = {
    "demo tiny GPT-2, 4 heads": (
        "import actscope\nfrom actscope.demo.lm import PROMPTS, load_tiny_lm\n"
        "model, tokenizer = load_tiny_lm()\n"
        "ex = actscope.Explorer(model, PROMPTS, tokenizer=tokenizer, "
        "layer='transformer.h.1.mlp.act')\nex"
    ),
    "GPT-2-small shape, 512 tokens, 12 heads": (
        "import torch, warnings, actscope\n"
        "from transformers import GPT2Config, GPT2LMHeadModel\n"
        "torch.manual_seed(0)\nwarnings.simplefilter('ignore')\n"
        "model = GPT2LMHeadModel(GPT2Config()).eval()\n"
        "ids = torch.randint(0, 50257, (1, 512), generator=torch.Generator())\n"
        "ex = actscope.Explorer(model, [{'input_ids': ids}], layer='transformer.h.5.mlp.act')\nex"
    ),
}


def browser_rows(clicks: int) -> list[str]:
    """Click a head → it is drawn large, in JupyterLab, against a bare widget round trip."""
    import sys
    import tempfile
    from pathlib import Path

    from explorer import BASELINE_CLICK
    from interventions import BARE_WIDGET, CLICK_UNTIL
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, JupyterServer, Notebook

    server = JupyterServer(Path(tempfile.mkdtemp(prefix="actscope-bench-")))
    js = str(Path(__file__).resolve().parent / "baseline_canvas.js")
    rows, bare = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for number, (label, cell) in enumerate(NOTEBOOKS.items()):
                name = f"heads-{number}.ipynb"
                server.write_notebook(name, [cell, BARE_WIDGET.format(js=js)])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                nb = Notebook(server, page, name)
                nb.run_all(timeout=600_000)
                page.wait_for_selector(".acts-attention[data-attention='drawn']", timeout=300_000)
                times = []
                for i in range(clicks + 1):  # the first is a warm-up
                    head = 1 + i % 2  # never the one shown: each click changes the view
                    ms = page.evaluate(
                        CLICK_UNTIL,
                        [f".acts-attention-head[data-head='{head}']",
                         f".acts-attention-big[data-head='{head}']"],
                    )  # fmt: skip
                    times.append(ms)
                    bare.append(page.evaluate(BASELINE_CLICK, "request"))
                rows.append(f"  {'click a head → drawn large, ' + label:<68} "
                            f"{statistics.median(times[1:]):8.1f} ms")  # fmt: skip
                nb.close()
                page.close()
            browser.close()
    finally:
        server.stop()
    floor = statistics.median(bare)
    rows.append(f"  {'bare anywidget: click → Python → 20 B painted':<68} {floor:8.1f} ms")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clicks", type=int, default=10, help="head clicks in the browser")
    parser.add_argument("--no-browser", action="store_true", help="skip the JupyterLab rows")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    for load in (tiny_lm, gpt2_small):
        model, tokenizer, ids, label = load(device)
        times = time_views(model, ids, args.repeats, device)
        bare = times["bare forward"]
        print(f"{label}, {ids.shape[1]} tokens")
        print(f"  {'call':<14} {'median s':>10} {'× bare':>8}")
        for name, seconds in times.items():
            print(f"  {name:<14} {seconds:>10.4f} {seconds / bare:>8.2f}")
        print(f"  {'attention of one layer, every head':<44} {'bytes':>12} {'B/prob':>8}")
        for what, size, per in wire_sizes(model, tokenizer, ids):
            print(f"  {what:<44} {size:>12} {per:>8}")
        print()
    if not args.no_browser:
        print("JupyterLab, Chromium (headless), median of", args.clicks, "clicks")
        for row in browser_rows(args.clicks):
            print(row)


if __name__ == "__main__":
    main()
