"""mine() under torch.distributed: 2 processes on gloo (CPU) give the single-process index.

Each rank mines its share and the shares are merged with collectives; every rank returns
the whole index. The ranks save what they got so that this process can compare.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import Dataset

from actscope.engine.mining import ActivationIndex, MiningInterrupted, mine

from .test_mining import SeqProbe, batches_of, tied_sequences
from .test_mining_index import assert_same

LAYERS = ["seq", "vec"]
OPTIONS = {"k": 6, "batch_size": 8, "reservoir": 10, "progress": False}


def sequences() -> dict[str, torch.Tensor]:
    data = tied_sequences(61, seed=4)
    noise = torch.randn(data["x"].shape, generator=torch.Generator().manual_seed(5))
    return {"x": data["x"] + noise, "attention_mask": data["attention_mask"]}


class Breaks(Dataset):
    """Reading example 50 (batch 6, on rank 1) raises."""

    def __init__(self) -> None:
        self.data = sequences()

    def __len__(self) -> int:
        return 61

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if i == 50:
            raise OSError("bad sector")
        return {k: v[i] for k, v in self.data.items()}


def _worker(rank: int, world: int, port: int, out: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        torch.set_num_threads(1)
        folder = Path(out)
        model = SeqProbe().eval()
        data = sequences()
        mine(model, data, LAYERS, **OPTIONS).save(folder / f"indexed-{rank}.actidx")
        stream = batches_of(data, 8)  # a one-shot generator: ranks take turns by batch
        mine(model, stream, LAYERS, **OPTIONS).save(folder / f"stream-{rank}.actidx")
        outcome: dict[str, object] = {}
        try:
            mine(model, Breaks(), LAYERS, **OPTIONS)
        except MiningInterrupted as err:
            outcome = {"message": str(err), "examples": err.index.n_examples}
            err.index.save(folder / f"partial-{rank}.actidx")
        (folder / f"failure-{rank}.json").write_text(json.dumps(outcome))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    model = SeqProbe().eval()
    single = mine(model, sequences(), LAYERS, **OPTIONS)
    assert single.n_examples == 61
    for rank in (0, 1):
        assert_same(ActivationIndex.load(tmp_path / f"indexed-{rank}.actidx"), single)
        assert_same(ActivationIndex.load(tmp_path / f"stream-{rank}.actidx"), single)
        assert (
            ActivationIndex.load(tmp_path / f"indexed-{rank}.actidx").settings.extra["world_size"]
            == 2
        )
    # Batch 6 fails on rank 1: both ranks stop with the merged index of everything else.
    failures = [json.loads((tmp_path / f"failure-{r}.json").read_text()) for r in (0, 1)]
    assert "rank(s) [1]" in failures[0]["message"]
    assert "batch 6 (examples from id 48) on rank 1: OSError: bad sector" in failures[1]["message"]
    # Rank 0 mined batches 0-3 (32 examples), rank 1 batches 4-5 before the failure.
    assert failures[0]["examples"] == failures[1]["examples"] == 48
    partial = ActivationIndex.load(tmp_path / "partial-0.actidx")
    first = {k: v[:48] for k, v in sequences().items()}
    assert_same(partial, mine(model, first, LAYERS, **OPTIONS))
    assert_same(ActivationIndex.load(tmp_path / "partial-1.actidx"), partial)
