"""Inputs: what a user passes, how each one is fed to the model, and how it is shown.

Accepted forms (``Explorer``, ``mine`` and ``saliency`` all take them):

- an image batch tensor ``(N, C, H, W)`` with C in {1, 3, 4}, or any batch tensor ``(N, ...)``;
- a list of tensors, each one example *without* a batch axis;
- a list of strings, with a Hugging Face ``tokenizer``;
- a list of dicts of tensors (or ``BatchEncoding``s), each one example with a batch axis of 1
  (as a tokenizer returns with ``return_tensors="pt"``) or without a batch axis.

``forward(model, batch)`` says how a batch is fed; by default a dict is unpacked as keyword
arguments (``model(**batch)``), a tuple as positional arguments and a tensor passed as is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .batch import children, move, rebuild, zip_tensors
from .errors import InputError
from .forward import Batch, ForwardFn, call_model

__all__ = [
    "IMAGE_CHANNELS",
    "Batch",
    "ForwardFn",
    "InputSet",
    "Modality",
    "call_model",
    "collate",
    "model_device",
    "model_float_dtype",
    "move",
    "resolve_device",
    "text_limit",
    "to_rgb",
]

Modality = Literal["image", "text", "tensor", "dict", "tuple"]
"""What an input is: an image, a text (token ids), another tensor, a dict or a tuple of
tensors."""

IMAGE_CHANNELS = (1, 3, 4)


def model_device(model: nn.Module) -> torch.device | None:
    """The device of the model's first parameter or buffer; ``None`` for a stateless model."""
    for tensor in _params_and_buffers(model):
        return tensor.device
    return None


def model_float_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating-point parameter (float16 for a half model)."""
    for tensor in _params_and_buffers(model):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def _params_and_buffers(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()


def resolve_device(model: nn.Module, device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: the model's own device; a stateless model runs on CUDA when present.

    actscope never moves a user's model: an explicit device that differs from the one the
    model is on is an error that says how to move it.
    """
    own = model_device(model)
    if device == "auto":
        if own is not None:
            return own
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    wanted = torch.device(device)
    if own is not None and own.type != wanted.type:
        raise InputError(
            f"The model is on {own} but device={str(device)!r} was asked for. actscope does "
            f"not move your model: call model.to({str(device)!r}) first, or pass "
            "device='auto'."
        )
    return own if own is not None else wanted


@dataclass
class InputSet:
    """A user's inputs, normalised: one model-ready batch of one per example."""

    modality: Modality
    examples: list[Batch]
    labels: list[str] = field(default_factory=list)
    texts: list[str] | None = None
    tokenizer: Any = None
    image_mean: Sequence[float] | None = None
    image_std: Sequence[float] | None = None
    max_length: int = 512

    def __len__(self) -> int:
        return len(self.examples)

    @classmethod
    def from_user(
        cls,
        inputs: Any,
        *,
        tokenizer: Any = None,
        labels: Sequence[Any] | None = None,
        max_length: int = 512,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
    ) -> InputSet:
        """Normalise what the user passed; bad forms raise :class:`InputError`."""
        if isinstance(inputs, InputSet):
            return inputs
        modality, examples, texts = _normalise(inputs, tokenizer, max_length)
        if not examples:
            raise InputError(
                "The input list is empty: pass at least one input (an image batch, a list of "
                "tensors, strings with a tokenizer, or dicts of tensors)."
            )
        if labels is not None and len(labels) != len(examples):
            raise InputError(
                f"Got {len(labels)} labels for {len(examples)} inputs: pass one label per "
                "input, or none."
            )
        names = (
            [str(label) for label in labels]
            if labels is not None
            else [f"#{i}" for i in range(len(examples))]
        )
        if modality == "text":
            max_length = text_limit(tokenizer, max_length)
        return cls(modality, examples, names, texts, tokenizer, image_mean, image_std, max_length)

    # Feeding -----------------------------------------------------------------------------
    def example(self, i: int) -> Batch:
        """Input ``i`` as a batch of one, on the CPU, as the user gave it."""
        if not 0 <= i < len(self.examples):
            raise InputError(f"Input index {i} is out of range: there are {len(self)} inputs.")
        return self.examples[i]

    def batch(self, indices: Sequence[int]) -> Batch:
        """Several inputs as one batch (text is padded; other shapes must agree)."""
        if self.modality == "text" and self.texts is not None:
            return dict(
                self.tokenizer(
                    [self.texts[i] for i in indices],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                )
            )
        return collate([self.example(i) for i in indices], first_index=indices[0])

    def add(self, example: Batch, label: str, text: str | None = None) -> int:
        """Append one model-ready batch of one (e.g. a dataset example); returns its index."""
        if self.texts is not None:
            self.texts.append(text if text is not None else label)
        self.examples.append(example)
        self.labels.append(label)
        return len(self.examples) - 1

    def extend(self, inputs: Any, label: str | None = None) -> int:
        """Append one more input, in any form :meth:`from_user` takes for one input (a
        string, a batch of one, a tensor); returns its index."""
        modality, examples, texts = _normalise(
            inputs if isinstance(inputs, list) else [inputs], self.tokenizer, self.max_length
        )
        if len(examples) != 1:
            raise InputError(f"add_input takes one input, not {len(examples)}.")
        if modality != self.modality and {modality, self.modality} != {"text", "dict"}:
            raise InputError(
                f"The new input is {modality}, but the explorer's inputs are {self.modality}: "
                f"pass a {self.modality} input."
            )
        text = texts[0] if texts else None
        if text is None and self.tokenizer is not None and isinstance(examples[0], Mapping):
            ids = examples[0].get("input_ids")
            if isinstance(ids, torch.Tensor):
                text = str(self.tokenizer.decode(ids.reshape(-1).tolist()))
        return self.add(examples[0], label if label is not None else f"#{len(self)}", text)

    # Showing -----------------------------------------------------------------------------
    def tokens(self, i: int) -> list[str] | None:
        """The token strings of a text input (``None`` for other inputs)."""
        example = self.example(i)
        if self.tokenizer is None or not isinstance(example, Mapping):
            return None
        ids = example.get("input_ids")
        if not isinstance(ids, torch.Tensor):
            return None
        return [str(t) for t in self.tokenizer.convert_ids_to_tokens(ids.reshape(-1).tolist())]

    def image(self, i: int) -> np.ndarray | None:
        """Input ``i`` as an RGB uint8 array ``(H, W, 3)``, or ``None`` if it is not an image."""
        if self.modality != "image":
            return None
        return to_rgb(self.example(i)[0], self.image_mean, self.image_std)

    def describe(self, i: int) -> dict[str, Any]:
        """What the widget shows of input ``i``: modality, label, text or shape."""
        info: dict[str, Any] = {"modality": self.modality, "label": self.labels[i]}
        if self.texts is not None:
            info["text"] = self.texts[i]
        example = self.example(i)
        if isinstance(example, torch.Tensor):
            info["shape"] = list(example.shape[1:])
        return info


