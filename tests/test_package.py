"""The package: public names, the built bundle, and a wheel that carries it."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import actscope

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "actscope" / "static"


def test_public_api_names():
    for name in ("list_layers", "capture", "Explorer", "LayerInfo", "rank_units", "ActscopeError"):
        assert hasattr(actscope, name), name
    assert re.fullmatch(r"\d+\.\d+\.\d+", actscope.__version__)


def test_bundle_is_built_small_and_self_contained():
    js = (STATIC / "widget.js").read_text()
    assert "export" in js
    assert "render" in js
    assert "mountStandalone" in js
    # Budget: 128 kB for JS and CSS together (ten panels and the long views' overviews of
    # positions, heads and channels, about 11 kB each). Each displayed explorer carries the
    # bundle in its widget state (anywidget inlines _esm and _css per instance), so ten
    # explorers in a notebook cost at most 1.28 MB: less than plotly.js's cartesian bundle
    # alone (1.3 MB).
    size = len(js.encode()) + (STATIC / "widget.css").stat().st_size
    assert size < 128_000, f"bundle grew to {size:,} bytes"
    # Nothing that parses HTML from data, fetches from a CDN, or needs what VS Code and
    # Colab webviews lack.
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert forbidden not in js, forbidden
    for forbidden in ("https://", "http://", "randomUUID", "localStorage", "require("):
        assert forbidden not in js, forbidden


@pytest.mark.slow
def test_wheel_carries_the_bundle(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("actscope-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert zf.read("actscope/static/widget.js") == (STATIC / "widget.js").read_bytes()
    for needed in (
        "actscope/static/widget.css",
        "actscope/widget/templates/standalone.html",
        "actscope/demo/digits_cnn.safetensors",
        "actscope/widget/explorer.py",
        "actscope/engine/capture.py",
    ):
        assert needed in names, needed
    assert not any(n.startswith(("js/", "tests/")) or n.endswith(".ts") for n in names)
