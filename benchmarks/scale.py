"""Opening the explorer on real model sizes: its cost in bare forward passes.

For a random-initialised GPT-2-small (124M parameters) at 1,024 tokens and MiniLM-L6 at
128 tokens, in one warm process:

- **bare forward**: the model on the first input under ``torch.no_grad()`` (best of 3);
- **open**: ``actscope.Explorer(model, inputs, ...)`` until its first view is ready,
  best of 2, with the passes it ran counted (a forward pre-hook on the model) and their
  lengths;
- **another layer**: the first move to another layer of the same input;
- **another input**: the first view of the second input.

Each as seconds and as a ratio to the bare forward. No assertions: it prints a table.

    python benchmarks/scale.py            # both models (~3 min on 2 CPUs)
    python benchmarks/scale.py --quick    # GPT-2-small at 256 tokens, MiniLM at 64
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

import actscope


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
    passes: list[int] = []

    def count(_m: Any, args: Any, kwargs: Any) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        passes.append(int(ids.shape[-1]) if isinstance(ids, torch.Tensor) else -1)

    handle = model.register_forward_pre_hook(count, with_kwargs=True)
    try:
        opened = []
        for _ in range(2):
            passes.clear()
            start = time.perf_counter()
            ex = actscope.Explorer(model, inputs, layer=layer, prefetch=False, **kw)
            opened.append((time.perf_counter() - start, list(passes), ex))
        seconds, runs, ex = min(opened, key=lambda o: o[0])
        ex.wait(120)
        start = time.perf_counter()
        ex.layer = other
        move = time.perf_counter() - start
        start = time.perf_counter()
        ex.input_index = 1
        second = time.perf_counter() - start
    finally:
        handle.remove()
    return {
        "name": name,
        "bare": bare,
        "open": seconds,
        "passes": runs,
        "move": move,
        "second": second,
    }


def report(rows: list[dict]) -> None:
    print(f"  {'model':34s} {'bare s':>8s} {'open s':>8s} {'× bare':>7s} "
          f"{'layer ×':>8s} {'input ×':>8s}  passes at opening (tokens each)")  # fmt: skip
    for r in rows:
        print(
            f"  {r['name']:34s} {r['bare']:8.3f} {r['open']:8.3f} {r['open'] / r['bare']:7.2f} "
            f"{r['move'] / r['bare']:8.2f} {r['second'] / r['bare']:8.2f}  {r['passes']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
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
    print()
    report(rows)


if __name__ == "__main__":
    main()
