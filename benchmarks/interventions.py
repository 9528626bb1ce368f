"""Interventions: activation patching against TransformerLens and a naive loop; the cost of an edit.

Patching sweeps every block's residual input × every position (TransformerLens'
``resid_pre``) on two random GPT-2 shapes: 4 layers × 256 wide at 32 tokens, and the demo
LM's 2 layers × 128 wide (its trained weights when ``src/actscope/demo/tiny_lm`` has them).
Three ways, same model and metric (``actscope.logit_diff`` at the last position):
``actscope.patching_sweep`` (patched copies batched, the unpatched prefix reused, runs from
later positions where that pays — the 4-layer model; on the demo LM's width the check costs
more than it saves —, only the position the metric reads unembedded, the copies' metrics at
once), the same with the metric wrapped in a plain function (which says nothing of what it
reads: every position is unembedded, one copy at a time), TransformerLens'
``get_act_patch_resid_pre`` on a ``TransformerBridge`` built offline around a copy of the
model, and a naive loop of one full forward pass per patch with plain torch hooks. Results
are checked equal (1e-5) before timing; runs alternate (ours, ours plain, TL, naive, ours,
...) so a noisy machine hurts all alike; the table gives medians and each reference's time /
ours (above 1 means ours is faster).

The intervene row times a forward pass inside ``intervene`` with one edit (ablating 16 units
of an MLP activation at every position) against a bare forward pass, alternately.

The browser rows (JupyterLab and Chromium, the digits CNN): a click on "ablate" for the
selected unit until the outputs panel shows the edited prediction, painted (two animation
frames after), against a click on the next input until its outputs are painted: with the
session's caches emptied first, both ask Python for one forward pass and the redraws;
alternately, the edits cleared from the kernel between. Beside them, the floor of any
widget in this JupyterLab: a bare anywidget whose click asks Python for 20 bytes and paints
them (``benchmarks/baseline_canvas.js``, as in ``benchmarks/explorer.py``).

    python benchmarks/interventions.py                    # the model's device: CUDA when present
    python benchmarks/interventions.py --device cpu --repeats 5 --threads 1 --no-browser
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # TransformerLens shows a progress bar per sweep

import torch

import actscope

Fn = Callable[[], Any]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def alternate(fns: list[Fn], repeats: int, device: torch.device) -> list[float]:
    """Median seconds of each function, run in turn ``repeats`` times after a warm-up."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            times[i].append(timed(fn, device))
    return [statistics.median(t) for t in times]


def gpt2(layers: int, width: int, heads: int, vocab: int, device: torch.device) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=layers, n_embd=width, n_head=heads, vocab_size=vocab, n_positions=256,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(config).eval().to(device)


def demo_lm(device: torch.device) -> tuple[Any, str]:
    from actscope.demo.lm import WEIGHTS_DIR, load_tiny_lm

    if (WEIGHTS_DIR / "model.safetensors").exists():
        return load_tiny_lm()[0].to(device), "demo LM, trained"
    return gpt2(2, 128, 4, 2048, device), "demo LM shape, random"


def bridge_of(model: Any) -> Any:
    """TransformerLens 4's bridge around a copy (the bridge rewires the module it wraps)."""
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module

    wrapped = copy.deepcopy(model)
    return build_bridge_from_module(wrapped, type(model).__name__, hf_config=wrapped.config)


def naive(model: Any, clean: torch.Tensor, corrupted: torch.Tensor, metric: Any) -> torch.Tensor:
    """One forward pass per (block, position), the clean block input patched in by a hook."""
    blocks = model.transformer.h
    inputs: dict[int, torch.Tensor] = {}
    handles = [
        b.register_forward_pre_hook(lambda _m, a, i=i: inputs.setdefault(i, a[0].clone()))
        for i, b in enumerate(blocks)
    ]
    with torch.no_grad():
        model(clean)
    for h in handles:
        h.remove()
    out = torch.zeros(len(blocks), clean.shape[1])
    for layer, block in enumerate(blocks):
        for pos in range(clean.shape[1]):

            def patch(_m: Any, args: Any, layer: int = layer, pos: int = pos) -> Any:
                x = args[0].clone()
                x[:, pos] = inputs[layer][:, pos]
                return (x, *args[1:])

            handle = block.register_forward_pre_hook(patch)
            with torch.no_grad():
                out[layer, pos] = metric(model(corrupted).logits).mean()
            handle.remove()
    return out


