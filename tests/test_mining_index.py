"""ActivationIndex: merge equals one pass, save/load round trips, bad files, queries, contexts."""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from actscope.engine.errors import IndexFileError, InputError, LayerNotFoundError
from actscope.engine.mining import ActivationIndex, ImageContext, TextContext, mine

from .model_state import assert_unchanged, record
from .test_mining import MapProbe, SeqProbe, tied_sequences


def assert_same(a: ActivationIndex, b: ActivationIndex) -> None:
    ta, tb = a.tensors(), b.tensors()
    assert ta.keys() == tb.keys()
    for name in ta:
        assert torch.equal(ta[name], tb[name]), name
    assert a.n_examples == b.n_examples
    assert a.layers == b.layers


def shard(data: dict[str, torch.Tensor], lo: int, hi: int) -> dict[str, torch.Tensor]:
    return {k: v[lo:hi] for k, v in data.items()}


@pytest.fixture
def seq_index():
    model = SeqProbe().eval()
    data = tied_sequences(90, seed=1)
    index = mine(model, data, ["seq", "vec"], k=7, batch_size=10, reservoir=12, progress=False)
    return model, data, index


# -- merge ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["pruned", "full"])
def test_merging_shards_equals_one_pass(strategy):
    model = SeqProbe().eval()
    data = tied_sequences(120, seed=6)
    data["x"] = data["x"] + torch.randn(data["x"].shape, generator=torch.Generator().manual_seed(0))
    kwargs = {"k": 9, "batch_size": 10, "reservoir": 15, "progress": False, "strategy": strategy}
    whole = mine(model, data, ["seq", "vec"], **kwargs)
    cuts = [0, 30, 70, 120]  # shards on batch boundaries: the same batches, bit for bit
    shards = [
        mine(model, shard(data, lo, hi), ["seq", "vec"], id_offset=lo, **kwargs)
        for lo, hi in itertools.pairwise(cuts)
    ]
    assert_same(shards[0].merge(shards[1]).merge(shards[2]), whole)
    assert_same(shards[2].merge(shards[0].merge(shards[1])), whole)  # order does not matter


def test_merge_refuses_other_settings_and_shared_examples(seq_index):
    model, data, index = seq_index
    assert data["x"].shape[0] == index.n_examples
    other_k = mine(model, data, ["seq", "vec"], k=5, batch_size=10, reservoir=12, progress=False)
    with pytest.raises(IndexFileError, match="k: 7 vs 5"):
        index.merge(other_k)
    other_layers = mine(model, data, ["seq"], k=7, batch_size=10, reservoir=12, progress=False)
    with pytest.raises(IndexFileError, match="other layers"):
        index.merge(other_layers)
    with pytest.raises(IndexFileError, match="disjoint shards"):
        index.merge(index)
    with pytest.raises(InputError, match="ActivationIndex"):
        index.merge("index.actidx")


# -- save / load ----------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path, seq_index):
    model, _, index = seq_index
    path = tmp_path / "seq.actidx"
    index.save(path)
    loaded = ActivationIndex.load(path, layers=["seq"], model=model)
    assert_same(loaded, index)
    assert loaded.settings == index.settings
    assert loaded.layer("seq") == index.layer("seq")
    assert loaded.settings.extra["dataset"] == "dict of tensors"
    # A loaded index still merges exactly (its sort and sample keys are rebuilt).
    more = mine(
        model,
        tied_sequences(20, seed=9),
        ["seq", "vec"],
        k=7,
        batch_size=10,
        reservoir=12,
        id_offset=90,
        progress=False,
    )
    assert_same(loaded.merge(more), index.merge(more))
    for unit in range(6):
        for a, b in zip(
            loaded.quantile_samples("seq", unit), index.quantile_samples("seq", unit), strict=True
        ):
            assert (a.lower, a.upper, a.sampled) == (b.lower, b.upper, b.sampled)
            assert torch.equal(a.examples.ids, b.examples.ids)


def saved_header(index: ActivationIndex, path: Path) -> tuple[bytes, int, dict, dict]:
    """Save ``index`` and read the file back: bytes, header length, header, our metadata."""
    index.save(path)
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    return raw, length, header, json.loads(header["__metadata__"]["actscope"])


def test_saved_file_is_safetensors_with_json_metadata(tmp_path, seq_index):
    _, _, index = seq_index
    raw, length, _, meta = saved_header(index, tmp_path / "seq.actidx")
    assert meta["format"] == "actscope.ActivationIndex"
    assert meta["model"] == "SeqProbe" and meta["n_examples"] == 90 and meta["k"] == 7
    assert [layer["name"] for layer in meta["layers"]] == ["seq", "vec"]
    assert meta["layers"][0]["n_units"] == 6 and meta["layers"][0]["kind"] == "sequence"
    assert b"pickle" not in raw[: 8 + length]
    assert not list(tmp_path.glob("*.partial"))


