"""Opening the explorer on real model sizes: its cost in bare forward passes.

For a random-initialised GPT-2-small (124M parameters) at 1,024 tokens and MiniLM-L6 at
128 tokens, in one warm process:

- **bare forward**: the model on the first input under ``torch.no_grad()`` (best of 3);
- **view**: from ``actscope.Explorer(model, inputs, ...)`` until its first layer view is
  ready (in a kernel the explorer shows from then on while the other panels' jobs run in
  threads);
- **open**: ``actscope.Explorer(model, inputs, ...)`` until it returns (in this script the
  other panels' jobs run before it does), best of 2, with the passes it ran counted (a
  forward pre-hook on the model) and their lengths;
- **another layer**: the first move to another layer of the same input;
- **another input**: the first view of the second input.

A second table times ``list_layers`` (short probes and a pass on fake tensors) beside
discovery by running the model on the input and on it doubled (its fallback), and a third
puts the view and the first move beside the same explorer opened as before
discovery's probes (every layer of input 0 kept by the opening pass), in the same run.
Each as seconds and as a ratio to the bare forward. No assertions: it prints a table.

A second table, **long views**: a sequence view over one message's value limit travels as
a window of exact positions with the whole layer's overview tiles (``widget/window.py``).
For GPT-2-small's MLP at 1,024 tokens and a Llama-3-8B-shaped MLP output (14,336 units) at
2,048 tokens: the positions a message holds exactly, before (the first ones only) and now
(any window, the last included), the blob's size, the time to build the first window's
blob and another (the last) window's, and the overview's share: the blob's time against
the same blob's time less the overview's (best of 3, the activation cached). Beside it,
GPT-2-small's last attention layer at 1,024 tokens as the attention panel sends it: the
exact window of queries (every key), the blob's size and its overview tiles' (every
head's whole pattern), and the tiles' share of the blob's build time. The long views also
time a 2,048-channel feature map at 48 × 48 (4.7 M values), cut along channels: a window
of channels exact, every channel's map as tiles.

Then, unless ``--no-mining``: mining over the bare forward at 384 and at 2,000 texts
(``benchmarks/mining.py``'s timing, in fresh processes) and the 2-rank ``torchrun``
speed-up (``benchmarks/distributed.py``).

    python benchmarks/scale.py                # everything (~12 min on 2 CPUs)
    python benchmarks/scale.py --no-mining    # the explorer's rows only (~5 min)
    python benchmarks/scale.py --quick        # GPT-2-small at 256 tokens, MiniLM at 64
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
import warnings
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

import actscope
from actscope.engine.fake import is_fake


def gpt2_small() -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        return GPT2LMHeadModel(GPT2Config(n_positions=1024)).eval()


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(name: str, model: Any, inputs: list[Any], layer: str, other: str, **kw: Any) -> dict:
    first = inputs[0]  # (1, T) tensors: a batch as it is, and one input of the explorer

    def forward() -> None:
        with torch.no_grad():
            model(**first)

    forward()  # warm-up
    bare = best(forward, 3)
    from actscope.engine.discovery import Passes

    listed = best(lambda: actscope.list_layers(model, first), 2)
    by_running = best(lambda: Passes(model, None, None, None).by_running(first, {}, "the input"), 2)
    passes: list[str] = []

    def count(_m: Any, args: Any, kwargs: Any) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        tokens = str(ids.shape[-1]) if isinstance(ids, torch.Tensor) else "?"
        passes.append(
            f"fake {tokens}" if isinstance(ids, torch.Tensor) and is_fake(ids) else tokens
        )

    handle = model.register_forward_pre_hook(count, with_kwargs=True)
    # When the first layer view is ready: in a kernel the explorer shows from then on, the
    # other panels' jobs running in threads; in a script (here) they run before it returns.
    from actscope.widget import Explorer

    shown: list[float] = []
    view_ok = Explorer._view_ok

    def first_view(self: Any) -> None:
        shown.append(time.perf_counter())
        view_ok(self)

    Explorer._view_ok = first_view  # type: ignore[method-assign]

    def opened(every_layer: bool) -> tuple[float, list[str], Any, float]:
        """Best of 2 opens: seconds to return, passes, the explorer, seconds to the view."""
        tries = []
        for _ in range(2):
            passes.clear()
            shown.clear()
            start = time.perf_counter()
            with keeping_every_layer(every_layer):
                ex = actscope.Explorer(model, inputs, layer=layer, prefetch=False, **kw)
            end = time.perf_counter()
            tries.append((end - start, list(passes), ex, (shown[0] if shown else end) - start))
        return min(tries, key=lambda o: o[0])

    try:
        # The way before discovery's probes: opening kept every layer of input 0.
        _, _, before, view_before = opened(every_layer=True)
        before.wait(120)
        start = time.perf_counter()
        before.layer = other
        move_before = time.perf_counter() - start
        del before
        seconds, runs, ex, view = opened(every_layer=False)
        ex.wait(120)
        start = time.perf_counter()
        ex.layer = other
        move = time.perf_counter() - start
        start = time.perf_counter()
        ex.input_index = 1
        second = time.perf_counter() - start
    finally:
        handle.remove()
        Explorer._view_ok = view_ok  # type: ignore[method-assign]
    return {
        "name": name,
        "bare": bare,
        "view": view,
        "listed": listed,
        "by_running": by_running,
        "view_before": view_before,
        "move_before": move_before,
        "open": seconds,
        "passes": runs,
        "move": move,
        "second": second,
        "ex": ex,
    }


@contextlib.contextmanager
def keeping_every_layer(every_layer: bool) -> Any:
    """Opening as before discovery's probes (every layer of input 0 kept), if asked."""
    from actscope.widget import session

    plain = session.discover
    if every_layer:
        session.discover = lambda *a, **k: plain(*a, **{**k, "every_layer": True})
    try:
        yield
    finally:
        session.discover = plain


