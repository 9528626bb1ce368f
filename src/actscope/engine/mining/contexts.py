"""Where a unit fires inside a few examples, recomputed on demand.

The index keeps ids, values and peak positions, not activations. To show an example in
context, the model runs once more on just those examples (one batch) and the unit's value
is read at every position:

- text (a sequence layer fed token ids): a window of tokens around the peak, with the
  unit's value at each token (:class:`TextContext`);
- images (a spatial layer fed ``(C, H, W)`` images): the unit's map, its peak, and the
  input with the peak's cell marked (:class:`ImageContext`). The cell is the part of the
  image aligned with the map's peak cell (``H / h`` by ``W / w`` pixels), not the full
  receptive field;
- anything else: the unit's values over the example's positions (:class:`PlainContext`).

Values recomputed here can differ from the index in the last bits when the examples are
batched differently (padding changes the arithmetic), never more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import torch
from torch import nn

from ..batch import move, tensor_paths
from ..capture import capture
from ..forward import ForwardFn, run_forward
from ..inputs import IMAGE_CHANNELS, model_float_dtype, resolve_device, to_rgb
from ..names import split_call
from ..outputs import OutputSelector
from .reduce import as_units
from .sources import attention_mask, make_source

if TYPE_CHECKING:
    from .index import ActivationIndex
    from .meta import LayerMeta


@dataclass(frozen=True)
class TextContext:
    """A token window around a unit's peak in one text.

    ``tokens``/``values``: the window's tokens and the unit's value at each (float32);
    ``peak``: the peak's index in the window; ``start``: the window's first token in the
    text; ``length``: the text's tokens (padding excluded); ``value``: the peak value.
    """

    id: int
    tokens: list[str]
    values: torch.Tensor
    peak: int
    start: int
    length: int
    value: float


@dataclass(frozen=True)
class ImageContext:
    """An image with the location where a unit peaks.

    ``image``: the input as fed ``(C, H, W)``; ``values``: the unit's map ``(h, w)``;
    ``peak``: ``(row, col)`` of its maximum in the map; ``box``: ``(top, left, bottom,
    right)`` in input pixels (bottom/right exclusive) of the cell aligned with the peak;
    ``rgb``: the image as RGB uint8 ``(H, W, 3)``; ``marked``: the same with everything
    outside ``box`` dimmed; ``value``: the peak value.
    """

    id: int
    image: torch.Tensor
    values: torch.Tensor
    peak: tuple[int, int]
    box: tuple[int, int, int, int]
    rgb: np.ndarray
    marked: np.ndarray
    value: float


@dataclass(frozen=True)
class PlainContext:
    """A unit's values over one example's positions (``(P,)``, flat), its peak and value."""

    id: int
    values: torch.Tensor
    peak: int
    value: float


Context: TypeAlias = TextContext | ImageContext | PlainContext


def contexts(
    index: ActivationIndex,
    model: nn.Module,
    dataset: Any,
    layer: str,
    unit: int,
    ids: Sequence[int] | torch.Tensor,
    *,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    outputs: Mapping[str, OutputSelector] | None = None,
    device: str | torch.device = "auto",
    window: int = 8,
    max_length: int = 512,
    id_offset: int = 0,
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
) -> list[Context]:
    """The examples ``ids`` with ``unit`` of ``layer`` shown in context.

    Args:
        index: the index whose layer metadata says how to read the layer.
        model: the mined model (run once under ``torch.no_grad()``, left as found).
        dataset: the mined dataset, in the same form (a list, Dataset...; a one-shot
            iterator cannot be read again).
        layer, unit: which unit.
        ids: example ids.
        tokenizer: to turn token ids into tokens (and to tokenize a list of strings).
        forward: how a batch is fed, as for ``mine``.
        outputs: which tensor of a tuple/dict output (default: the one that was mined).
        device: ``"auto"``: where the model is.
        window: tokens kept on each side of a text's peak.
        max_length: tokens kept per text, as for ``mine``.
        id_offset: the id of ``dataset``'s first example (for a shard).
        image_mean, image_std: undo this normalisation when drawing images.

    Returns:
        One :class:`TextContext`, :class:`ImageContext` or :class:`PlainContext` per id.

    Example::

        for c in index.contexts(model, texts, layer, 1187, tokenizer=tokenizer):
            print(c.value, " ".join(c.tokens))
    """
    meta = index.layer(layer)
    wanted = [int(i) for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids)]
    if not wanted:
        return []
    source = make_source(
        dataset,
        batch_size=len(wanted),
        tokenizer=tokenizer,
        max_length=max_length,
        batches=index.settings.extra.get("batches"),  # read as it was mined
    )
    source.tokenizer = source.tokenizer or tokenizer
    batch = source.fetch([i - id_offset for i in wanted])
    dev = resolve_device(model, device)
    selector: OutputSelector | None = (outputs or {}).get(layer)
    if selector is None and meta.output:
        selector = meta.output
    base, _ = split_call(layer)
    with (
        torch.no_grad(),
        capture(model, [base], outputs={layer: selector} if selector else None) as acts,
    ):
        run_forward(model, move(batch, dev, model_float_dtype(model)), forward, what="the examples")
    tensor = acts[layer]
    x, units_last = as_units(tensor, meta.batch_axis, meta.unit_axis, meta.n_units, layer)
    values = (x[:, :, unit] if units_last else x[:, unit, :]).float().cpu()
    grid = _position_grid(tensor, meta)
    mask = attention_mask(batch)
    out: list[Context] = []
    for row, id_ in enumerate(wanted):
        unit_values = values[row]
        if meta.kind == "sequence" and isinstance(batch, Mapping) and "input_ids" in batch:
            out.append(_text(id_, batch, row, unit_values, mask, source.tokenizer, window))
            continue
        image = _image_input(batch, row)
        if meta.kind == "spatial" and image is not None and len(grid) == 2:
            out.append(_image(id_, image, unit_values.reshape(grid), image_mean, image_std))
            continue
        peak = int(unit_values.argmax()) if unit_values.numel() else 0
        out.append(PlainContext(id_, unit_values, peak, float(unit_values.max())))
    return out


def _position_grid(tensor: torch.Tensor, meta: LayerMeta) -> tuple[int, ...]:
    per_example = list(tensor.movedim(meta.batch_axis, 0).shape[1:])
    if meta.unit_axis is not None and per_example:
        del per_example[meta.unit_axis]
    return tuple(per_example)


def _text(
    id_: int,
    batch: Mapping[str, Any],
    row: int,
    values: torch.Tensor,
    mask: torch.Tensor | None,
    tokenizer: Any,
    window: int,
) -> TextContext:
    token_ids = batch["input_ids"][row]
    keep = mask[row].bool() if mask is not None and mask.shape[1] == values.numel() else None
    positions = keep.nonzero().squeeze(1) if keep is not None else torch.arange(values.numel())
    valid_values = values[positions]
    peak = int(valid_values.argmax())
    lo, hi = max(0, peak - window), min(int(positions.numel()), peak + window + 1)
    chosen = token_ids[positions[lo:hi]].tolist()
    if tokenizer is not None:
        tokens = [str(t) for t in tokenizer.convert_ids_to_tokens(chosen)]
    else:
        tokens = [str(t) for t in chosen]
    return TextContext(
        id=id_,
        tokens=tokens,
        values=valid_values[lo:hi].clone(),
        peak=peak - lo,
        start=lo,
        length=int(positions.numel()),
        value=float(valid_values[peak]),
    )


def _image_input(batch: Any, row: int) -> torch.Tensor | None:
    for _, tensor in tensor_paths(batch):
        if tensor.ndim == 4 and tensor.shape[1] in IMAGE_CHANNELS:
            return tensor[row].detach().cpu()
        return None
    return None


def _image(
    id_: int,
    image: torch.Tensor,
    grid: torch.Tensor,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
) -> ImageContext:
    rows, cols = grid.shape
    flat = int(grid.reshape(-1).argmax())
    r, c = divmod(flat, cols)
    height, width = image.shape[-2:]
    box = (
        math.floor(r * height / rows),
        math.floor(c * width / cols),
        math.ceil((r + 1) * height / rows),
        math.ceil((c + 1) * width / cols),
    )
    rgb = to_rgb(image, mean, std)
    marked = (rgb.astype(np.float32) * 0.35).astype(np.uint8)
    top, left, bottom, right = box
    marked[top:bottom, left:right] = rgb[top:bottom, left:right]
    return ImageContext(
        id=id_,
        image=image,
        values=grid.clone(),
        peak=(r, c),
        box=box,
        rgb=rgb,
        marked=marked,
        value=float(grid[r, c]),
    )
