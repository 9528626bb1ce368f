"""Mining a sparse autoencoder's features: cost over the bare forward + encode, against
caching dense feature activations and sorting (SAE-Vis / SAEDashboard's approach), and
bytes on the wire per active value in the feature view.

MiniLM-L6 over real English (docstrings that ship with Python and its packages); a
16,384-feature ReLU SAE on ``encoder.layer.3.output`` with random weights (timing does not
need trained ones), its threshold set so that about as many features are active per token
as in trained SAEs (``--l0``, default 64). Each approach runs in its own process, so that
peak memory (``ru_maxrss``) belongs to it alone:

1. **bare forward + encode**: the model under ``torch.no_grad()`` with a hook that encodes
   the layer's output (the least any feature tool must do), three ways: the whole padded
   batch, its real tokens only, and those a chunk of rows at a time (as many as mining's
   fused encode holds: 128 for 16,384 features); ratios are over the fastest. Then
   ``actscope.mine`` over the lens (top-k examples, histograms, quantile samples and
   densities of every feature), in alternating whole runs, the best of ``--repeat`` each.
   Then the same again alternating per chunk of ``--chunk`` texts (the best of each
   chunk's runs, summed): this machine's speed drifts by up to a third within a minute,
   which whole runs cannot cancel. Each chunk is mined from scratch, so this row is the
   harder one for mining (its pruning restarts every chunk).
2. **dense cache + sort**: every valid token's 16,384 feature values kept (float32, on the
   CPU), then per feature the top-k examples by each example's maximum, quantiles by a full
   sort, a histogram and the density, over the cache.
3. **the wire**: the explorer's feature view of each of 8 paragraphs: its blob's bytes per
   active (non-zero) value (feature indices, values, and the rankings, tokens and header),
   against the same values sent dense.

No assertions: it prints a table of seconds, ratios, megabytes and bytes.

    python benchmarks/features.py              # 2,000 texts (~9 min on 2 CPUs)
    python benchmarks/features.py --quick      # 256 texts
    python benchmarks/features.py --device cuda
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from measure import batches, cache_statistics, dense_cache, peak_mb, run_child, sync, texts_for

LAYER = "encoder.layer.3.output"
FEATURES = f"{LAYER}/sae"
K = 20


class RandomSAE(torch.nn.Module):
    """A ReLU SAE with random weights; ``threshold`` keeps about ``l0`` features active."""

    def __init__(self, d: int, n: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.W_enc = torch.nn.Parameter(torch.randn(d, n, generator=g) / d**0.5)
        self.W_dec = torch.nn.Parameter(torch.randn(n, d, generator=g) / n**0.5)
        self.b_dec = torch.nn.Parameter(torch.zeros(d))
        self.b_enc = torch.nn.Parameter(torch.zeros(n))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec


def setup(args: argparse.Namespace) -> tuple[Any, Any, RandomSAE, list[str], torch.device]:
    import actscope
    from actscope.demo.text import load_minilm

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_minilm()
    device = torch.device(args.device)
    model.to(device)
    texts = texts_for(args.n)
    sae = RandomSAE(model.config.hidden_size, args.features).to(device).requires_grad_(False)
    # The threshold that leaves about l0 features active per token, on the first batch.
    first = next(batches(texts, tokenizer, args.batch_size, args.max_length))
    with torch.no_grad(), actscope.capture(model, LAYER) as acts:
        model(**{k: v.to(device) for k, v in first.items()})
    pre = (acts[LAYER][first["attention_mask"].bool().to(device)] @ sae.W_enc).flatten()
    sample = pre[torch.randperm(pre.numel(), device=device)[:1_000_000]].float()
    sae.b_enc.fill_(-float(sample.quantile(1 - args.l0 / args.features)))
    return model, tokenizer, sae, texts, device


BARE = {
    "padded": "the padded batch",
    "real": "its real tokens",
    "chunked": "its real tokens, in mining's chunks of rows",
}


def bare(model, sae, texts, tokenizer, args, device, how: str = "padded") -> float:
    """The forward passes with the layer's output encoded by a plain hook (and dropped):
    the whole padded batch, its real tokens only, or those a cache-sized chunk at a time."""
    from actscope.engine.mining.lensed import rows_per_chunk

    mask: list[torch.Tensor] = []

    def encode(_m: Any, _a: Any, out: torch.Tensor) -> None:
        if how == "padded":
            sae.encode(out)
            return
        rows = out[mask[0]]
        step = rows_per_chunk(args.features) if how == "chunked" else len(rows)
        for i in range(0, len(rows), step):
            sae.encode(rows[i : i + step])

    hook = model.get_submodule(LAYER).register_forward_hook(encode)
    try:
        start = time.perf_counter()
        with torch.no_grad():
            for batch in batches(texts, tokenizer, args.batch_size, args.max_length):
                mask[:] = [batch["attention_mask"].to(device).bool()]
                model(**{k: v.to(device) for k, v in batch.items()})
        sync(device)
        return time.perf_counter() - start
    finally:
        hook.remove()


def mine_run(model, sae, texts, tokenizer, args, device) -> tuple[float, Any]:
    import actscope

    start = time.perf_counter()
    index = actscope.mine(
        model,
        texts,
        FEATURES,
        k=K,
        batch_size=args.batch_size,
        tokenizer=tokenizer,
        max_length=args.max_length,
        lenses=[actscope.Lens(LAYER, sae)],
        progress=False,
    )
    sync(device)
    return time.perf_counter() - start, index


def child_timing(args: argparse.Namespace) -> dict[str, Any]:
    model, tokenizer, sae, texts, device = setup(args)
    twin = copy.deepcopy(model)  # the same weights, with no lens registered on it
    warm = texts[: args.batch_size]
    for how in BARE:
        bare(twin, sae, warm, tokenizer, args, device, how)
    mine_run(model, sae, warm, tokenizer, args, device)
    bares: dict[str, list[float]] = {how: [] for how in BARE}
    mines = []
    for _ in range(args.repeat):
        for how in BARE:
            bares[how].append(bare(twin, sae, texts, tokenizer, args, device, how))
        seconds, index = mine_run(model, sae, texts, tokenizer, args, device)
        mines.append(seconds)
    fastest = min(BARE, key=lambda how: min(bares[how]))
    # This machine's speed drifts by a third over tens of seconds, more than whole
    # alternating runs can cancel: the same work again, bare and mine alternating per chunk.
    chunked: dict[str, list[float]] = {"bare": [], "mine": []}
    for start in range(0, len(texts), args.chunk):
        part = texts[start : start + args.chunk]
        pair = [(bare(twin, sae, part, tokenizer, args, device, fastest),
                 mine_run(model, sae, part, tokenizer, args, device)[0])
                for _ in range(args.repeat)]  # fmt: skip
        chunked["bare"].append(min(b for b, _ in pair))
        chunked["mine"].append(min(m for _, m in pair))
    tokens = sum(
        int(b["attention_mask"].sum())
        for b in batches(texts, tokenizer, args.batch_size, args.max_length)
    )
    density = index.unit_table(FEATURES)["active_fraction"]
    return {
        "bare": {how: min(times) for how, times in bares.items()},
        "fastest": fastest,
        "mine": min(mines),
        "chunk_bare": sum(chunked["bare"]),
        "chunk_mine": sum(chunked["mine"]),
        "tokens": tokens,
        "examples": index.n_examples,
        "index_mb": index.nbytes / 2**20,
        "l0": float(density.sum()),
        "peak_mb": peak_mb(),
    }


def child_cache(args: argparse.Namespace) -> dict[str, Any]:
    """Dense feature activations of every valid token, then sorts over the cache."""
    model, tokenizer, sae, texts, device = setup(args)
    bare(model, sae, texts[: args.batch_size], tokenizer, args, device)
    bare_seconds = bare(model, sae, texts, tokenizer, args, device)
    start = time.perf_counter()
    cache, owner, n = dense_cache(
        model,
        {LAYER: sae.encode},
        batches(texts, tokenizer, args.batch_size, args.max_length),
        device,
    )
    acts = torch.cat(cache.pop(LAYER))  # (tokens, features): the whole cache
    cache_statistics(acts, owner, n, K)
    del acts
    return {"seconds": time.perf_counter() - start, "bare": bare_seconds, "peak_mb": peak_mb()}


def child_wire(args: argparse.Namespace) -> dict[str, Any]:
    import actscope
    from actscope.demo.text import corpus
    from actscope.widget import wire

    model, tokenizer, sae, _, _ = setup(args)
    lens = actscope.Lens(LAYER, sae)
    texts = corpus(8, min_chars=400)  # paragraphs of about 100 tokens
    ex = actscope.Explorer(model, texts, tokenizer=tokenizer, lenses=[lens], layer=FEATURES)
    sparse_bytes = dense_bytes = active = values_bytes = 0
    for i in range(8):
        ex.input_index = i
        blob = ex.layer_view
        act = ex.session.activation(FEATURES, i)
        active += int((act != 0).sum())
        sparse_bytes += len(blob)
        meta, _ = wire.decode(blob)
        length = int.from_bytes(blob[4:8], "little")
        specs = json.loads(blob[8 : 8 + length])["arrays"]  # each array's bytes on the wire
        values_bytes += sum(specs[name]["nbytes"] for name in ("sp_counts", "sp_gaps", "sp_vals"))
        dense_bytes += len(wire.encode({"act": act}, {}))  # the values alone, dense float16
        assert "sparse" in meta, "the feature view went dense"
    ex.close()
    return {"sparse": sparse_bytes, "values": values_bytes, "dense": dense_bytes, "active": active}


CHILDREN = {"timing": child_timing, "cache": child_cache, "wire": child_wire}


def spawn(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    flags = [
        "--n", str(args.n), "--batch-size", str(args.batch_size),
        "--max-length", str(args.max_length), "--repeat", str(args.repeat),
        "--device", args.device, "--threads", str(args.threads),
        "--features", str(args.features), "--l0", str(args.l0),
    ]  # fmt: skip
    return run_child(__file__, kind, flags, f"{args.n:,} texts ({args.device})")


def report(args: argparse.Namespace) -> None:
    from actscope.engine.mining.lensed import rows_per_chunk

    print(
        f"Features of a {args.features:,}-feature SAE on MiniLM-L6 {LAYER}, "
        f"{len(os.sched_getaffinity(0))} CPUs, device {args.device}, "
        f"{args.threads or torch.get_num_threads()} torch thread(s), k={K}, batch "
        f"{args.batch_size}, max_length {args.max_length}; mining encodes "
        f"{rows_per_chunk(args.features)} rows at a time"
    )
    timing = spawn("timing", args)
    cache = None if args.skip_cache else spawn("cache", args)
    on_wire = spawn("wire", args)
    print()
    print(
        f"{args.n:,} texts ({timing['tokens']:,} tokens without padding; "
        f"{timing['l0']:.0f} features active per token on average)"
    )
    print(f"  {'approach':70s} {'seconds':>9s} {'× bare':>8s} {'peak MB':>9s}")
    print(f"  (× bare: over the fastest bare run, {BARE[timing['fastest']]})")
    base = timing["bare"][timing["fastest"]]
    rows = [
        (f"bare forward + encode of {BARE[how]}", seconds, seconds / base, None)
        for how, seconds in timing["bare"].items()
    ]
    rows.append(("actscope.mine over the lens", timing["mine"], timing["mine"] / base, None))
    rows.append(
        (f"  interleaved by {args.chunk} texts: the fastest bare", timing["chunk_bare"], 1.0, None)
    )
    rows.append(
        (
            "  … actscope.mine, each chunk from scratch",
            timing["chunk_mine"],
            timing["chunk_mine"] / timing["chunk_bare"],
            None,
        )
    )
    for name, seconds, ratio, _ in rows:
        print(f"  {name:70s} {seconds:9.2f} {ratio:8.3f}")
    print(f"  {'  (its process: model, texts, index; peak)':70s} {'':9s} {'':8s} "
          f"{timing['peak_mb']:9.0f}")  # fmt: skip
    if cache is not None:
        ratio = cache["seconds"] / cache["bare"]
        print(f"  {'dense cache + sort (over its own bare run)':70s} {cache['seconds']:9.2f} "
              f"{ratio:8.3f} {cache['peak_mb']:9.0f}")  # fmt: skip
        print(f"  mine is {cache['seconds'] / timing['mine']:.2f}× faster than the dense cache, "
              f"in {timing['peak_mb'] / cache['peak_mb']:.2f}× its peak memory")  # fmt: skip
    print(f"  the index: {timing['index_mb']:.1f} MB of tensors, whatever the data size")
    print()
    per = on_wire["sparse"] / on_wire["active"]
    dense = on_wire["dense"] / on_wire["active"]
    print(f"the feature view of 8 paragraphs ({on_wire['active']:,} active values):")
    print(f"  the sparse values (counts, index gaps, values): "
          f"{on_wire['values'] / on_wire['active']:.2f} bytes per active value")  # fmt: skip
    print(f"  whole blobs (with rankings, tokens, header): {per:.2f} bytes per active value")
    print(f"  the same values dense (float16): {dense:.1f} bytes per active value "
          f"({dense / per:.0f}× more)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="256 texts, one repeat")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=256, help="texts per interleaved chunk")
    parser.add_argument("--features", type=int, default=16384)
    parser.add_argument("--l0", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--skip-cache", action="store_true")
    parser.add_argument("--child", choices=sorted(CHILDREN))
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeat = 256, 1
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return
    report(args)


if __name__ == "__main__":
    main()