def long_view(name: str, ex: Any, layer: str) -> dict:
    """The long-view row for ``layer`` of input 0 of an open explorer."""
    from actscope import overview, overview_each
    from actscope.widget import wire

    act = ex.session.activation(layer, 0)
    ex._layer_view_blob(layer, 0)  # warm
    blob = ex._layer_view_blob(layer, 0)
    meta, _ = wire.decode(blob)
    whole = {"start": 0, "stop": int(act.shape[0]), "positions": int(act.shape[0])}
    window = meta.get("window", whole)  # --quick: a layer that fits one message
    size = window["stop"] - window["start"]
    first = best(lambda: ex._layer_view_blob(layer, 0), 3)
    last = best(lambda: ex._layer_view_blob(layer, 0, start=window["positions"]), 3)
    if act.ndim == 3:  # a feature map: every channel's map pooled (``widget/window.py``)
        o = meta["overview"]
        tiles = best(lambda: overview_each(act, o["rows"], o["cols"]), 3)
    else:
        tiles = best(lambda: overview(act), 3)
    return {
        "name": name,
        "shape": tuple(act.shape),
        "before": size,  # the first positions only, as trimmed views were
        "reach": window["positions"],
        "mb": len(blob) / 1e6,
        "first": first,
        "last": last,
        "overview": tiles,
    }


def long_attention(name: str, ex: Any, layer: str) -> dict:
    """The long-attention row: the pattern of ``layer`` on input 0 as the panel sends it (a
    window of queries and every head's overview tiles), and the tiles' own cost."""
    from actscope import attention, overview_each
    from actscope.widget import wire
    from actscope.widget.panels.attention import attention_blob, overview_tiles

    session = ex.session
    example = session.inputs.example(0)
    pattern = attention(session.model, example, [layer], forward=session.forward)[layer][0]
    heads = int(pattern.shape[0])
    side = overview_tiles(heads)
    build = best(
        lambda: attention_blob(pattern, layer=layer, input_index=0, ids=None, tokens=None), 3
    )
    tiles = best(lambda: overview_each(pattern, side, side), 3)
    blob = attention_blob(pattern, layer=layer, input_index=0, ids=None, tokens=None)
    meta, arrays = wire.decode(blob)
    return {
        "name": name,
        "shape": tuple(pattern.shape),
        "window": meta.get("window", {"start": 0, "stop": meta["queries"]}),
        "mb": len(blob) / 1e6,
        "tiles_mb": arrays["overview"].size / 1e6 if "overview" in arrays else 0.0,
        "build": build,
        "overview": tiles,
    }


