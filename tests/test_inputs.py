"""Inputs in every accepted form, and clear errors for the rest."""

from __future__ import annotations

import pytest
import torch

from actscope.engine.errors import InputError
from actscope.engine.inputs import InputSet, collate, resolve_device, to_rgb


def test_image_batch(digits):
    _, images, labels = digits
    s = InputSet.from_user(images, labels=labels)
    assert (s.modality, len(s)) == ("image", 16)
    assert s.example(3).shape == (1, 1, 8, 8)
    rgb = s.image(0)
    assert rgb.shape == (8, 8, 3)
    assert rgb.dtype.name == "uint8"
    assert rgb.max() == 255
    assert rgb.min() == 0
    assert s.describe(2)["label"] == labels[2]


def test_list_of_tensors_gets_a_batch_axis():
    s = InputSet.from_user([torch.randn(3, 5, 5), torch.randn(3, 5, 5)])
    assert s.modality == "image"
    assert s.example(1).shape == (1, 3, 5, 5)
    assert s.batch([0, 1]).shape == (2, 3, 5, 5)


def test_strings_need_a_tokenizer():
    with pytest.raises(InputError, match="no tokenizer"):
        InputSet.from_user(["some text"])


def test_strings_with_a_tokenizer(minilm):
    _, tokenizer = minilm
    s = InputSet.from_user(["one two", "three four five six"], tokenizer=tokenizer)
    assert s.modality == "text"
    assert s.tokens(0) == ["[CLS]", "one", "two", "[SEP]"]
    batch = s.batch([0, 1])
    assert batch["input_ids"].shape == (2, 6)
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 1, 0, 0]


def test_dicts_with_or_without_a_batch_axis():
    with_axis = {"ids": torch.tensor([[1, 2, 3]])}
    without = {"ids": torch.tensor([4, 5, 6])}
    s = InputSet.from_user([with_axis, without])
    assert s.modality == "dict"
    assert s.batch([0, 1])["ids"].tolist() == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([], "empty"),
        ({"ids": torch.zeros(1, 3)}, "one dict"),
        (torch.tensor(3.0), "scalar"),
        ([torch.zeros(2), "text"], "mixes"),
        (42, "type int"),
    ],
)
def test_bad_inputs_say_what_to_pass(bad, message):
    with pytest.raises(InputError, match=message):
        InputSet.from_user(bad)


def test_mixed_shapes_cannot_be_batched_and_say_which():
    with pytest.raises(InputError, match=r"Inputs 0 and 1 have shapes \(3, 4\) and \(3, 5\)"):
        collate([torch.zeros(1, 3, 4), torch.zeros(1, 3, 5)])


def test_labels_must_match():
    with pytest.raises(InputError, match="2 labels for 3 inputs"):
        InputSet.from_user(torch.zeros(3, 4), labels=["a", "b"])


def test_to_rgb_undoes_normalisation():
    img = (torch.full((3, 2, 2), 0.5) - 0.5) / 0.25
    rgb = to_rgb(img, mean=[0.5] * 3, std=[0.25] * 3)
    assert (rgb == 128).all()


def test_device_is_the_models_own(digits):
    model, _, _ = digits
    assert resolve_device(model) == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="does not move your model"):
            resolve_device(model, "cuda")
