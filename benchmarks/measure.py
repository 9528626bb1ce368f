"""What the MiniLM benchmarks (mining.py, features.py) share: memory figures, the device
clock, and the texts batched the way every approach is fed."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import torch


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read after it counts it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def texts_for(n: int) -> list[str]:
    """``n`` paragraphs; past the corpus (~9,000) it repeats."""
    from actscope.demo.text import corpus

    base = corpus()
    return [base[i % len(base)] for i in range(n)]


def batches(texts: list[str], tokenizer: Any, size: int, max_length: int) -> Iterator[dict]:
    """The texts tokenized ``size`` at a time, padded and truncated."""
    for i in range(0, len(texts), size):
        yield dict(
            tokenizer(
                texts[i : i + size],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=max_length,
            )
        )


def run_child(script: str, kind: str, flags: list[str], label: str) -> dict[str, Any]:
    """Run ``script --child kind flags...`` in a fresh process (so that its peak memory is
    its own) and return the JSON object it prints last."""
    print(f"  running {kind} on {label} ...", flush=True)
    command = [sys.executable, script, "--child", kind, *flags]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {kind} run failed")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
