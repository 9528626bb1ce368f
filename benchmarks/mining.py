"""Mining top-activating examples: cost over the bare forward pass, and over caching everything.

MiniLM-L6 over real English (docstrings that ship with Python and its packages), all six
MLP layers (6 × 1,536 = 9,216 units), k = 20. Three measurements, each in its own process
so that peak memory (``ru_maxrss``) belongs to one approach only:

1. **mine vs bare forward.** ``actscope.mine`` (top-k, histograms, quantile samples and
   active fractions together) against a plain loop that tokenizes the same batches and runs
   the model under ``torch.no_grad()``. Timed two ways: interleaved batch by batch inside
   ``mine`` runs (after mine's batch i, the bare forward runs batch i on an unhooked copy of
   the model), so that a busy machine slows both alike, keeping each batch's best time of
   ``--repeat`` passes; and as one whole run of each.
2. **cache everything, then sort** (what SAE-Vis does): keep every valid token's activation
   of every unit, then compute the same statistics with sorts over the cache.
3. **memory at 1× and 10× the data**: peak RSS of ``mine`` alone on ``--mem-n`` texts and
   on those texts ten times over (the same batches, so only the amount of data differs).

No assertions: it prints a table of seconds, ratios and megabytes.

    python benchmarks/mining.py                 # 2,000 texts, as the issue asks (~6 min, 2 CPUs)
    python benchmarks/mining.py --quick         # 256 texts, a minute
    python benchmarks/mining.py --device cuda   # the model on the GPU (default: CUDA if present)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from measure import (
    batches,
    cache_statistics,
    dense_cache,
    peak_mb,
    rss_mb,
    run_child,
    sync,
    texts_for,
)

K = 20


def setup(args: argparse.Namespace) -> tuple[Any, Any, list[str], torch.device]:
    from actscope.demo.text import load_minilm

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_minilm()
    device = torch.device(args.device)
    model.to(device)
    texts = texts_for(args.n) * args.times
    return model, tokenizer, texts, device


def bare(model: Any, texts: list[str], tokenizer: Any, args: argparse.Namespace, device) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        for batch in batches(texts, tokenizer, args.batch_size, args.max_length):
            model(**{k: v.to(device) for k, v in batch.items()})
    sync(device)
    return time.perf_counter() - start


def mine_run(model, texts, tokenizer, args, callback=None):
    from actscope.demo.text import MLP_LAYERS
    from actscope.engine import mining

    return mining.mine(
        model,
        texts,
        MLP_LAYERS,
        k=K,
        batch_size=args.batch_size,
        tokenizer=tokenizer,
        max_length=args.max_length,
        progress=False,
        callback=callback,
    )


# -- child processes ------------------------------------------------------------------------------


def child_timing(args: argparse.Namespace) -> dict[str, Any]:
    """mine vs bare: interleaved per batch inside mine runs, then whole runs alternately."""
    model, tokenizer, texts, device = setup(args)
    twin = copy.deepcopy(model)  # the same weights, without mine's hooks
    bare(twin, texts[: args.batch_size], tokenizer, args, device)  # warm-up
    mine_run(model, texts[: args.batch_size], tokenizer, args)

    passes: list[tuple[list[float], list[float]]] = []
    for _ in range(args.repeat):
        mine_times: list[float] = []
        bare_times: list[float] = []
        clock = {"last": 0.0}

        def interleave(progress: dict[str, Any], m=mine_times, b=bare_times, c=clock) -> None:
            sync(device)
            now = time.perf_counter()
            if progress["done"]:
                m[-1] += now - c["last"]  # merging and building the index
                return
            m.append(now - c["last"])
            i = progress["batch"] - 1
            chunk = texts[i * args.batch_size : (i + 1) * args.batch_size]
            b.append(bare(twin, chunk, tokenizer, args, device))
            c["last"] = time.perf_counter()

        clock["last"] = time.perf_counter()
        index = mine_run(model, texts, tokenizer, args, callback=interleave)
        passes.append((mine_times, bare_times))
    # Per batch, the best of the passes: a burst of load elsewhere hits one pass, not all.
    best_mine = [min(times) for times in zip(*(p[0] for p in passes), strict=True)]
    best_bare = [min(times) for times in zip(*(p[1] for p in passes), strict=True)]
    ratios = [m / b for m, b in zip(best_mine, best_bare, strict=True)]

    whole_bare = bare(twin, texts, tokenizer, args, device)
    start = time.perf_counter()
    mine_run(model, texts, tokenizer, args)
    sync(device)
    whole_mine = time.perf_counter() - start
    tokens = sum(
        int(b["attention_mask"].sum())
        for b in batches(texts, tokenizer, args.batch_size, args.max_length)
    )
    return {
        "interleaved_mine": sum(best_mine),
        "interleaved_bare": sum(best_bare),
        "first_pass_ratio": sum(passes[0][0]) / sum(passes[0][1]),
        "median_batch_ratio": statistics.median(ratios),
        "whole_mine": whole_mine,
        "whole_bare": whole_bare,
        "examples": index.n_examples,
        "tokens": tokens,
        "index_mb": index.nbytes / 2**20,
    }


def child_cache(args: argparse.Namespace) -> dict[str, Any]:
    """Keep every valid token's activations, then sort: top-k, histograms, quantiles."""
    from actscope.demo.text import MLP_LAYERS

    model, tokenizer, texts, device = setup(args)
    # Its baseline: one whole bare run in this same process, on the same texts and batches
    # (a warm-up batch first), measured the way the cache run is.
    bare(model, texts[: args.batch_size], tokenizer, args, device)
    bare_seconds = bare(model, texts, tokenizer, args, device)
    setup_mb = rss_mb()
    start = time.perf_counter()
    cache, owner, n = dense_cache(
        model,
        dict.fromkeys(MLP_LAYERS, lambda out: out),
        batches(texts, tokenizer, args.batch_size, args.max_length),
        device,
    )
    forward_done = time.perf_counter()
    for name in MLP_LAYERS:
        acts = torch.cat(cache.pop(name))  # (tokens, units): the whole cache of a layer
        cache_statistics(acts, owner, n, K)
        del acts
    return {
        "seconds": time.perf_counter() - start,
        "bare_seconds": bare_seconds,
        "forward_seconds": forward_done - start,
        "setup_mb": setup_mb,
        "peak_mb": peak_mb(),
        "tokens": int(owner.numel()),
    }


