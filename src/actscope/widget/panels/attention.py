"""The attention panel: the heads of the selected attention layer on the selected input.

Twin of ``js/src/panels/attention.ts``. When the selected layer is an attention module (its
class is named like one, or it outputs a pattern as TransformerLens' ``hook_pattern``
does), :func:`actscope.attention` reads its probabilities in one pass and
:func:`actscope.head_scores` ranks its heads; the blob holds the patterns at one byte a
probability. ``head`` is the head shown large; ``head_score`` the ranking's score.
"""

from __future__ import annotations

from typing import Any, get_args

import torch
import traitlets

from ...engine.attention import SCORES, attention, head_scores
from ...engine.errors import ActscopeError, InputError
from ...engine.overview import overview_each
from .. import wire
from ..contract import (
    AttentionViewMeta,
    HeadScore,
    Trimmed,
    ViewWindow,
    attention_key,
    snapshot_key,
)
from ..jobs import Progress
from .base import Panel, SnapshotPlan
from .outputs import unavailable_blob

MAX_PATTERN_VALUES = 4_000_000
"""Probabilities sent for one layer at most (heads × queries × keys): a bigger pattern
travels as a window of queries (every key), from ``attention_start``, with a note, beside
every head's overview (``overview_tiles``)."""

OVERVIEW_TILES = 256
"""The most overview tiles along each side of a head's pattern, fewer for many heads (the
overview of every head stays within a quarter of ``MAX_PATTERN_VALUES``)."""


def overview_tiles(heads: int, max_values: int = MAX_PATTERN_VALUES) -> int:
    """Tiles along each side of each head's overview: ``OVERVIEW_TILES``, or fewer so that
    ``heads × side²`` stays within a quarter of ``max_values``."""
    return max(1, min(OVERVIEW_TILES, int((max_values / 4 / max(heads, 1)) ** 0.5)))


def looks_like_attention(layer_type: str, name: str) -> bool:
    """Whether a layer is worth asking for a pattern: attention modules and pattern hooks.

    On a TransformerLens 4 bridge, its ``hook_pattern`` (not the attention bridge that
    holds it, nor the wrapped module behind a private ``_original_component`` path)."""
    kind = layer_type.lower()
    parts = name.split(".")
    if kind.endswith("attentionbridge") or any(p.startswith("_") for p in parts):
        return False
    return (
        "attention" in kind or "attn" in kind or parts[-1] in ("hook_pattern", "attn", "self_attn")
    )


def attention_layer_for(layer: str, candidates: list[tuple[str, str]]) -> str | None:
    """The attention layer to show while ``layer`` is selected: itself when it is one, else
    the one that shares the longest dotted prefix with it (its own block's), else the first.

    ``candidates`` are ``(name, type)`` pairs in tree order.
    """
    return attention_layers_for([layer], candidates)[layer]


def attention_layers_for(
    layers: list[str], candidates: list[tuple[str, str]]
) -> dict[str, str | None]:
    """:func:`attention_layer_for` of each of ``layers``, the candidates read once."""
    found = [name for name, kind in candidates if looks_like_attention(kind, name)]
    if not found:
        return dict.fromkeys(layers)
    order = {name: i for i, name in enumerate(found)}
    split = [name.split(".") for name in found]

    def nearest(layer: str) -> str:
        if layer in order:
            return layer
        parts = layer.split(".")

        def shared(i: int) -> tuple[int, int]:
            n = 0
            for a, b in zip(parts, split[i], strict=False):
                if a != b:
                    break
                n += 1
            return n, -i

        return found[max(range(len(found)), key=shared)]

    return {layer: nearest(layer) for layer in layers}