def sweep_row(
    label: str, model: Any, tokens: int, batch: int, repeats: int, device: torch.device
) -> str:
    from transformer_lens import patching

    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(1, vocab, (batch, tokens), generator=gen).to(device)
    corrupted = torch.randint(1, vocab, (batch, tokens), generator=gen).to(device)
    blocks = [f"transformer.h.{i}" for i in range(model.config.n_layer)]
    metric = actscope.logit_diff(clean[:, -1], corrupted[:, -1])  # reads the last position

    def plain(logits: torch.Tensor) -> torch.Tensor:  # the same numbers, as any callable
        return metric(logits)

    bridge = bridge_of(model)
    with torch.no_grad():
        _, cache = bridge.run_with_cache(clean)

    def ours() -> torch.Tensor:
        return actscope.patching_sweep(model, clean, corrupted, blocks, site="input", metric=metric)

    def ours_plain() -> torch.Tensor:
        return actscope.patching_sweep(model, clean, corrupted, blocks, site="input", metric=plain)

    def tl() -> torch.Tensor:
        with torch.no_grad():
            return patching.get_act_patch_resid_pre(
                bridge, corrupted, cache, lambda x: metric(x).mean()
            )

    def loop() -> torch.Tensor:
        return naive(model, clean, corrupted, metric)

    mine = ours().cpu()
    others = {
        "actscope with a plain metric": ours_plain(),
        "TransformerLens": tl(),
        "the naive loop": loop(),
    }
    for name, other in others.items():
        error = float((mine - other.cpu()).abs().max())
        if error > 1e-5:
            raise SystemExit(f"{label}: actscope and {name} differ by {error:.2g}")
    t_ours, t_plain, t_tl, t_loop = alternate([ours, ours_plain, tl, loop], repeats, device)
    patches = len(blocks) * tokens
    return (
        f"{label:44} {patches:>7} {t_ours * 1e3:9.1f}ms {t_plain * 1e3:9.1f}ms "
        f"{t_tl * 1e3:9.1f}ms {t_tl / t_ours:5.1f}× {t_tl / t_plain:5.1f}× "
        f"{t_loop * 1e3:9.1f}ms {t_loop / t_ours:7.1f}×"
    )


def overhead_row(model: Any, tokens: int, repeats: int, device: torch.device) -> str:
    ids = torch.randint(1, model.config.vocab_size, (2, tokens)).to(device)
    edit = actscope.Edit("transformer.h.0.mlp.act", units=list(range(16)), scale=0.0)

    def bare() -> Any:
        with torch.no_grad():
            return model(ids)

    def inside() -> Any:
        with torch.no_grad():
            return model(ids)

    def opened() -> Any:
        with actscope.intervene(model, edit), torch.no_grad():
            return model(ids)

    bare()
    opened()  # warm both paths
    times_bare, times_in, times_open = [], [], []
    for _ in range(repeats):
        times_bare.append(timed(bare, device))
        with actscope.intervene(model, edit):
            times_in.append(timed(inside, device))
        times_open.append(timed(opened, device))
    b, i, o = (statistics.median(t) for t in (times_bare, times_in, times_open))
    return (
        f"bare forward {b * 1e3:.2f}ms · inside intervene {i * 1e3:.2f}ms ({i / b:.3f}×) · "
        f"opening the block each time {o * 1e3:.2f}ms ({o / b:.3f}×)"
    )


CLICK_UNTIL = """async ([click, until]) => {
  const root = document.querySelector(".acts-root");
  const t0 = performance.now();
  return await new Promise((resolve) => {
    const check = () => {
      if (!document.querySelector(until)) return;
      observer.disconnect();
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    };
    const observer = new MutationObserver(check);
    observer.observe(root, { subtree: true, childList: true, attributes: true });
    document.querySelector(click).click();
  });
}"""

DIGITS = (
    "import actscope\nfrom actscope.demo.digits import digits_demo\n"
    "model, images, labels = digits_demo(16)\n"
    "ex = actscope.Explorer(model, images, labels=labels, layer='features.conv3')\n"
    "ex.unit = 5\nex"
)


