"""Searching units (and a lens's features) by input: which fire on this token, and which are
most specific to a group of inputs.

- :func:`units_at`: the units of a layer most active at one position of one input (the
  explorer's list under a clicked token: "which features fire on this token?");
- :func:`specific_units`: the units whose per-input maximum is most higher, on average, over
  one group of inputs than over another (``ranking.contrast`` of the two groups).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sized
from typing import Any

import torch

from .batch import move
from .capture import capture
from .errors import InputError
from .forward import ForwardFn, run_forward
from .inputs import InputSet, model_float_dtype, resolve_device
from .lenses import register as register_lenses
from .names import unwrap
from .ranking import Ranking, contrast, descending
from .selection import Layout


def _per_input(
    model: Any,
    inputs: Any,
    layer: str,
    *,
    tokenizer: Any,
    forward: ForwardFn | None,
    device: str | torch.device,
    batch_size: int,
) -> list[torch.Tensor]:
    """Each input's activation of ``layer`` as ``(positions, units)``, padding left out.
    ``inputs`` as the explorer takes them, or one ready batch dict (a tokenizer's output)."""
    if isinstance(inputs, Mapping):  # one batch: its examples, padding dropped per example
        inputs = _examples(inputs)
    iset = InputSet.from_user(inputs, tokenizer=tokenizer)
    dev = resolve_device(model, device)
    out: list[torch.Tensor] = []
    for start in range(0, len(iset), max(batch_size, 1)):
        batch = iset.batch(range(start, min(start + batch_size, len(iset))))
        batch = move(batch, dev, model_float_dtype(model))
        with torch.no_grad(), capture(model, layer) as acts:
            run_forward(model, batch, forward, what="a batch of the inputs")
        t = acts[layer]
        layout = Layout.of(layer, t, None)
        flat = layout.units_last(t).reshape(t.shape[0], -1, layout.n_units)
        mask = batch.get("attention_mask") if isinstance(batch, Mapping) else None
        for i in range(flat.shape[0]):
            rows = flat[i]
            if isinstance(mask, torch.Tensor) and tuple(mask.shape) == tuple(flat.shape[:2]):
                rows = rows[mask[i].bool()]
            out.append(rows.float().cpu())
    return out


def _examples(batch: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A batch dict of ``(N, T)`` tensors as N dicts, each without its padding."""
    size = next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
    mask = batch.get("attention_mask")
    out = []
    for i in range(size):
        keep = mask[i].bool() if isinstance(mask, torch.Tensor) else slice(None)
        out.append({k: v[i][keep] if isinstance(v, torch.Tensor) else v for k, v in batch.items()})
    return out


def units_at(
    model: Any,
    inputs: Any,
    layer: str,
    position: int,
    k: int = 12,
    *,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    lenses: Iterable[Any] | None = None,
) -> Ranking:
    """The ``k`` units of ``layer`` most active at ``position`` of the first input: the
    non-zero ones, highest value first (ties to the lower unit).

    ``Ranking.max`` holds their values there. With a lens
    (``layer="<layer>/<name>"``, ``lenses=[...]``): the features that fire on that token.

    Example::

        at = actscope.units_at(model, ["The cat sat"], "encoder.layer.3.output/sae", 2,
                               tokenizer=tok, lenses=[sae])
        at.units, at.max      # the features on "sat", and their values
    """
    model = unwrap(model)
    register_lenses(model, lenses)
    rows = _per_input(
        model, inputs, layer, tokenizer=tokenizer, forward=forward, device=device, batch_size=1
    )[0]
    return top_at(rows, position, k, layer)


def top_at(act: torch.Tensor, position: int, k: int = 12, layer: str = "the layer") -> Ranking:
    """The ``k`` units of a ``(positions, units)`` activation most active at ``position``:
    non-zero and finite, highest first, ties to the lower unit (what :func:`units_at` and
    the explorer's list under a clicked token show)."""
    if not -act.shape[0] <= position < act.shape[0]:
        raise InputError(
            f"position {position} is out of range: the input has {act.shape[0]} positions "
            f"at {layer!r}."
        )
    row = act[position].float()
    active = (row != 0) & row.isfinite()
    order = descending(torch.where(active, row, torch.tensor(float("nan"))), None)
    order = order[: min(k, int(active.sum()))]
    return Ranking(
        units=order, max=row[order], mean=row[order], argmax=torch.zeros_like(order), by="max"
    )


def specific_units(
    model: Any,
    group_a: Any,
    group_b: Any,
    layer: str,
    k: int = 20,
    *,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    batch_size: int = 32,
    lenses: Iterable[Any] | None = None,
) -> Ranking:
    """The units whose maximum over an input's positions is most higher, on average, in
    ``group_a`` than in ``group_b`` (two lists of inputs): "which features are most
    specific to these inputs?".

    ``Ranking.mean`` holds the difference of the group means of the per-input maxima,
    ``Ranking.max`` group A's mean (see :func:`~actscope.contrast`).

    Example::

        files = [t for t in texts if "file" in t]
        others = [t for t in texts if "file" not in t]
        r = actscope.specific_units(model, files, others, "encoder.layer.3.output/sae",
                                    tokenizer=tok, lenses=[sae])
    """
    model = unwrap(model)
    register_lenses(model, lenses)
    options = {"tokenizer": tokenizer, "forward": forward, "device": device}
    maxima = []
    for group, what in ((group_a, "group_a"), (group_b, "group_b")):
        if isinstance(group, Sized) and not isinstance(group, Mapping) and len(group) == 0:
            raise InputError(f"{what} is empty: give at least one input in each group.")
        rows = _per_input(model, group, layer, batch_size=batch_size, **options)
        maxima.append(torch.stack([r.amax(0) for r in rows]))
    return contrast(maxima[0], maxima[1], unit_axis=0, k=k)