def attention_blob(
    pattern: torch.Tensor,
    *,
    layer: str,
    input_index: int,
    ids: torch.Tensor | None,
    tokens: list[str] | None,
    max_values: int | None = None,
    start: int = 0,
) -> bytes:
    """One example's ``(heads, queries, keys)`` pattern as a blob, with each head's scores
    (of the whole pattern). Over ``max_values`` (default ``MAX_PATTERN_VALUES``), the queries
    from ``start`` (clamped so that the window is full) with every key, and each head's
    whole pattern as overview tiles (max-pooled, computed where the pattern is)."""
    max_values = MAX_PATTERN_VALUES if max_values is None else max_values
    heads, queries, keys = pattern.shape
    scores = head_scores(pattern, ids)
    trimmed: Trimmed | None = None
    window: ViewWindow | None = None
    size = max_values // max(heads * keys, 1)
    arrays: dict[str, torch.Tensor] = {}
    tiles = None
    if pattern.numel() > max_values:
        side = overview_tiles(heads, max_values)
        tiles = overview_each(pattern, side, side)
        arrays["overview"] = tiles.values
    if pattern.numel() > max_values and size >= 1:
        begin = max(0, min(int(start), queries - size))
        pattern = pattern[:, begin : begin + size]
        window = {"start": begin, "stop": begin + size, "positions": queries}
        trimmed = {
            "shown": list(pattern.shape),
            "note": f"The whole pattern ({heads * queries * keys:,} probabilities) is over the "
            f"{max_values:,} a view sends: queries {begin}–{begin + size - 1} of {queries:,} "
            "are shown, with every key (step earlier/later, or pick a later token, to move). "
            "Head scores cover every query.",
        }
    elif pattern.numel() > max_values:
        keep = max(1, int((max_values / heads) ** 0.5))
        pattern = pattern[:, :keep, :keep]
        trimmed = {
            "shown": list(pattern.shape),
            "note": f"Showing the first {keep} of {queries} positions: the whole pattern "
            f"({heads * queries * keys:,} probabilities) is over the {max_values:,} a view sends.",
        }
    meta: AttentionViewMeta = {
        "key": attention_key(input_index, layer),
        "input_index": input_index,
        "layer": layer,
        "heads": heads,
        "queries": queries,
        "keys": keys,
        "scores": {name: [float(v) for v in values.tolist()] for name, values in scores.items()},
        "trimmed": trimmed,
    }
    if window is not None:
        meta["window"] = window
    if tiles is not None:
        meta["overview"] = {
            "rows": int(tiles.values.shape[-2]),
            "cols": int(tiles.values.shape[-1]),
            "tile_rows": tiles.tile_rows,
            "tile_cols": tiles.tile_cols,
        }
    if tokens is not None:
        meta["tokens"] = tokens
    return wire.encode({"pattern": pattern.float().cpu(), **arrays}, meta, precision="u8")


