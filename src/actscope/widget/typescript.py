"""The TypeScript side of the contract, generated, in the contract's own parts:
``js/src/contract/enums.ts`` (value sets and constants), ``js/src/contract/metas.ts`` (the
blob metas and messages) and ``js/src/traits.ts`` (the traits and key functions, and every
name of the other two, so that the front end imports from one place); and the fixture of
cases both sides must agree on (keys, the order of units)::

    python -m actscope.widget.typescript

``tests/test_contract.py`` fails when the committed files differ from what this writes.
"""

from __future__ import annotations

import json
import math
import pathlib
import sys
import types
import typing
from typing import Any, Literal, NotRequired, get_args, get_origin

from . import contract as C
from .contract import (
    EXAMPLE_BANDS,
    KEYS,
    SALIENCY_LABELS,
    Blob,
    SaliencyTarget,
    attention_key,
    edits_tag,
    effects_key,
    examples_key,
    layer_view_key,
    lens_key,
    outputs_key,
    saliency_key,
    snapshot_key,
    specific_key,
)

ROOT = pathlib.Path(__file__).resolve().parents[3]
TRAITS_TS = ROOT / "js" / "src" / "traits.ts"
ENUMS_TS = ROOT / "js" / "src" / "contract" / "enums.ts"
METAS_TS = ROOT / "js" / "src" / "contract" / "metas.ts"
FIXTURE = ROOT / "js" / "tests" / "fixtures" / "contract.json"

_ENUMS = [
    "Kind",
    "Modality",
    "StatusState",
    "StatusPlace",
    "JobName",
    "JobState",
    "SaliencyMethod",
    "SaliencyTargetType",
    "SaliencyOver",
    "ExampleContext",
    "RankBy",
    "SnapshotPanel",
    "HeadScore",
    "PredictionTask",
    "EditOp",
    "PatchMetric",
    "EditView",
    "LayerViewArray",
]
_INTERFACES = [
    C.LayerInfoDict,
    C.InputInfo,
    C.ModelInfo,
    C.Status,
    C.Job,
    C.SaliencyTarget,
    C.EditSpec,
    C.MiningInfo,
    C.Traits,
    C.ErrorMeta,
    C.LayerViewErrorMeta,
    C.ValueSummary,
    C.Trimmed,
    C.SparseView,
    C.ViewWindow,
    C.OverviewMeta,
    C.LayerViewMeta,
    C.SaliencyViewMeta,
    C.UnitSummaryMeta,
    C.BandMeta,
    C.ExampleRow,
    C.ExamplesViewMeta,
    C.ExamplesMissingMeta,
    C.UnavailableMeta,
    C.OutputsViewMeta,
    C.AttentionViewMeta,
    C.LensViewMeta,
    C.EffectsViewMeta,
    C.SpecificViewMeta,
    C.PatchingViewMeta,
    C.SnapshotMeta,
    C.ThumbsMeta,
    C.DrawnDetail,
    C.HelloRequest,
    C.CancelRequest,
    C.MineRequest,
    C.OpenExampleRequest,
    C.FetchRequest,
    C.PatchRequest,
    C.HelloReply,
    C.LayerViewReply,
]
_UNIONS = {"Request": C.Request, "Reply": C.Reply}


def _ts_name(name: str) -> str:
    return name.removesuffix("Dict")


def _ts_type(tp: Any) -> str:
    """A Python annotation as TypeScript."""
    if tp is Blob:
        return "DataView | null"
    if tp is str:
        return "string"
    if tp is int or tp is float:
        return "number"
    if tp is bool:
        return "boolean"
    if tp is type(None) or tp is None:
        return "null"
    if tp is Any:
        return "unknown"
    for enum in _ENUMS:
        if tp == getattr(C, enum):
            return enum
    origin = get_origin(tp)
    if origin is NotRequired:
        return _ts_type(get_args(tp)[0])
    if origin is Literal:
        return " | ".join(json.dumps(v) for v in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_ts_type(a) for a in get_args(tp))
    if origin is list:
        inner = _ts_type(get_args(tp)[0])
        return f"({inner})[]" if " " in inner else f"{inner}[]"
    if origin is dict:
        return f"Record<string, {_ts_type(get_args(tp)[1])}>"
    name = getattr(tp, "__name__", None)
    if name and typing.is_typeddict(tp):
        return _ts_name(name)
    raise TypeError(f"no TypeScript for {tp!r}")


