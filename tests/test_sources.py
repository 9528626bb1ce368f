"""Every common data source, read as PyTorch and Hugging Face mean it: ready batches where
the source says so, text columns tokenised, ambiguous forms settled by ``batches=``."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

import actscope
from actscope.engine.batch import move

from .test_mining_index import assert_same


def assert_close(a, b):
    """The same examples, ids and positions; values equal up to float rounding (the same
    batches laid out differently in memory may take another vectorised path)."""
    ta, tb = a.tensors(), b.tensors()
    assert ta.keys() == tb.keys() and a.n_examples == b.n_examples
    for name in ta:
        if ta[name].is_floating_point():
            assert torch.allclose(ta[name], tb[name], rtol=1e-6, atol=1e-7), name
        else:
            assert torch.equal(ta[name], tb[name]), name


LAYER = "features.conv1"
Pair = namedtuple("Pair", ["image", "label"])


@pytest.fixture(scope="module")
def images():
    from actscope.demo.digits import digits_data

    return digits_data()[0][:96]


@pytest.fixture(scope="module")
def reference(digits, images):
    model, _, _ = digits
    return actscope.mine(model, images, [LAYER], k=5, batch_size=32, progress=False)


class Batches(IterableDataset):
    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def test_a_loader_without_automatic_batching_yields_ready_batches(digits, images, reference):
    model, _, _ = digits
    ready = list(images.split(32))
    index = actscope.mine(model, DataLoader(ready, batch_size=None), [LAYER], k=5, progress=False)
    assert_same(index, reference)
    assert index.settings.extra["batches"] is True


def test_an_iterable_dataset_of_ready_batches(digits, images, reference):
    model, _, _ = digits
    index = actscope.mine(model, Batches(list(images.split(32))), [LAYER], k=5, progress=False)
    assert_same(index, reference)


def test_an_iterable_dataset_of_single_examples_is_still_grouped(digits, images, reference):
    model, _, _ = digits
    index = actscope.mine(model, Batches(list(images)), [LAYER], k=5, batch_size=32, progress=False)
    assert_same(index, reference)
    assert index.settings.extra["batches"] is False


def test_namedtuple_batches_in_a_list(digits, images, reference):
    model, _, _ = digits
    ready = [Pair(chunk, torch.zeros(len(chunk))) for chunk in images.split(32)]
    index = actscope.mine(
        model, ready, [LAYER], k=5, forward=lambda m, b: m(b.image), progress=False
    )
    assert_same(index, reference)
    moved = move(ready[0], torch.device("cpu"), torch.float64)  # used to raise TypeError
    assert isinstance(moved, Pair) and moved.image.dtype == torch.float64


def test_a_list_of_ready_batch_dicts(minilm):
    from actscope.demo.text import corpus

    model, tokenizer = minilm
    texts = corpus(48, max_chars=200)
    layer = "encoder.layer.1.intermediate"
    by_text = actscope.mine(
        model, texts, [layer], k=4, tokenizer=tokenizer, batch_size=16, progress=False
    )
    ready = [
        dict(tokenizer(texts[i : i + 16], return_tensors="pt", padding=True, truncation=True))
        for i in range(0, 48, 16)
    ]
    index = actscope.mine(model, ready, [layer], k=4, progress=False)
    assert index.n_examples == 48
    assert torch.equal(index.top(layer, 3).ids, by_text.top(layer, 3).ids)


def test_a_hugging_face_dataset_of_text_is_tokenised(minilm):
    import datasets

    from actscope.demo.text import SENTENCES, corpus

    model, tokenizer = minilm
    texts = corpus(32, max_chars=200)
    layer = "encoder.layer.1.intermediate"
    ds = datasets.Dataset.from_dict({"text": texts, "label": list(range(32))})
    index = actscope.mine(
        model, ds, [layer], k=4, tokenizer=tokenizer, batch_size=8, progress=False
    )
    by_text = actscope.mine(
        model, texts, [layer], k=4, tokenizer=tokenizer, batch_size=8, progress=False
    )
    assert_same(index, by_text)
    # As explorer inputs too: the same views as the strings themselves.
    ex = actscope.Explorer(model, datasets.Dataset.from_dict({"text": SENTENCES[:3]}),
                           tokenizer=tokenizer, layer=layer)  # fmt: skip
    plain = actscope.Explorer(model, SENTENCES[:3], tokenizer=tokenizer, layer=layer)
    assert ex.session.inputs.modality == "text"
    assert torch.equal(ex.session.activation(layer, 2), plain.session.activation(layer, 2))


def test_an_ambiguous_source_names_the_keyword_that_settles_it():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(6, 4), nn.ReLU()).eval()  # runs on (5, 6) and (1, 5, 6)
    feed = {"forward": lambda m, b: m(b["x"]), "k": 2, "progress": False}
    flat = torch.randn(20, 6)
    # Four dicts of (5, 6): batches of five, or examples of five positions each?
    data = Batches([{"x": chunk} for chunk in flat.split(5)])
    with pytest.raises(actscope.InputError, match=r"batches=True .* batches=False"):
        actscope.mine(mlp, data, ["0"], **feed)
    index = actscope.mine(mlp, data, ["0"], batches=True, **feed)
    assert_close(index, actscope.mine(mlp, {"x": flat}, ["0"], batch_size=5, **feed))
    as_examples = actscope.mine(mlp, data, ["0"], batches=False, **feed)
    assert as_examples.n_examples == 4 and as_examples.layer("0").kind == "sequence"
    # A plain tensor item is one example by PyTorch's convention (an image (C, H, W)).
    vectors = actscope.mine(mlp, Batches(list(flat)), ["0"], k=2, batch_size=5, progress=False)
    assert_close(vectors, actscope.mine(mlp, flat, ["0"], k=2, batch_size=5, progress=False))


def test_a_source_the_model_cannot_read_either_way_says_both(digits):
    model, _, _ = digits
    bad = Batches([torch.randn(3, 5)])  # neither a batch of images nor one image
    with pytest.raises(actscope.InputError, match=r"neither as one example .* nor as a ready"):
        actscope.mine(model, bad, [LAYER], k=2, progress=False)


def test_tuples_of_tensors_are_explorer_inputs(digits, images):
    model, _, _ = digits
    pairs = [Pair(img, torch.tensor(3)) for img in images[:3]]
    ex = actscope.Explorer(model, pairs, forward=lambda m, b: m(b.image), layer=LAYER)
    assert ex.session.inputs.modality == "tuple"
    expected = model.features.conv1(images[1:2])[0]
    assert torch.allclose(ex.session.activation(LAYER, 1), expected.detach())


def test_the_corpus_stays_the_same_when_a_library_replaces_a_hook(monkeypatch):
    """torch.distributed replaces ``sys.excepthook``: every rank and a single process must
    still read the same paragraphs, in the same order."""
    import sys

    from actscope.demo.text import corpus

    before = corpus(600)
    assert any(text.startswith("Handle an exception by displaying it") for text in before)

    def hook(*args: object) -> None:
        """An exception hook that a library installed in place of the interpreter's own."""

    monkeypatch.setattr(sys, "excepthook", hook)
    assert corpus(600) == before