def report_attention(rows: list[dict]) -> None:
    print(f"  {'pattern':40s} {'shape':>16s} {'exact queries':>14s} {'blob MB':>8s} "
          f"{'tiles MB':>9s} {'build s':>8s} {'tiles s':>8s} {'× without tiles':>16s}")  # fmt: skip
    for r in rows:
        shape = "×".join(f"{n:,}" for n in r["shape"])
        w = r["window"]
        exact = f"{w['start']}–{w['stop'] - 1}"
        ratio = r["build"] / max(r["build"] - r["overview"], 1e-9)
        print(
            f"  {r['name']:40s} {shape:>16s} {exact:>14s} {r['mb']:8.2f} {r['tiles_mb']:9.2f} "
            f"{r['build']:8.3f} {r['overview']:8.3f} {ratio:16.2f}"
        )


def report_long(rows: list[dict]) -> None:
    head = ("view", "shape", "exact before", "reachable", "blob MB", "first s", "last s")
    print(f"  {head[0]:40s} {head[1]:>14s} {head[2]:>13s} {head[3]:>10s} {head[4]:>8s} "
          f"{head[5]:>8s} {head[6]:>8s} {'× without overview':>19s}")  # fmt: skip
    for r in rows:
        shape = "×".join(f"{n:,}" for n in r["shape"])
        ratio = r["first"] / max(r["first"] - r["overview"], 1e-9)
        before, reach = f"0–{r['before'] - 1}", f"0–{r['reach'] - 1}"
        print(
            f"  {r['name']:40s} {shape:>14s} {before:>13s} {reach:>10s} {r['mb']:8.2f} "
            f"{r['first']:8.3f} {r['last']:8.3f} {ratio:19.2f}"
        )


