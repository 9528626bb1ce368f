"""The Python encoder and the TypeScript decoder agree: js/tests/fixtures/*.bin are blobs
this encoder makes, and js/tests/wire.test.ts decodes them and checks the same values.

Set ACTSCOPE_UPDATE_FIXTURES=1 to rewrite the fixtures after a deliberate format change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from actscope.widget import wire

FIXTURES = Path(__file__).resolve().parents[1] / "js" / "tests" / "fixtures"


def contract_blobs() -> dict[str, bytes]:
    act = torch.tensor([[0.5, -1.25, 3.0], [float("nan"), float("inf"), -float("inf")]])
    big = torch.tensor([1048576.0, -2097152.0, 0.0, 12288.0])
    return {
        "f16": wire.encode(
            {
                "act": act,
                "big": big,
                "ids": torch.tensor([3, -7, 2**20]),
                "rgb": torch.arange(6, dtype=torch.uint8),
            },
            {"layer": "encoder.layer.0", "input": 2, "note": "héllo </script>"},
        ),
        "u8": wire.encode({"act": act}, {"precision": "u8"}, precision="u8"),
        "compressed": wire.encode({"zeros": torch.zeros(4096)}, {"z": True}, compress=True),
    }


def expected_values() -> dict[str, object]:
    return {
        "act": [0.5, -1.25, 3.0, "NaN", "Infinity", "-Infinity"],
        "big": [1048576.0, -2097152.0, 0.0, 12288.0],
        "ids": [3, -7, 2**20],
        "rgb": [0, 1, 2, 3, 4, 5],
    }


def test_fixtures_match_the_encoder():
    blobs = contract_blobs()
    if os.environ.get("ACTSCOPE_UPDATE_FIXTURES") == "1":
        FIXTURES.mkdir(parents=True, exist_ok=True)
        for name, blob in blobs.items():
            (FIXTURES / f"{name}.bin").write_bytes(blob)
        (FIXTURES / "expected.json").write_text(json.dumps(expected_values(), indent=1))
    for name, blob in blobs.items():
        assert (FIXTURES / f"{name}.bin").read_bytes() == blob, (
            f"{name}.bin is stale: the wire format changed. Rerun with ACTSCOPE_UPDATE_FIXTURES=1 "
            "and check js/tests/wire.test.ts still passes."
        )
    assert json.loads((FIXTURES / "expected.json").read_text()) == expected_values()
    meta, arrays = wire.decode(blobs["f16"])
    assert meta["input"] == 2
    assert arrays["big"].tolist() == expected_values()["big"]
