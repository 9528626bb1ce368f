"""The logit lens panel: what each block's residual stream predicts, for the selected input.

Twin of ``js/src/panels/lens.ts``. Layers × positions, the top token in each cell with its
probability as colour, and the rank of each position's final prediction across layers
(:func:`actscope.logit_lens`). For causal language models only; other models say why.
"""

from __future__ import annotations

from typing import Any

import traitlets

from ...engine.errors import ActscopeError
from ...engine.lm import LogitLens, decode_lens, is_causal_lm, lm_parts, logit_lens
from .. import wire
from ..contract import LensViewMeta, lens_key, snapshot_key
from ..jobs import Progress
from .base import Panel, SnapshotPlan
from .outputs import token_names, unavailable_blob

LENS_K = 5
LENS_POSITIONS = 64
"""The panel decodes an input's last 64 positions (the unembedding of every layer at every
position is most of its cost: 13 × 1,024 × 50,257 logits on GPT-2-small at 1,024 tokens);
``actscope.logit_lens`` and ``ex.figure(view="lens")`` decode them all."""


def lens_blob(lens: LogitLens, *, input_index: int, tokens: list[str], tokenizer: Any) -> bytes:
    ids = lens.ids[:, 0].cpu()
    meta: LensViewMeta = {
        "key": lens_key(input_index),
        "input_index": input_index,
        "layers": lens.layers,
        "tokens": tokens[lens.start :],
        "first": lens.start,
        "names": token_names(tokenizer, ids.reshape(-1).tolist() + lens.token[0].tolist()),
    }
    arrays = {
        "ids": ids,
        "probs": lens.probs[:, 0].float().cpu(),
        "token": lens.token[0].cpu(),
        "token_rank": lens.token_rank[:, 0].cpu(),
        "token_prob": lens.token_prob[:, 0].float().cpu(),
    }
    return wire.encode(arrays, meta, precisions={"probs": "f16", "token_prob": "f16"})


class LensPanel(Panel):
    """The logit lens of the selected input."""

    lens_view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob (``LensViewMeta``, or ``UnavailableMeta`` for a model that is not a
    causal language model) of the selected input. Default: input 0's, computed when the
    explorer is made."""

    @traitlets.observe("input_index")
    def _on_lens_input(self, _change: Any) -> None:
        self._refresh_lens()

    def _lens(self, index: int, last: int | None = LENS_POSITIONS) -> LogitLens:
        session = self.session
        held = session.captured(index)
        if held is not None:  # the blocks' outputs are in hand (input 0 from the opening)
            parts = lm_parts(session.model)
            return decode_lens(held, parts, parts.blocks, LENS_K, last=last)
        with session.editing():
            return logit_lens(
                session.model,
                session.inputs.example(index),
                k=LENS_K,
                forward=session.forward,
                device=session.device,
                last=last,
            )

    def _lens_blob(self, index: int) -> bytes:
        return self._tagged(self._lens_untagged(index), self._edit_tag())

    def _lens_untagged(self, index: int) -> bytes:
        session = self.session
        if not is_causal_lm(session.model):
            return unavailable_blob(
                lens_key(index), "The logit lens needs a causal language model."
            )
        try:
            lens = self._lens(index)
        except ActscopeError as exc:
            return unavailable_blob(lens_key(index), str(exc))
        tokens = session.inputs.tokens(index) or [str(t) for t in range(lens.ids.shape[2])]
        tokenizer = session.inputs.tokenizer or getattr(self, "_tokenizer", None)
        return lens_blob(lens, input_index=index, tokens=tokens, tokenizer=tokenizer)

    def _refresh_lens(self) -> None:
        if not self._ready():
            return
        index = self.input_index

        def work(progress: Progress) -> bytes:
            progress.check()
            return self._lens_blob(index)

        def done(blob: bytes) -> None:
            self.lens_view = blob

        def failed(exc: BaseException) -> None:
            why = f"{type(exc).__name__}: {exc}"
            self.lens_view = self._tagged(unavailable_blob(lens_key(index), why), tag)

        tag = self._edit_tag()

        self._jobs.start("lens", work, done, failed, quiet=True)

    def snapshot_entries(self, plan: SnapshotPlan) -> list[tuple[str, bytes]]:
        entries = super().snapshot_entries(plan)
        if is_causal_lm(self.session.model):
            for i in plan.inputs:
                entries.append((snapshot_key("lens", lens_key(i)), self._lens_blob(i)))
        return entries

    def _figure_lens(self, input_index: int | None = None, *, last: int | None = None) -> Any:
        """``ex.figure(view="lens")``: layers × positions, the top token in each cell; every
        position (``last=n``: the last n, as the panel decodes a long input's last 64)."""
        from .. import figures

        index = self.input_index if input_index is None else input_index
        lens = self._lens(index, last)
        tokens = self.session.inputs.tokens(index)
        tokenizer = self.session.inputs.tokenizer
        top = lens.ids[:, 0, :, 0].cpu()
        names = token_names(tokenizer, top.reshape(-1).tolist())
        text = [[names[str(int(i))] for i in row] for row in top]
        return figures.lens_figure(
            lens.probs[:, 0, :, 0].cpu(),
            text,
            lens.layers,
            tokens[lens.start :] if tokens else tokens,
            title=f"logit lens · input {index}",
        )
