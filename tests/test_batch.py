"""One walker for batch trees: every container kind, and the operations built on it."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, namedtuple

import pytest
import torch

from actscope.engine import batch as B

Pair = namedtuple("Pair", ["image", "label"])


@dataclasses.dataclass
class Sample:
    pixels: torch.Tensor
    ids: torch.Tensor
    name: str = "x"


def trees():
    t = torch.arange(6.0).reshape(2, 3)
    return {
        "tensor": t,
        "dict": {"a": t, "b": [t, (t, None)]},
        "namedtuple": Pair(t, torch.tensor([1, 2])),
        "dataclass": Sample(t, torch.tensor([[1], [2]])),
        "ordered": OrderedDict(x=t, y=3),
    }


@pytest.mark.parametrize("kind", list(trees()))
def test_map_tensors_keeps_the_container(kind):
    tree = trees()[kind]
    doubled = B.map_tensors(lambda t: t * 2, tree)
    assert type(doubled) is type(tree)
    before = B.tensors(tree)
    after = B.tensors(doubled)
    assert len(after) == len(before) > 0
    for x, y in zip(before, after, strict=True):
        assert torch.equal(y, x * 2)


def test_hugging_face_containers_keep_their_types():
    from transformers import BatchEncoding
    from transformers.modeling_outputs import BaseModelOutput

    enc = BatchEncoding({"input_ids": torch.tensor([[1, 2]]), "attention_mask": torch.ones(1, 2)})
    moved = B.move(enc, torch.device("cpu"), torch.float64)
    assert isinstance(moved, BatchEncoding)
    assert moved["attention_mask"].dtype == torch.float64
    assert moved["input_ids"].dtype == torch.int64, "integer tensors keep their dtype"
    out = BaseModelOutput(last_hidden_state=torch.zeros(1, 2, 3))
    detached = B.detach(out)
    assert isinstance(detached, BaseModelOutput)
    assert detached.last_hidden_state.shape == (1, 2, 3)


def test_a_namedtuple_batch_moves():
    """The case that broke ``inputs.move``: namedtuples rebuild from positional fields."""
    batch = Pair(torch.zeros(2, 1, 8, 8), torch.tensor([3, 4]))
    moved = B.move(batch, torch.device("cpu"), torch.float16)
    assert isinstance(moved, Pair)
    assert moved.image.dtype == torch.float16 and moved.label.dtype == torch.int64


def test_paths_rows_and_zip():
    tree = {"a": torch.arange(4), "b": Pair(torch.zeros(4, 2), torch.ones(3))}
    assert [p for p, _ in B.tensor_paths(tree)] == ["a", "b.0", "b.1"]
    picked = B.rows(tree, torch.tensor([2, 0]), n=4)
    assert picked["a"].tolist() == [2, 0]
    assert picked["b"].label.shape == (3,), "a tensor without the batch length is kept whole"
    joined = B.zip_tensors(torch.cat, [tree, tree])
    assert joined["a"].tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    with pytest.raises(ValueError, match="different structures"):
        B.zip_tensors(torch.cat, [tree, {"a": torch.arange(4)}])


def test_describe_and_shapes():
    batch = {"input_ids": torch.zeros(1, 12, dtype=torch.long), "pair": Pair(torch.zeros(2), 5)}
    assert B.describe(batch) == "input_ids tensor (1, 12) int64, pair (tensor (2,) float32, int)"
    assert B.shape_of(batch) != B.shape_of({"input_ids": torch.zeros(1, 13)})
