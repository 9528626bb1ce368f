"""Memory does not grow with the dataset: fixed-size state, bounded peaks at 1× and 10× data."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc

import pytest
import torch

from actscope.engine.mining import mine

from .test_mining import SeqProbe


def stream(n_batches: int, seed: int = 0):
    """Random padded batches made on the fly, so the dataset itself takes no memory."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_batches):
        x = torch.randn(16, 12, 32, generator=g)
        lengths = torch.randint(1, 13, (16,), generator=g)
        mask = (torch.arange(12)[None] < lengths[:, None]).long()
        yield {"x": x, "attention_mask": mask}


@pytest.mark.parametrize("strategy", ["pruned", "full"])
def test_index_and_python_memory_do_not_grow_with_the_data(strategy):
    model = SeqProbe().eval()
    sizes, peaks = {}, {}
    for n_batches in (10, 100):
        mine(model, stream(2), ["seq", "vec"], k=8, progress=False, strategy=strategy)  # warm-up
        tracemalloc.start()
        index = mine(
            model, stream(n_batches), ["seq", "vec"], k=8, progress=False, strategy=strategy
        )
        peaks[n_batches] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert index.n_examples == 16 * n_batches
        sizes[n_batches] = (index.nbytes, {k: v.shape for k, v in index.tensors().items()})
    assert sizes[10] == sizes[100]
    # Python-side allocations (lists, dicts, per-batch objects) stay flat too.
    assert peaks[100] < peaks[10] * 1.5 + 256_000, peaks


CHILD = textwrap.dedent(
    """
    import json, resource, sys, torch
    from torch import nn
    from actscope.engine.mining import mine

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Identity()
        def forward(self, x, attention_mask=None):
            return self.seq(x)

    def stream(n):
        g = torch.Generator().manual_seed(0)
        for _ in range(n):
            x = torch.randn(64, 32, 256, generator=g)
            mask = (torch.arange(32)[None] < torch.randint(1, 33, (64, 1), generator=g)).long()
            yield {"x": x, "attention_mask": mask}

    torch.set_num_threads(1)
    model = Probe().eval()
    mine(model, stream(1), ["seq"], k=20, progress=False)
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    index = mine(model, stream(int(sys.argv[1])), ["seq"], k=20, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"start_kb": start, "peak_kb": peak, "examples": index.n_examples}))
    """
)


@pytest.mark.slow
def test_peak_memory_at_1x_and_10x_data(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    runs = {}
    for n in (8, 80):
        result = subprocess.run(
            [sys.executable, str(script), str(n)],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        runs[n] = json.loads(result.stdout.strip().splitlines()[-1])
        assert runs[n]["examples"] == 64 * n
    growth_1x = runs[8]["peak_kb"] - runs[8]["start_kb"]
    growth_10x = runs[80]["peak_kb"] - runs[80]["start_kb"]
    # 10× the data (about 170 MB of activations streamed) may not raise the peak by more
    # than a few MB of allocator noise.
    assert growth_10x <= growth_1x + 8_000, runs
    assert runs[80]["peak_kb"] <= runs[8]["peak_kb"] * 1.1, runs