def child_memory(args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS of mine alone."""
    model, tokenizer, texts, device = setup(args)
    setup_mb = rss_mb()  # the model and the texts loaded
    mine_run(model, texts[: args.batch_size], tokenizer, args)  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    index = mine_run(model, texts, tokenizer, args)
    sync(device)
    out = {
        "seconds": time.perf_counter() - start,
        "setup_mb": setup_mb,
        "peak_mb": peak_mb(),
        "examples": index.n_examples,
    }
    if device.type == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


CHILDREN = {"timing": child_timing, "cache": child_cache, "memory": child_memory}


def spawn(kind: str, args: argparse.Namespace, n: int, times: int = 1) -> dict[str, Any]:
    flags = [
        "--n", str(n), "--times", str(times),
        "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
        "--repeat", str(args.repeat), "--device", args.device, "--threads", str(args.threads),
    ]  # fmt: skip
    repeated = f" × {times}" if times > 1 else ""
    return run_child(__file__, kind, flags, f"{n:,} texts{repeated} ({args.device})")


# -- the report -----------------------------------------------------------------------------------


def report(args: argparse.Namespace) -> None:
    print(
        f"actscope.mine on MiniLM-L6, {len(os.sched_getaffinity(0))} CPUs, device "
        f"{args.device}, {args.threads or torch.get_num_threads()} torch thread(s): 6 MLP "
        f"layers (9,216 units), k={K}, batch {args.batch_size}, max_length {args.max_length}"
    )
    timing = spawn("timing", args, args.n)
    cache = None if args.skip_cache else spawn("cache", args, args.n)
    small = spawn("memory", args, args.mem_n)
    large = spawn("memory", args, args.mem_n, times=10)

    print()
    print(f"{args.n:,} texts ({timing['tokens']:,} tokens without padding)")
    inter = timing["interleaved_mine"] / timing["interleaved_bare"]
    whole = timing["whole_mine"] / timing["whole_bare"]
    best = f"best of {args.repeat} per batch" if args.repeat > 1 else "one pass"
    rows = [
        (f"bare forward (interleaved, {best})", timing["interleaved_bare"], 1.0),
        (f"mine (interleaved, {best})", timing["interleaved_mine"], inter),
        ("bare forward (one whole run)", timing["whole_bare"], 1.0),
        ("mine (one whole run)", timing["whole_mine"], whole),
    ]
    if cache is not None:  # its own process: over a whole bare run in that process
        ratio = cache["seconds"] / cache["bare_seconds"]
        rows.append(("cache everything + sort (over its own bare run)", cache["seconds"], ratio))
    print(f"  {'approach':50s} {'seconds':>9s} {'× bare':>8s}")
    for name, seconds, ratio in rows:
        shown = f"{ratio:8.3f}" if ratio is not None else " " * 8
        print(f"  {name:50s} {seconds:9.2f} {shown}")
    print(f"  median per-batch ratio mine / bare: {timing['median_batch_ratio']:.3f}")
    print(f"  first interleaved pass alone: {timing['first_pass_ratio']:.3f}")
    print(f"  the index: {timing['index_mb']:.1f} MB of tensors, whatever the data size")
    if cache is not None:
        print()
        print(f"  {'memory (peak RSS)':34s} {'peak MB':>9s} {'above model':>12s}")
        print(f"  {'cache everything + sort':34s} {cache['peak_mb']:9.0f} "
              f"{cache['peak_mb'] - cache['setup_mb']:12.0f}")  # fmt: skip
        label = f"mine ({args.mem_n:,} texts × 10, below)"
        print(f"  {label:34s} {large['peak_mb']:9.0f} "
              f"{large['peak_mb'] - large['setup_mb']:12.0f}")  # fmt: skip
    print()
    print(f"memory of mine at 1× and 10× the data ({args.mem_n:,} texts, then the same ten times):")
    print(f"  {'texts':>8s} {'seconds':>9s} {'peak MB':>9s} {'above model':>12s}")
    for run in (small, large):
        print(f"  {run['examples']:8,d} {run['seconds']:9.2f} {run['peak_mb']:9.0f} "
              f"{run['peak_mb'] - run['setup_mb']:12.0f}")  # fmt: skip
    growth = large["peak_mb"] / small["peak_mb"]
    print(f"  peak at 10× / peak at 1×: {growth:.3f}")
    if "cuda_peak_mb" in small:
        cuda = (small["cuda_peak_mb"], large["cuda_peak_mb"])
        print(f"  CUDA peak: {cuda[0]:.0f} MB at 1×, {cuda[1]:.0f} MB at 10×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="texts to mine")
    parser.add_argument("--mem-n", type=int, default=None, help="texts for the 1× memory run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved passes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--skip-cache", action="store_true", help="skip cache-everything")
    parser.add_argument("--quick", action="store_true", help="256 texts, 1 repeat")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--times", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeat = 256, 1
    if args.mem_n is None:
        args.mem_n = max(args.n // 10, args.batch_size)
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return
    report(args)


if __name__ == "__main__":
    main()