def collate(examples: Sequence[Batch], first_index: int = 0) -> Batch:
    """Concatenate batches of one along the batch axis; mixed shapes raise with both shapes."""

    def cat(parts: list[torch.Tensor]) -> torch.Tensor:
        if any(t.ndim == 0 for t in parts):
            # A scalar has no batch axis: one shared by every input (a flag) stays as it is.
            if all(t.ndim == 0 for t in parts) and all(torch.equal(t, parts[0]) for t in parts):
                return parts[0]
            raise InputError(
                f"Inputs from {first_index} on hold a 0-dimensional tensor that differs between "
                "them (or sits where others have a batch axis): give it a batch axis, shape (1,)."
            )
        shapes = [tuple(t.shape[1:]) for t in parts]
        odd = next((i for i, shape in enumerate(shapes) if shape != shapes[0]), None)
        if odd is not None:
            raise InputError(
                f"Inputs {first_index} and {first_index + odd} have shapes {shapes[0]} and "
                f"{shapes[odd]}: a batch needs one shape. Resize or pad them, or use "
                "batch_size=1."
            )
        return torch.cat(parts)

    if not isinstance(examples[0], torch.Tensor) and children(examples[0]) is None:
        raise InputError(f"Cannot batch inputs of type {type(examples[0]).__name__}.")
    try:
        return zip_tensors(cat, examples)
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(f"Cannot batch inputs from {first_index} on: {exc}.") from None


