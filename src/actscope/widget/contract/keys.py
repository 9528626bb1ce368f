"""What a blob answers: the key templates (the TypeScript twins are generated) and builders."""

from __future__ import annotations

import json
from collections.abc import Sequence

from .enums import SnapshotPanel
from .traits import EditSpec, SaliencyTarget

KEYS: dict[str, str] = {
    "layer_view": "{input_index}|{layer}",
    "saliency": "{input_index}|{method}|{target}",
    "examples": "{layer}|{unit}|{band}",
    "outputs": "{input_index}",
    "attention": "{input_index}|{layer}",
    "lens": "{input_index}",
    "effects": "{layer}|{unit}",
    "specific": "{layer}|{group}",
    "snapshot": "{panel}|{key}",
}
"""What a blob answers, per panel, as templates (the TypeScript twins are generated)."""


def layer_view_key(input_index: int, layer: str) -> str:
    return KEYS["layer_view"].format(input_index=input_index, layer=layer)


def saliency_target_key(
    target: SaliencyTarget, layer: str, unit: int | None, position: int | None = None
) -> str:
    """``"top"``, ``"class:<k>"``, ``"unit:<layer>:<unit>"`` (``"unit:<layer>:"`` with no
    unit selected) or ``"token:<position>"`` (``"token:"`` with none); js:
    ``saliencyTargetKey``."""
    if target["type"] == "class":
        return f"class:{target.get('index', 0)}"
    if target["type"] == "unit":
        return f"unit:{layer}:{'' if unit is None else unit}"
    if target["type"] == "token":
        return f"token:{'' if position is None else position}"
    return "top"


def saliency_key(
    input_index: int,
    method: str,
    target: SaliencyTarget,
    layer: str,
    unit: int | None,
    position: int | None = None,
) -> str:
    label = saliency_target_key(target, layer, unit, position)
    return KEYS["saliency"].format(input_index=input_index, method=method, target=label)


def examples_key(layer: str, unit: int, band: int) -> str:
    return KEYS["examples"].format(layer=layer, unit=unit, band=band)


def outputs_key(input_index: int) -> str:
    return KEYS["outputs"].format(input_index=input_index)


def attention_key(input_index: int, layer: str) -> str:
    return KEYS["attention"].format(input_index=input_index, layer=layer)


def lens_key(input_index: int) -> str:
    return KEYS["lens"].format(input_index=input_index)


def effects_key(layer: str, unit: int) -> str:
    return KEYS["effects"].format(layer=layer, unit=unit)


def group_text(group: Sequence[int]) -> str:
    """A group of inputs in keys: its indices ascending, once each, comma-separated
    (``"0,3"``); js: ``groupText``."""
    return ",".join(str(i) for i in sorted(set(group)))


def specific_key(layer: str, group: Sequence[int]) -> str:
    return KEYS["specific"].format(layer=layer, group=group_text(group))


def snapshot_key(panel: SnapshotPanel, key: str) -> str:
    return KEYS["snapshot"].format(panel=panel, key=key)


def edits_tag(edits: Sequence[EditSpec], view: str = "edited") -> str:
    """What a blob computed with ``edits`` shown as ``view`` answers besides its key: ``""``
    for no edits, else ``<view>:`` and the edits as compact JSON arrays ``[layer, units,
    positions, op, amount]`` (amounts as the ``edits`` trait normalises them: an integer
    amount without a fraction). js: ``editsTag``."""
    if not edits:
        return ""
    rows = [[e["layer"], e["units"], e["positions"], e["op"], e["amount"]] for e in edits]
    return f"{view}:" + json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
