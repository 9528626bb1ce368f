"""The Python↔TypeScript contract is declared once and both sides follow it.

``src/actscope/widget/contract/`` declares traits, metas, messages, enums and keys;
``js/src/traits.ts`` and ``js/tests/fixtures/contract.json`` are generated from it (run
``python -m actscope.widget.typescript``), and the TypeScript tests check the fixture.
"""

from __future__ import annotations

import json
import typing
from typing import Any, NotRequired, get_args, get_origin

import pytest
import torch

import actscope
from actscope.engine.saliency import METHODS
from actscope.widget import contract, typescript, wire
from actscope.widget.panels.examples import BANDS
from actscope.widget.sharing import unpack


def test_the_generated_typescript_is_current():
    for path, text in typescript.files().items():
        assert path.read_text() == text, (
            f"{path.name} is stale: run `python -m actscope.widget.typescript`"
        )
    assert json.loads(typescript.FIXTURE.read_text()) == json.loads(
        json.dumps(typescript.fixture())
    ), "js/tests/fixtures/contract.json is stale: run `python -m actscope.widget.typescript`"


def test_generated_interfaces_extend_what_the_contract_subclasses():
    """Python 3.11 drops a TypedDict's bases, so the generator infers them: check it
    against the class statements themselves."""
    import ast
    import inspect

    declared = {}
    for module in (contract.metas, contract.traits, contract.messages):
        for node in ast.parse(inspect.getsource(module)).body:
            if isinstance(node, ast.ClassDef):
                bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
                declared[node.name] = [b for b in bases if b != "TypedDict"]
    text = typescript.typescript()
    subclasses = {name: bases for name, bases in declared.items() if bases}
    assert subclasses, "the contract has no subclassed interface left to check"
    for name, bases in declared.items():
        ts = typescript._ts_name(name)
        if bases:
            assert f"export interface {ts} extends {typescript._ts_name(bases[0])} {{" in text
        else:
            assert f"export interface {ts} {{" in text or f"interface {ts} " not in text


def test_enums_match_the_engine():
    assert list(get_args(contract.SaliencyMethod)) == list(METHODS)
    assert list(contract.SALIENCY_LABELS) == list(METHODS)
    assert contract.EXAMPLE_BANDS == BANDS
    assert list(get_args(contract.Kind)) == list(get_args(actscope.engine.layers.Kind))


def _synced_traits(widget: Any) -> set[str]:
    names = set()
    for cls in type(widget).__mro__:
        if cls.__module__.startswith("actscope") and hasattr(cls, "class_own_traits"):
            names |= {n for n in cls.class_own_traits(sync=True) if not n.startswith("_")}
    return names


def test_traits_declared_are_the_traits_synced(explorer):
    assert _synced_traits(explorer) == set(contract.Traits.__annotations__)


def conforms(value: dict[str, Any], schema: Any, extra: set[str] = frozenset()) -> list[str]:
    """What is wrong with ``value`` as a ``schema`` TypedDict (keys only)."""
    hints = typing.get_type_hints(schema, include_extras=True)
    optional = {k for k, t in hints.items() if get_origin(t) is NotRequired}
    optional |= set(schema.__optional_keys__)
    problems = [f"undeclared key {k!r}" for k in value if k not in hints and k not in extra]
    problems += [f"missing key {k!r}" for k in hints if k not in optional and k not in value]
    return problems


def test_conforms_can_fail():
    assert conforms({"key": "a", "error": "e", "mined": 1}, contract.ErrorMeta) == [
        "undeclared key 'mined'"
    ]
    assert conforms({"key": "a"}, contract.ErrorMeta) == ["missing key 'error'"]


def test_every_blob_meta_is_declared(explorer, digits):
    model, images, _ = digits
    meta, arrays = wire.decode(explorer.layer_view)
    assert conforms(meta, contract.LayerViewMeta) == []
    assert set(arrays) <= set(get_args(contract.LayerViewArray))
    explorer.saliency_method = "gradient"
    assert conforms(wire.decode(explorer.saliency_view)[0], contract.SaliencyViewMeta) == []
    explorer.saliency_target = {"type": "unit"}  # no unit selected: an error blob
    assert conforms(wire.decode(explorer.saliency_view)[0], contract.ErrorMeta) == []
    explorer.unit = 2
    assert conforms(wire.decode(explorer.examples_view)[0], contract.ExamplesMissingMeta) == []
    index = actscope.mine(model, images, [explorer.layer], k=3, progress=False)
    explorer.indexes.append(index)
    explorer.examples_band = 1
    meta, _ = wire.decode(explorer.examples_view)
    assert conforms(meta, contract.ExamplesViewMeta) == []
    for row in meta["top"] + meta["band_rows"]:
        assert conforms(row, contract.ExampleRow) == []
    assert conforms(meta["summary"], contract.UnitSummaryMeta) == []
    explorer.snapshot(layers=[explorer.layer], inputs=[0])
    container, _ = wire.decode(explorer.snapshot_data)
    assert conforms(container, contract.SnapshotMeta) == []
    assert conforms(wire.decode(explorer.thumbs)[0], contract.ThumbsMeta) == []
    for info in explorer.layers_info:
        assert conforms(info, contract.LayerInfoDict) == []
    for info in explorer.inputs_info:
        assert conforms(info, contract.InputInfo) == []
    assert conforms(explorer.model_info, contract.ModelInfo) == []
    assert conforms(explorer.status, contract.Status) == []


def test_snapshot_keys_are_built_by_the_contract(explorer):
    explorer.snapshot(layers=["features.conv1"], inputs=[1], units=[0], saliency=["gradient"])
    keys = set(unpack(explorer.snapshot_data))
    assert contract.snapshot_key("layer_view", contract.layer_view_key(1, "features.conv1")) in keys
    target: contract.SaliencyTarget = {"type": "unit"}
    key = contract.saliency_key(1, "gradient", target, "features.conv1", 0)
    assert contract.snapshot_key("saliency", key) in keys


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"type": "top"}, "top"),
        ({"type": "class", "index": 4}, "class:4"),
        ({"type": "unit"}, "unit:features.conv1:3"),
    ],
)
def test_saliency_target_keys(target, expected):
    assert contract.saliency_target_key(target, "features.conv1", 3) == expected


def test_the_order_fixture_is_the_engines_ranking():
    """The fixture the TypeScript sort is checked against comes from the ranking itself:
    NaN last, +inf first, ties to the lower index."""
    order = typescript.fixture()["order"]
    assert order["descending"] == [4, 0, 2, 5, 7, 3, 1, 6]
    ranked = actscope.rank_units(torch.tensor([[3.0, float("nan"), 3.0, 1.0]]), 1, k=4)
    assert ranked.units.tolist() == [0, 2, 3, 1]