class AttentionPanel(Panel):
    """The heads of the selected attention layer, ranked by a score."""

    attention_view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob (``AttentionViewMeta``, or ``UnavailableMeta`` when the layer
    outputs no attention pattern) of the selected layer and input. Default: the first
    selection's, computed when the explorer is made."""
    attention_layers = traitlets.Dict().tag(sync=True)
    """Type: dict of str → str. The attention layer shown while each layer is selected
    (itself, or the attention of its own block, or the first): the front end finds a
    snapshot's blob by it. Layers of a model with no attention are absent. Default: found
    from the model's layers when the explorer is made ({} for a model with no attention)."""
    head = traitlets.Int(None, allow_none=True).tag(sync=True)
    """Type: int | None. Default: None. The head shown large (with token labels)."""
    attention_start = traitlets.Int(0).tag(sync=True)
    """Type: int. Default: 0. The first query shown of a pattern too large for one view
    (``MAX_PATTERN_VALUES``): the view holds the queries from here, every key."""
    head_score = traitlets.Unicode("induction").tag(sync=True)
    """Type: str. Default: "induction". How heads are ranked: previous_token, induction,
    first_token (an attention sink) or entropy."""

    @traitlets.validate("head_score")
    def _check_head_score(self, proposal: Any) -> str:
        value = proposal["value"]

        def test() -> None:
            if value not in get_args(HeadScore):
                raise InputError(
                    f"head_score {value!r} is not a score: use one of {', '.join(SCORES)}."
                )

        return str(self._checked(value, test))

    @traitlets.validate("head")
    def _check_head(self, proposal: Any) -> int | None:
        value = proposal["value"]
        if value is None:
            return None

        def test() -> None:
            if not isinstance(value, int) or value < 0:
                raise InputError(f"head {value!r} must be a head's index (0 or more), or None.")

        return int(self._checked(value, test))

    @traitlets.validate("attention_start")
    def _check_attention_start(self, proposal: Any) -> int:
        value = proposal["value"]

        def test() -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"attention_start {value!r} must be a query position (0 or more).")

        return int(self._checked(value, test))

    @traitlets.observe("attention_start")
    def _on_attention_start(self, _change: Any) -> None:
        self._refresh_attention()

    @traitlets.observe("layer", "input_index")
    def _on_attention_selection(self, change: Any) -> None:
        if change["name"] == "layer":
            self.head = None
        self._refresh_attention()

    def _init_attention(self) -> None:
        candidates_of = self.session.layers
        candidates = [(info.name, info.type) for info in candidates_of]
        shown = attention_layers_for([name for name, _ in candidates], candidates)
        self.attention_layers = {name: a for name, a in shown.items() if a is not None}

    def _attention_layer(self, layer: str) -> str | None:
        return self.attention_layers.get(self.session.info(layer).name)

    def _attention_blobs(self, shown: list[str], index: int) -> dict[str, bytes]:
        """The blobs of attention layers ``shown`` on input ``index`` (one forward pass)."""
        session = self.session
        example = session.inputs.example(index)
        tag = self._edit_tag()
        try:
            with session.editing():
                found = attention(
                    session.model, example, shown, forward=session.forward, device=session.device
                )
        except ActscopeError as exc:
            return {
                n: self._tagged(unavailable_blob(attention_key(index, n), str(exc)), tag)
                for n in shown
            }
        ids = example.get("input_ids") if isinstance(example, dict) else None
        blobs = {
            name: attention_blob(
                found[name][0],
                layer=name,
                input_index=index,
                ids=ids[0] if isinstance(ids, torch.Tensor) else None,
                tokens=session.inputs.tokens(index),
                start=self.attention_start,
            )
            for name in shown
        }
        return {name: self._tagged(blob, tag) for name, blob in blobs.items()}

    def _refresh_attention(self) -> None:
        if not self._ready() or self.__dict__.get("_opening"):
            return
        index = self.input_index
        layer = self._attention_layer(self.layer)
        if layer is None:
            why = "This model has no layer that looks like attention."
            self.attention_view = unavailable_blob(attention_key(index, self.layer), why)
            return

        def work(progress: Progress) -> bytes:
            progress.check()
            return self._attention_blobs([layer], index)[layer]

        def done(blob: bytes) -> None:
            self.attention_view = blob

        def failed(exc: BaseException) -> None:
            why = f"{type(exc).__name__}: {exc}"
            blob = unavailable_blob(attention_key(index, layer), why)
            self.attention_view = self._tagged(blob, tag)

        tag = self._edit_tag()

        self._jobs.start("attention", work, done, failed, quiet=True)

    def snapshot_entries(self, plan: SnapshotPlan) -> list[tuple[str, bytes]]:
        entries = super().snapshot_entries(plan)
        shown = {a for name in plan.layers if (a := self._attention_layer(name)) is not None}
        order = [info.name for info in self.session.layers]
        layers = sorted(shown, key=order.index)
        for i in plan.inputs if layers else []:
            for name, blob in self._attention_blobs(layers, i).items():
                entries.append((snapshot_key("attention", attention_key(i, name)), blob))
        return entries

    def _figure_attention(
        self, layer: str | None = None, input_index: int | None = None, head: int | None = None
    ) -> Any:
        """``ex.figure(view="attention")``: one head's pattern (``head``), or every head's."""
        from .. import figures

        asked = self.layer if layer is None else layer
        index = self.input_index if input_index is None else input_index
        session = self.session
        name = self._attention_layer(session.info(asked).name)
        if name is None:
            raise ActscopeError("This model has no layer that looks like attention.")
        info = session.info(name)
        with session.editing():
            pattern = attention(
                session.model,
                session.inputs.example(index),
                [info.name],
                forward=session.forward,
                device=session.device,
            )[info.name][0]
        tokens = session.inputs.tokens(index)
        return figures.attention_figure(
            pattern.cpu(), tokens, head=head, title=f"{name} · input {index}"
        )