BARE_WIDGET = """
import pathlib, anywidget, traitlets, torch
class Baseline(anywidget.AnyWidget):  # the least a widget does: click, Python, bytes, paint
    _esm = pathlib.Path({js!r})
    request = traitlets.Int(0).tag(sync=True)
    data = traitlets.Bytes(b"").tag(sync=True)
    shape = traitlets.List([1, 10]).tag(sync=True)
arrays = [torch.randn(1, 10).half().numpy().tobytes() for _ in range(2)]
baseline = Baseline()
baseline.observe(lambda change: setattr(baseline, "data", arrays[change["new"] % 2]), "request")
baseline
"""


def browser_rows(repeats: int) -> list[str]:
    """Click "ablate" → edited outputs painted, against click next input → outputs painted."""
    import sys
    import tempfile
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, JupyterServer, Notebook

    server = JupyterServer(Path(tempfile.mkdtemp(prefix="actscope-bench-")))
    from explorer import BASELINE_CLICK  # benchmarks/explorer.py's bare round trip

    js = str(Path(__file__).resolve().parent / "baseline_canvas.js")
    server.write_notebook("edits.ipynb", [DIGITS, BARE_WIDGET.format(js=js)])
    ablate, step, bare = [], [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            nb = Notebook(server, page, "edits.ipynb")
            nb.run_all(timeout=300_000)
            page.wait_for_selector(".acts-outputs[data-outputs='drawn']", timeout=60_000)
            page.wait_for_selector("[data-edit='ablate']", timeout=60_000)
            forget = "ex.session.forget(); ex.__dict__.pop('_outputs_cache', None)"
            for i in range(repeats + 1):  # the first of each is a warm-up
                nb.kernel.run(forget)  # both clicks then cost one forward pass
                a = page.evaluate(
                    CLICK_UNTIL, ["[data-edit='ablate']", ".acts-outputs .acts-edits-badge"]
                )
                nb.kernel.run("ex.edits = []; ex.input_index = 0")
                page.wait_for_selector(".acts-outputs[data-key='0']:not(:has(.acts-edits-badge))")
                nb.kernel.run(forget)
                b = page.evaluate(
                    CLICK_UNTIL,
                    [".acts-inputs button[title^='Next input']", ".acts-outputs[data-key='1']"],
                )
                nb.kernel.run("ex.input_index = 0; ex.unit = 5")
                page.wait_for_selector(".acts-outputs[data-key='0']")
                page.wait_for_selector("[data-edit='ablate']")
                c = page.evaluate(BASELINE_CLICK, "request")
                if i:
                    ablate.append(a)
                    step.append(b)
                    bare.append(c)
            nb.close()
            browser.close()
    finally:
        server.stop()
    ours, ref, floor = (statistics.median(t) for t in (ablate, step, bare))
    return [
        f"{'click ablate → edited outputs painted':44} {ours:9.1f} ms",
        f"{'click next input → its outputs painted':44} {ref:9.1f} ms"
        f"   ablate / input {ours / ref:.2f}",
        f"{'bare anywidget: click → Python → 20 B painted':44} {floor:9.1f} ms"
        f"   ablate / bare round trip {ours / floor:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2, help="prompts per sweep")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-browser", action="store_true", help="skip the JupyterLab rows")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    warnings.filterwarnings("ignore")  # random configs' token ids, TransformerLens notices
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"actscope patching vs TransformerLens · torch {torch.__version__} · {what} · "
        f"{torch.get_num_threads()} threads · {args.batch} prompts · median of {args.repeats}"
    )
    header = (
        f"{'resid_pre × every position':44} {'patches':>7} {'actscope':>11} {'(plain)':>11} "
        f"{'TL':>11} {'TL/us':>6} {'(plain)':>6} {'naive':>11} {'naive/us':>8}"
    )
    print(header)
    print("-" * len(header))
    big = gpt2(4, 256, 8, 2048, device)
    print(
        sweep_row("4 layers × 256 (random), 32 tokens", big, 32, args.batch, args.repeats, device)
    )
    small, name = demo_lm(device)
    print(sweep_row(f"2 × 128 ({name}), 32 tokens", small, 32, args.batch, args.repeats, device))
    print()
    print("intervene, one edit, 4 layers × 256 at 32 tokens:")
    print(overhead_row(big, 32, max(args.repeats * 10, 30), device))
    if not args.no_browser:
        print()
        print(f"in JupyterLab (Chromium), digits CNN, median of {args.repeats * 4}:")
        for line in browser_rows(args.repeats * 4):
            print(line)


if __name__ == "__main__":
    main()