def test_load_refuses_bad_files(tmp_path, seq_index):
    _, _, index = seq_index
    good = tmp_path / "good.actidx"
    index.save(good)
    raw = good.read_bytes()

    with pytest.raises(IndexFileError, match="no index file"):
        ActivationIndex.load(tmp_path / "missing.actidx")

    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not an index")
    with pytest.raises(IndexFileError, match="not a readable safetensors file"):
        ActivationIndex.load(text)

    truncated = tmp_path / "truncated.actidx"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(IndexFileError, match="truncated or corrupted"):
        ActivationIndex.load(truncated)

    flipped = bytearray(raw)
    flipped[-5] ^= 0xFF  # inside the last array's data
    damaged = tmp_path / "damaged.actidx"
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(IndexFileError, match="corrupted"):
        ActivationIndex.load(damaged)

    foreign = tmp_path / "weights.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, str(foreign))
    with pytest.raises(IndexFileError, match="not an actscope index"):
        ActivationIndex.load(foreign)

    with pytest.raises(IndexFileError, match=r"made for layers \['seq', 'vec'\], not \['conv'\]"):
        ActivationIndex.load(good, layers=["conv"])
    with pytest.raises(IndexFileError, match="made for a SeqProbe, not a MapProbe"):
        ActivationIndex.load(good, model=MapProbe())


def test_load_refuses_edited_metadata(tmp_path, seq_index):
    _, _, index = seq_index
    raw, length, header, meta = saved_header(index, tmp_path / "seq.actidx")

    def write(meta_: dict, name: str):
        header["__metadata__"]["actscope"] = json.dumps(meta_)
        body = json.dumps(header).encode()
        body += b" " * (-len(body) % 8)
        out = tmp_path / name
        out.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + length :])
        return out

    with pytest.raises(IndexFileError, match="do not count 91 examples"):
        ActivationIndex.load(write({**meta, "n_examples": 91}, "count.actidx"))
    with pytest.raises(IndexFileError, match="newer than this actscope"):
        ActivationIndex.load(write({**meta, "version": 99}, "version.actidx"))
    layers = [dict(meta["layers"][0], n_units=5), meta["layers"][1]]
    with pytest.raises(IndexFileError, match="corrupted"):
        ActivationIndex.load(write({**meta, "layers": layers}, "units.actidx"))


# -- queries --------------------------------------------------------------------------------------


def test_queries_name_the_problem(seq_index):
    _, _, index = seq_index
    with pytest.raises(LayerNotFoundError, match="Did you mean 'seq'"):
        index.top("seqq", 0)
    with pytest.raises(InputError, match="Unit 6 is out of range for layer 'seq', which has 6"):
        index.top("seq", 6)
    with pytest.raises(InputError, match="out of range"):
        index.histogram("vec", -1)
    with pytest.raises(InputError, match="out of range"):
        index.quantile_samples("vec", 100)
    with pytest.raises(InputError, match=r"Quantiles must be in \[0, 1\]"):
        index.quantiles("seq", 0, [0.5, 2])
    with pytest.raises(InputError, match="rise from 0 to 1"):
        index.quantile_samples("seq", 0, bands=[0.5, 0.2, 1])
    assert len(index.top("seq", 0, n=3)) == 3
    assert "90 examples" in repr(index)


def test_index_memory_is_fixed_by_its_shape(seq_index):
    _, _, index = seq_index
    units = 6 + 6
    k, reservoir, buckets = 7, 12, index.settings.buckets.n
    expected = units * (k * 16 + reservoir * 12 + buckets * 8 + 4 + 8 * 4)
    assert index.nbytes == expected


# -- contexts -------------------------------------------------------------------------------------


def test_image_contexts_mark_the_peak(digits):
    from actscope.demo.digits import digits_data

    model, _, _ = digits
    images, _ = digits_data()
    images = images[:200]
    index = mine(model, images, ["features.conv2"], k=4, batch_size=100, progress=False)
    before = record(model)
    contexts = index.contexts(model, images, "features.conv2", 5)
    assert_unchanged(model, before)
    top = index.top("features.conv2", 5)
    assert [c.id for c in contexts] == top.ids.tolist()
    for context, example in zip(contexts, top, strict=True):
        assert isinstance(context, ImageContext)
        assert context.values.shape == (8, 8)
        assert context.value == pytest.approx(example.value, abs=1e-5)
        assert context.peak == index.location("features.conv2", example.position)
        top_, left, bottom, right = context.box
        assert (bottom - top_, right - left) == (1, 1)  # an 8 × 8 map on an 8 × 8 image
        assert context.rgb.shape == (8, 8, 3) and context.marked.dtype == context.rgb.dtype
        outside = context.marked.astype(int).sum() < context.rgb.astype(int).sum()
        assert outside or context.rgb.sum() == 0


def test_text_contexts_show_a_token_window(minilm):
    model, tokenizer = minilm
    texts = [
        "The cat sat on the mat and looked out of the window at the birds.",
        "Stock markets fell sharply after the central bank raised interest rates.",
        "Open the file in binary mode and read the first bytes.",
    ]
    layer = "encoder.layer.1.intermediate"
    index = mine(model, texts, [layer], k=3, batch_size=3, tokenizer=tokenizer, progress=False)
    contexts = index.contexts(model, texts, layer, 100, tokenizer=tokenizer, window=3)
    top = index.top(layer, 100)
    for context, example in zip(contexts, top, strict=True):
        assert isinstance(context, TextContext)
        assert context.id == example.id
        assert context.start + context.peak == example.position
        assert context.value == pytest.approx(example.value, abs=1e-4)
        assert len(context.tokens) == len(context.values) <= 7
        assert float(context.values.max()) == context.value
        words = [*tokenizer.tokenize(texts[example.id]), "[CLS]", "[SEP]"]
        assert context.tokens[context.peak] in words
