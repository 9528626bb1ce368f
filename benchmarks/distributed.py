"""Mining under ``torchrun``: the speed-up of 2 ranks over one process, on the same data.

MiniLM-L6 over real English (docstrings that ship with Python and its packages), all six
MLP layers (6 × 1,536 units), k = 20, as ``benchmarks/mining.py``. Three runs, each in its
own processes, each timing ``actscope.mine`` alone (the model loaded and warmed first; the
ranks start together after a barrier, and the clock stops when the merged index is back
on every rank):

1. **1 process, 1 thread**: the baseline;
2. **torchrun, 2 ranks of 1 thread** (gloo, ``--standalone``): each rank mines its share
   of the batches, and the shares are merged with collectives (``engine/mining/
   distributed.py``);
3. **1 process, 2 threads**: what the same two cores give without ``torchrun``.

Every run saves its index; the 2-rank index must equal the single-process one tensor for
tensor (the same work), or the script says so and stops. No assertions otherwise: it
prints a table of seconds and speed-ups.

    python benchmarks/distributed.py            # 1,024 texts (~2 min on 2 CPUs)
    python benchmarks/distributed.py --quick    # 256 texts
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from measure import texts_for
from mining import K, mine_run  # the same mine call as benchmarks/mining.py

HERE = Path(__file__).resolve()


def child(args: argparse.Namespace) -> None:
    """One rank (or the one process): load, warm, time ``mine``, save the index."""
    import torch.distributed as dist

    from actscope.demo.text import load_minilm

    ranks = "RANK" in os.environ
    if ranks:
        dist.init_process_group("gloo")
    torch.set_num_threads(args.threads)
    model, tokenizer = load_minilm()
    texts = texts_for(args.n)

    def run(data: list[str]) -> Any:
        return mine_run(model, data, tokenizer, args)

    run(texts[: 2 * args.batch_size])  # warm-up (both ranks, collectives included)
    if ranks:
        dist.barrier()
    start = time.perf_counter()
    index = run(texts)
    seconds = time.perf_counter() - start
    rank = dist.get_rank() if ranks else 0
    if rank == 0:
        index.save(Path(args.out) / "index.actidx")
        print(json.dumps({"seconds": seconds, "examples": index.n_examples}))
    if ranks:
        dist.destroy_process_group()


def launch(args: argparse.Namespace, ranks: int, threads: int, out: Path) -> dict[str, Any]:
    flags = ["--child", "--texts", str(args.n), "--threads", str(threads), "--out", str(out)]
    flags += ["--batch-size", str(args.batch_size), "--max-length", str(args.max_length)]
    if ranks == 1:
        command = [sys.executable, str(HERE), *flags]
    else:
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command = [*torchrun, f"--nproc-per-node={ranks}", str(HERE), *flags]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    label = f"{ranks} rank(s) × {threads} thread(s)"
    print(f"  running {label} on {args.n:,} texts ...", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"the run with {label} failed")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def differences(a: Path, b: Path) -> list[str]:
    """The tensors in which two saved indexes differ."""
    from actscope.engine.mining import ActivationIndex

    left = ActivationIndex.load(a / "index.actidx").tensors()
    right = ActivationIndex.load(b / "index.actidx").tensors()
    if left.keys() != right.keys():
        return sorted(set(left) ^ set(right))
    return [k for k in left if not torch.equal(left[k], right[k])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", dest="n", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="256 texts")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="")
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.n = 256
    print(
        f"Mining MiniLM-L6's six MLP layers (k={K}) under torchrun, {args.n:,} texts, "
        f"batch {args.batch_size}, max_length {args.max_length}, "
        f"{len(os.sched_getaffinity(0))} CPUs, gloo"
    )
    runs = speedups(args)
    print()
    print(f"  {'run':34s} {'seconds':>9s} {'speed-up':>9s}")
    for name, seconds, speedup in runs:
        print(f"  {name:34s} {seconds:9.2f} {speedup:8.2f}×")
    print("  (the 2-rank index equals the single-process one)")


def speedups(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """The three runs as (name, seconds, speed-up over 1 process of 1 thread), once the
    2-rank index is checked equal to the single-process one (``benchmarks/scale.py`` prints
    them beside its rows)."""
    root = Path(tempfile.mkdtemp(prefix="actscope-distributed-"))
    try:
        runs = [("1 process, 1 thread", 1, 1), ("torchrun: 2 ranks × 1 thread", 2, 1),
                ("1 process, 2 threads", 1, 2)]  # fmt: skip
        results = []
        for name, ranks, threads in runs:
            out = root / f"{ranks}x{threads}"
            out.mkdir()
            results.append((name, launch(args, ranks, threads, out), out))
        differ = differences(results[0][2], results[1][2])
        if differ:
            raise SystemExit(f"the 2-rank index differs from the single-process one: {differ}")
        base = results[0][1]["seconds"]
        return [(name, r["seconds"], base / r["seconds"]) for name, r, _ in results]
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
