"""The logit effects of the selected unit: the tokens it promotes and suppresses most
through the direct path (:func:`actscope.logit_effects`), shown in the unit's panel.

Twin of ``js/src/panels/effects.ts``. For language models; other models say why.
"""

from __future__ import annotations

from typing import Any

import traitlets

from ...engine.directions import LogitEffects, logit_effects
from ...engine.errors import ActscopeError
from ...engine.lm import is_causal_lm
from .. import wire
from ..contract import EffectsViewMeta, effects_key, snapshot_key
from ..jobs import Progress
from .base import Panel, SnapshotPlan
from .outputs import token_names, unavailable_blob

EFFECTS_K = 12


def effects_blob(found: LogitEffects, *, layer: str, unit: int, tokenizer: Any) -> bytes:
    ids = found.promoted.tolist() + found.suppressed.tolist()
    meta: EffectsViewMeta = {
        "key": effects_key(layer, unit),
        "layer": layer,
        "unit": unit,
        "names": token_names(tokenizer, ids),
    }
    arrays = {
        "promoted": found.promoted.cpu(),
        "promoted_values": found.promoted_values.float().cpu(),
        "suppressed": found.suppressed.cpu(),
        "suppressed_values": found.suppressed_values.float().cpu(),
    }
    return wire.encode(arrays, meta, precision="f16")


class EffectsPanel(Panel):
    """What the selected unit writes to the logits."""

    effects_view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob (``EffectsViewMeta``, or ``UnavailableMeta``) of the selected unit.
    Default: empty until a unit is selected."""

    @traitlets.observe("unit")
    def _on_effects_unit(self, _change: Any) -> None:
        self._refresh_effects()

    def _effects(self, layer: str, unit: int) -> LogitEffects:
        session = self.session
        return logit_effects(
            session.model,
            session.info(layer).name,
            unit,
            k=EFFECTS_K,
            example=session.inputs.example(0),
        )

    def _effects_blob(self, layer: str, unit: int) -> bytes:
        key = effects_key(layer, unit)
        if not is_causal_lm(self.session.model):
            return unavailable_blob(key, "Logit effects need a language model.")
        try:
            found = self._effects(layer, unit)
        except ActscopeError as exc:
            return unavailable_blob(key, str(exc))
        tokenizer = self.session.inputs.tokenizer or getattr(self, "_tokenizer", None)
        return effects_blob(found, layer=layer, unit=unit, tokenizer=tokenizer)

    def _refresh_effects(self) -> None:
        if not self._ready() or self.unit is None:
            return
        layer, unit = self.layer, int(self.unit)

        def work(progress: Progress) -> bytes:
            progress.check()
            return self._effects_blob(layer, unit)

        def done(blob: bytes) -> None:
            self.effects_view = blob

        def failed(exc: BaseException) -> None:
            why = f"{type(exc).__name__}: {exc}"
            self.effects_view = unavailable_blob(effects_key(layer, unit), why)

        self._jobs.start("effects", work, done, failed, quiet=True)

    def snapshot_entries(self, plan: SnapshotPlan) -> list[tuple[str, bytes]]:
        entries = super().snapshot_entries(plan)
        if not is_causal_lm(self.session.model):
            return entries
        for name in plan.asked_layers if plan.asked_layers is not None else [self.layer]:
            for unit in plan.units:
                if unit < self.session.info(name).n_units:
                    blob = self._effects_blob(name, unit)
                    entries.append((snapshot_key("effects", effects_key(name, unit)), blob))
        return entries

    def _figure_effects(self, layer: str | None = None, unit: int | None = None) -> Any:
        """``ex.figure(view="effects")``: the unit's promoted and suppressed tokens, as bars."""
        from .. import figures

        name = self.layer if layer is None else layer
        chosen = self.unit if unit is None else unit
        if chosen is None:
            raise ActscopeError(
                "Select a unit (ex.unit = ...) or pass unit= for its logit effects."
            )
        found = self._effects(name, chosen)
        names = token_names(
            self.session.inputs.tokenizer, found.promoted.tolist() + found.suppressed.tolist()
        )
        return figures.effects_figure(
            found, names, title=f"logit effects of unit {chosen} of {name}"
        )