def llama_mlp() -> Any:
    """A module whose output has a Llama-3-8B MLP's width (14,336) at each position."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Embedding(256, 14_336)).eval()


def report(rows: list[dict]) -> None:
    print(f"  {'model':34s} {'bare s':>8s} {'view ×':>7s} {'open s':>8s} {'× bare':>7s} "
          f"{'layer ×':>8s} {'input ×':>8s}  passes at opening (tokens each)")  # fmt: skip
    for r in rows:
        print(
            f"  {r['name']:34s} {r['bare']:8.3f} {r['view'] / r['bare']:7.2f} {r['open']:8.3f} "
            f"{r['open'] / r['bare']:7.2f} {r['move'] / r['bare']:8.2f} "
            f"{r['second'] / r['bare']:8.2f}  {r['passes']}"
        )
    print("\n  list_layers (probes, fake shapes) against running the input and it doubled:")
    print(f"  {'model':34s} {'list s':>8s} {'× bare':>7s} {'by running s':>13s} {'× bare':>7s}")
    for r in rows:
        print(
            f"  {r['name']:34s} {r['listed']:8.3f} {r['listed'] / r['bare']:7.2f} "
            f"{r['by_running']:13.3f} {r['by_running'] / r['bare']:7.2f}"
        )
    print("\n  Opening with every layer of input 0 kept (before the probes), same run:")
    print(f"  {'model':34s} {'view ×':>7s} {'layer ×':>8s}   now: {'view ×':>7s} {'layer ×':>8s}")
    for r in rows:
        print(
            f"  {r['name']:34s} {r['view_before'] / r['bare']:7.2f} "
            f"{r['move_before'] / r['bare']:8.2f}        {r['view'] / r['bare']:7.2f} "
            f"{r['move'] / r['bare']:8.2f}"
        )


def report_mining(quick: bool) -> None:
    """Mining over the bare forward at 384 and 2,000 texts (``benchmarks/mining.py``'s own
    timing, each in a fresh process), and the 2-rank ``torchrun`` speed-up
    (``benchmarks/distributed.py``'s runs)."""
    import distributed
    import mining

    device = "cuda" if torch.cuda.is_available() else "cpu"
    cases = [(128, 32), (256, 64)] if quick else [(384, 32), (2000, 64)]
    print(f"\nMining MiniLM-L6's six MLP layers (k={mining.K}), max_length 128, {device}:")
    print(f"  {'texts':>6s} {'batch':>6s} {'bare s':>8s} {'mine s':>8s} {'× bare':>7s} "
          f"{'interleaved ×':>14s} {'median batch ×':>15s}")  # fmt: skip
    for n, batch in cases:
        flags = argparse.Namespace(
            n=n, batch_size=batch, max_length=128, repeat=2, device=device, threads=0
        )
        t = mining.spawn("timing", flags, n)
        print(
            f"  {n:6,d} {batch:6d} {t['whole_bare']:8.2f} {t['whole_mine']:8.2f} "
            f"{t['whole_mine'] / t['whole_bare']:7.3f} "
            f"{t['interleaved_mine'] / t['interleaved_bare']:14.3f} "
            f"{t['median_batch_ratio']:15.3f}"
        )
    texts = 256 if quick else 1024
    print(f"\nMining under torchrun, {texts:,} texts (the 2-rank index checked equal):")
    flags = argparse.Namespace(n=texts, batch_size=64, max_length=128)
    for name, seconds, speedup in distributed.speedups(flags):
        print(f"  {name:34s} {seconds:9.2f} s {speedup:7.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--no-mining", action="store_true", help="skip the mining and torchrun rows (~6 min)"
    )
    args = parser.parse_args()
    gpt_tokens, bert_tokens = (256, 64) if args.quick else (1024, 128)
    print(
        f"Opening the explorer, {len(os.sched_getaffinity(0))} CPUs, "
        f"{torch.get_num_threads()} torch threads, CPU"
    )
    rows = []
    gen = torch.Generator().manual_seed(0)
    model = gpt2_small()
    inputs = [
        {"input_ids": torch.randint(0, 50257, (1, gpt_tokens), generator=gen)} for _ in range(2)
    ]
    rows.append(
        measure(
            f"GPT-2-small (random), {gpt_tokens} tokens",
            model,
            inputs,
            "transformer.h.5.mlp.act",
            "transformer.h.11.mlp.act",
        )
    )
    opened = rows[-1].pop("ex")
    longs = [long_view(f"GPT-2-small MLP, {gpt_tokens} tokens", opened, "transformer.h.11.mlp.act")]
    patterns = [
        long_attention(
            f"GPT-2-small attention, {gpt_tokens} tokens", opened, "transformer.h.11.attn"
        )
    ]
    del opened
    del model
    from actscope.demo.text import corpus, load_minilm

    bert, tokenizer = load_minilm()
    texts = [t for t in corpus() if len(tokenizer(t)["input_ids"]) >= bert_tokens][:2]
    batches = [
        dict(tokenizer(t, truncation=True, max_length=bert_tokens, return_tensors="pt"))
        for t in texts
    ]
    rows.append(
        measure(
            f"MiniLM-L6, {bert_tokens} tokens",
            bert,
            batches,
            "encoder.layer.3.intermediate",
            "encoder.layer.5.intermediate",
        )
    )
    llama_tokens = 512 if args.quick else 2048
    ids = torch.randint(0, 256, (1, llama_tokens), generator=gen)
    ex = actscope.Explorer(llama_mlp(), ids, layer="0", prefetch=False)  # one input of (T,)
    longs.append(long_view(f"Llama-3-8B-wide MLP, {llama_tokens} tokens", ex, "0"))
    side = 24 if args.quick else 48
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 2048, 3, padding=1)).eval()
    images = torch.randn(1, 3, side, side, generator=gen)
    ex = actscope.Explorer(conv, images, layer="0", prefetch=False)
    longs.append(long_view(f"2,048-channel feature map, {side}×{side}", ex, "0"))
    print()
    report(rows)
    print("\nLong views (a window of exact positions and the whole layer's overview):")
    report_long(longs)
    print("\nLong attention (a window of queries, every key, and each head's overview tiles):")
    report_attention(patterns)
    if not args.no_mining:
        report_mining(args.quick)


if __name__ == "__main__":
    main()