def _base(cls: Any, hints: dict[str, Any]) -> Any:
    """The contract interface ``cls`` extends, if any.

    Python 3.11 keeps no bases on a TypedDict, only the merged keys, base keys first; so
    the base is the largest other interface whose keys (and their types) begin ``cls``'s.
    """
    keys = list(hints)
    best = None
    for other in _INTERFACES:
        theirs = typing.get_type_hints(other, include_extras=True)
        n = len(theirs)
        if other is cls or not 0 < n < len(keys) or list(theirs) != keys[:n]:
            continue
        same = all(theirs[k] == hints[k] for k in theirs)
        if same and (best is None or n > len(typing.get_type_hints(best))):
            best = other
    return best


def _interface(cls: Any) -> str:
    hints = typing.get_type_hints(cls, include_extras=True)  # inherited keys included
    lines = []
    doc = " ".join(line.strip() for line in (cls.__doc__ or "").strip().splitlines())
    if doc:
        lines.append(f"/** {doc} */")
    base = _base(cls, hints)
    inherited = typing.get_type_hints(base) if base else {}
    extends = f" extends {_ts_name(base.__name__)}" if base else ""
    lines.append(f"export interface {_ts_name(cls.__name__)}{extends} {{")
    for key in (k for k in hints if k not in inherited):
        loose = get_origin(hints[key]) is NotRequired or key in cls.__optional_keys__
        optional = "?" if loose else ""
        lines.append(f"  {key}{optional}: {_ts_type(hints[key])};")
    lines.append("}")
    return "\n".join(lines)


def _enum(name: str) -> str:
    tp = getattr(C, name)
    values = get_args(tp)
    return (
        f"export type {name} = {' | '.join(json.dumps(v) for v in values)};\n"
        f"export const {name[0].lower() + name[1:]}Values: readonly {name}[] = "
        f"{json.dumps(list(values))};"
    )


def _key_function(panel: str, template: str) -> str:
    fields = [part.split("}")[0] for part in template.split("{")[1:]]
    types = {"input_index": "number", "unit": "number", "band": "number", "panel": "SnapshotPanel"}
    args = ", ".join(f"{f}: {types.get(f, 'string')}" for f in fields)
    body = template.replace("{", "${")
    camel = "".join(w.capitalize() for w in panel.split("_"))
    return (
        f"export function {camel[0].lower() + camel[1:]}Key({args}): string {{\n"
        f"  return `{body}`;\n}}"
    )


HEADER = (
    "// Generated from src/actscope/widget/contract/ by "
    "`python -m actscope.widget.typescript`.\n"
    "// Do not edit: change the contract, then regenerate (tests/test_contract.py checks it)."
)
_FIRST_META = C.ErrorMeta
"""The interfaces from this one on are blob metas and messages (``metas.ts``)."""


def _imports(text: str, names: list[str], source: str) -> str:
    """``import type`` of the ``names`` that ``text`` uses, from ``source``."""
    import re

    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("/", "*")))
    used = sorted(n for n in names if re.search(rf"\b{n}\b", code))
    return f'import type {{ {", ".join(used)} }} from "{source}";' if used else ""


def files() -> dict[pathlib.Path, str]:
    """Each generated TypeScript file and its text."""
    enum_parts = [_enum(name) for name in _ENUMS]
    enum_parts.append(f"export const saliencyLabels: Record<SaliencyMethod, string> = "
                      f"{json.dumps(SALIENCY_LABELS, ensure_ascii=False)};")  # fmt: skip
    enum_parts.append(f"export const EXAMPLE_BANDS = {EXAMPLE_BANDS};")
    split = _INTERFACES.index(_FIRST_META)
    trait_classes, meta_classes = _INTERFACES[:split], _INTERFACES[split:]
    enum_names = [_ts_name(n) for n in _ENUMS]
    trait_names = [_ts_name(c.__name__) for c in trait_classes]
    meta_parts = [_interface(cls) for cls in meta_classes]
    for name, union in _UNIONS.items():
        members = " | ".join(_ts_name(a.__name__) for a in get_args(union))
        meta_parts.append(f"export type {name} = {members};")
    metas = "\n\n".join(meta_parts)
    meta_imports = [
        _imports(metas, enum_names, "./enums"),
        _imports(metas, trait_names, "../traits"),
    ]
    trait_parts = [_interface(cls) for cls in trait_classes]
    trait_parts += [_key_function(panel, template) for panel, template in KEYS.items()]
    traits = "\n\n".join(trait_parts)
    trait_head = [
        _imports(traits, enum_names, "./contract/enums"),
        'export * from "./contract/enums";\nexport * from "./contract/metas";',
    ]

    def join(*parts: str) -> str:
        return "\n\n".join(p for p in parts if p) + "\n"

    return {
        ENUMS_TS: join(HEADER, *enum_parts),
        METAS_TS: join(HEADER, "\n".join(i for i in meta_imports if i), metas),
        TRAITS_TS: join(HEADER, *trait_head, traits),
    }


