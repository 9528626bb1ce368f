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


def cache_statistics(acts: torch.Tensor, owner: torch.Tensor, n: int, k: int) -> None:
    """What mining keeps, computed the dense way from a cache (the baseline SAE-Vis and
    SAEDashboard follow): ``acts`` ``(tokens, units)`` every valid token's values, ``owner``
    each token's example among ``n``; the density, each example's maximum, the top-k
    examples, quantiles by a full sort and a 40-bin histogram of every unit. (``acts`` is
    the caller's to drop once this returns: its peak is the point.)"""
    units = acts.shape[1]
    density = (acts > 0).float().mean(0)
    maxima = torch.full((n, units), float("-inf"))
    maxima.scatter_reduce_(0, owner[:, None].expand_as(acts), acts, "amax")
    top = maxima.topk(k, dim=0)  # top-k examples per unit
    ordered = maxima.sort(dim=0).values  # quantiles: a full sort per unit
    quantiles = ordered[(torch.linspace(0, 1, 11) * (n - 1)).long()]
    lo, hi = ordered[0], ordered[-1]
    bins = ((maxima - lo) / (hi - lo).clamp(min=1e-12) * 40).long().clamp(0, 39)
    hist = torch.zeros(units, 40, dtype=torch.long).scatter_add_(
        1, bins.T, torch.ones(units, n, dtype=torch.long)
    )
    del density, top, quantiles, hist


def dense_cache(
    model: Any, transforms: dict[str, Any], batches_: Any, device: torch.device
) -> tuple[dict[str, list[torch.Tensor]], torch.Tensor, int]:
    """Run ``batches_`` with a plain hook on each layer of ``transforms`` that keeps
    ``transform(output)`` at every valid token, on the CPU: the per-layer chunks, each
    cached token's example, and the number of examples."""
    cache: dict[str, list[torch.Tensor]] = {name: [] for name in transforms}
    owners: list[torch.Tensor] = []  # the example of each cached token
    current: dict[str, torch.Tensor] = {}

    def keeper(name: str, transform: Any) -> Any:
        return lambda _m, _a, out: cache[name].append(transform(out)[current["mask"]].float().cpu())

    hooks = [
        model.get_submodule(name).register_forward_hook(keeper(name, fn))
        for name, fn in transforms.items()
    ]
    offset = 0
    try:
        with torch.no_grad():
            for batch in batches_:
                mask = batch["attention_mask"].bool().to(device)
                current["mask"] = mask
                rows = torch.arange(offset, offset + mask.shape[0], device=device)
                owners.append(rows[:, None].expand_as(mask)[mask].cpu())
                offset += mask.shape[0]
                model(**{k: v.to(device) for k, v in batch.items()})
    finally:
        for hook in hooks:
            hook.remove()
    return cache, torch.cat(owners), offset