def to_rgb(
    image: torch.Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> np.ndarray:
    """An image tensor ``(C, H, W)`` as RGB uint8 ``(H, W, 3)``.

    With ``mean``/``std`` the normalisation is undone and values in [0, 1] map to 0..255;
    without, each image is scaled from its own min to its max.
    """
    x = image.detach().float().cpu()
    if x.ndim == 2:
        x = x[None]
    if mean is not None and std is not None:
        m = torch.tensor(mean, dtype=x.dtype).view(-1, 1, 1)
        s = torch.tensor(std, dtype=x.dtype).view(-1, 1, 1)
        x = (x * s + m).clamp(0, 1)
    else:
        finite = x[torch.isfinite(x)]
        lo, hi = (finite.min(), finite.max()) if finite.numel() else (0.0, 1.0)
        x = ((x - lo) / (hi - lo)).clamp(0, 1) if hi > lo else torch.zeros_like(x)
        x = torch.nan_to_num(x, nan=0.0)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    elif x.shape[0] == 4:
        x = x[:3]
    out: np.ndarray = (x.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    return out


# -- normalising the user's inputs --------------------------------------------------------------


def _normalise(inputs: Any, tokenizer: Any, max_length: int) -> tuple[Modality, list[Any], Any]:
    examples: list[Any]
    if _is_dataset(inputs):  # a Hugging Face datasets.Dataset or a torch map-style Dataset
        inputs = _dataset_items(inputs, tokenizer)
    if isinstance(inputs, torch.Tensor):
        if inputs.ndim == 0:
            raise InputError(
                "Got a scalar tensor: pass a batch (N, ...) with the batch axis first."
            )
        examples = [inputs[i : i + 1] for i in range(inputs.shape[0])]
        return _tensor_modality(inputs.shape[1:]), examples, None
    if isinstance(inputs, str):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        raise InputError(
            "Got one dict of tensors: pass a list of them, one per input "
            "(e.g. [tokenizer(text, return_tensors='pt') for text in texts])."
        )
    if not isinstance(inputs, Sequence):
        raise InputError(
            f"Cannot use inputs of type {type(inputs).__name__}: pass a batch tensor, a list "
            "of tensors, a list of strings with a tokenizer, or a list of dicts of tensors."
        )
    items = list(inputs)
    if not items:
        return "tensor", [], None
    if all(isinstance(x, str) for x in items):
        if tokenizer is None:
            raise InputError(
                "The inputs are strings but no tokenizer was given: pass tokenizer=... "
                "(for example transformers.AutoTokenizer.from_pretrained(path))."
            )
        limit = text_limit(tokenizer, max_length)
        examples = [
            dict(tokenizer(text, return_tensors="pt", truncation=True, max_length=limit))
            for text in items
        ]
        return "text", examples, items
    if all(isinstance(x, torch.Tensor) for x in items):
        modalities = {_tensor_modality(x.shape) for x in items}
        examples = [x[None] for x in items]
        return ("image" if modalities == {"image"} else "tensor"), examples, None
    if all(isinstance(x, Mapping) for x in items):
        return "dict", [_batched_dict(x, i) for i, x in enumerate(items)], None
    if all(isinstance(x, tuple) for x in items):
        return "tuple", [_batched_tuple(x, i) for i, x in enumerate(items)], None
    types = sorted({type(x).__name__ for x in items})
    raise InputError(
        f"The input list mixes or holds unsupported types ({', '.join(types)}): pass tensors, "
        "strings (with a tokenizer), dicts or tuples of tensors, all of one kind."
    )


def text_limit(tokenizer: Any, max_length: int) -> int:
    """Tokens kept per text: ``max_length``, capped at what the tokenizer's model accepts."""
    return min(max_length, int(getattr(tokenizer, "model_max_length", max_length)))


def _tensor_modality(shape: Sequence[int]) -> Modality:
    return "image" if len(shape) == 3 and shape[0] in IMAGE_CHANNELS else "tensor"


def _batched_dict(example: Mapping[str, Any], index: int) -> dict[str, Any]:
    tensors = {k: v for k, v in example.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise InputError(f"Input {index} is a dict with no tensors in it.")
    # Batched (as a tokenizer returns them) when every tensor leads with an axis of 1.
    batched = all(v.ndim >= 1 and v.shape[0] == 1 for v in tensors.values())
    return {
        k: (v if batched or not isinstance(v, torch.Tensor) else v[None])
        for k, v in example.items()
    }


def _batched_tuple(example: tuple[Any, ...], index: int) -> tuple[Any, ...]:
    """A tuple (or namedtuple) example with a batch axis of 1 on its tensors."""
    tensors = [v for v in example if isinstance(v, torch.Tensor)]
    if not tensors:
        raise InputError(f"Input {index} is a tuple with no tensors in it.")
    batched = all(v.ndim >= 1 and v.shape[0] == 1 for v in tensors) and len(tensors) > 1
    values = [v if batched or not isinstance(v, torch.Tensor) else v[None] for v in example]
    result: tuple[Any, ...] = rebuild(example, values)
    return result


def _is_dataset(obj: Any) -> bool:
    if isinstance(obj, torch.Tensor | str | Mapping | list | tuple):
        return False
    return hasattr(obj, "__getitem__") and hasattr(obj, "__len__")


def _dataset_items(dataset: Any, tokenizer: Any) -> list[Any]:
    """The rows of a dataset as inputs: texts when a tokenizer is given and the rows have a
    text column; otherwise the rows, with lists and numbers made tensors."""
    rows = [dataset[i] for i in range(len(dataset))]
    if rows and isinstance(rows[0], Mapping):
        column = text_column(rows[0]) if tokenizer is not None else None
        if column is not None:
            return [str(row[column]) for row in rows]
        return [
            {k: _as_tensor(v) for k, v in row.items() if not isinstance(v, str)} for row in rows
        ]
    return rows


def _as_tensor(value: Any) -> Any:
    if isinstance(value, list | int | float) and not isinstance(value, bool):
        try:
            return torch.as_tensor(value)
        except (TypeError, ValueError):
            return value
    return value


def text_column(item: Mapping[str, Any]) -> str | None:
    """The column of a dict item that holds its text: ``"text"``, or the only string one."""
    texts = [k for k, v in item.items() if isinstance(v, str)]
    if not texts:
        return None
    if "text" in texts:
        return "text"
    if len(texts) == 1:
        return str(texts[0])
    raise InputError(
        f"The dataset's items hold several text columns ({', '.join(map(str, texts))}): "
        "tokenize them yourself (dataset.map(...)) or feed them with forward=..."
    )