def typescript() -> str:
    """The text of every generated TypeScript file, one after another (for comparing)."""
    return "".join(files().values())


def fixture() -> dict[str, Any]:
    """Cases both sides must agree on: keys, and the NaN-last order of units."""
    from actscope.engine.ranking import by_count, descending

    targets: list[tuple[SaliencyTarget, str, int | None, int | None]] = [
        ({"type": "top"}, "features.conv1", None, None),
        ({"type": "class", "index": 7}, "features.conv1", 3, 2),
        ({"type": "unit"}, "encoder.layer.3.intermediate", 1187, 5),
        ({"type": "unit"}, "blocks.0#1", None, None),
        ({"type": "token"}, "transformer.h.0", None, 4),
        ({"type": "token"}, "transformer.h.0", 2, None),
    ]
    import torch

    values = [3.0, math.nan, 3.0, -math.inf, math.inf, 0.5, math.nan, -1.0]
    order = descending(torch.tensor(values)).tolist()
    import numpy as np

    from actscope.widget.sparse import varint_gaps

    # a sparse view's feature indices: gaps of one, two and three bytes, an empty row
    rows = [[0, 1, 127, 129, 256, 16_600, 59_999], [], [5, 16_389]]
    flat = [f for row in rows for f in row]
    per_row = [len(row) for row in rows]
    gaps = varint_gaps(np.array(flat), np.array(per_row)).tolist()
    counts = [2, 0, 2, 5, 1, 2, 0, 1]
    count_order = by_count(torch.tensor(counts), torch.tensor(values)).tolist()
    return {
        "layer_view": [
            {"input_index": i, "layer": name, "key": layer_view_key(i, name)}
            for i, name in [(0, "features.conv1"), (12, "transformer.h.0.mlp#1")]
        ],
        "saliency": [
            {
                "input_index": 2,
                "method": "integrated_gradients",
                "target": target,
                "layer": layer,
                "unit": unit,
                "position": position,
                "key": saliency_key(2, "integrated_gradients", target, layer, unit, position),
            }
            for target, layer, unit, position in targets
        ],
        "examples": [
            {
                "layer": "encoder.layer.3.intermediate",
                "unit": 5,
                "band": b,
                "key": examples_key("encoder.layer.3.intermediate", 5, b),
            }
            for b in (-1, 0, 9)
        ],
        "snapshot": [
            {"panel": "layer_view", "key": "0|a", "full": snapshot_key("layer_view", "0|a")}
        ],
        "panels": [
            {"panel": "outputs", "args": [3], "key": outputs_key(3)},
            {"panel": "attention", "args": [3, "h.1.attn"], "key": attention_key(3, "h.1.attn")},
            {"panel": "lens", "args": [3], "key": lens_key(3)},
            {
                "panel": "effects",
                "args": ["h.1.mlp.act", 17],
                "key": effects_key("h.1.mlp.act", 17),
            },
            {
                "panel": "specific",
                "args": ["h.1.mlp.act", 3, 0, 3, 12],
                "key": specific_key("h.1.mlp.act", [3, 0, 3, 12]),
            },
        ],
        "sparse": {"features": 60_000, "rows": rows, "counts": per_row, "gaps": gaps},
        "order": {
            "values": [_json_float(v) for v in values],
            "descending": order,
            "counts": counts,
            "by_count": count_order,
        },
        "edits_tag": [
            {"edits": edits, "view": view, "tag": edits_tag(edits, view)}
            for edits, view in _edit_cases()
        ],
    }


def _edit_cases() -> list[tuple[list[Any], str]]:
    from .panels.edits import normalised_amount

    amounts = [0.0, -2.0, 0.5, 1 / 3, 123456.78901, -0.0001]
    spec = [
        {
            "layer": "transformer.h.1.mlp.act",
            "units": [3, 17],
            "positions": None,
            "op": "scale",
            "amount": normalised_amount(a),
        }
        for a in amounts
    ]
    other = {"layer": "blocks.0#1", "units": None, "positions": [0, 5], "op": "value",
             "amount": normalised_amount(2.25)}  # fmt: skip
    return [([], "edited"), (spec[:1], "edited"), (spec, "difference"), ([other], "clean")]


def _json_float(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


def write() -> None:
    for path, text in files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(fixture(), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
    print(f"wrote {', '.join(str(p) for p in files())} and {FIXTURE}", file=sys.stderr)
