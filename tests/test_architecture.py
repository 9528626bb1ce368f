"""The layout the code promises: a pure-torch engine, a lazy widget, files of a readable size."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "src" / "actscope" / "engine"
WIDGET_SIDE = ("actscope.widget", "anywidget", "traitlets", "ipywidgets", "IPython", "plotly")


def _imports(source: str, package: str) -> list[str]:
    """Every module a file of ``package`` imports, relative imports resolved."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names]
    return found


def test_the_engine_never_imports_the_widget_side():
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 20
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in _imports(path.read_text(), _package(path))
        if _widget_side(name)
    ]
    assert offenders == []


def _package(path: Path) -> str:
    return ".".join(path.relative_to(ROOT / "src").with_suffix("").parts[:-1])


def _widget_side(name: str) -> bool:
    return any(name == side or name.startswith(side + ".") for side in WIDGET_SIDE)


def test_the_import_check_sees_a_widget_import():
    """The check above can fail: relative and absolute widget imports are both caught."""
    names = _imports(
        "from ..widget import wire\nimport traitlets\nfrom .batch import move\n",
        "actscope.engine",
    )
    assert [n for n in names if _widget_side(n)] == [
        "actscope.widget",
        "actscope.widget.wire",
        "traitlets",
    ]


@pytest.mark.slow  # a fresh interpreter
def test_mining_without_the_widget_loads_no_jupyter_modules():
    code = (
        "import sys, actscope, torch\n"
        "model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU())\n"
        "actscope.mine(model, torch.randn(10, 3), ['0'], k=2, progress=False)\n"
        "names = ('anywidget', 'traitlets', 'ipywidgets', 'IPython')\n"
        "loaded = [m for m in names if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


@pytest.mark.slow  # a fresh interpreter
def test_the_explorer_still_comes_from_one_import():
    code = "import actscope, sys; actscope.Explorer; print('anywidget' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "True"


@pytest.mark.parametrize("folder", ["src/actscope", "js/src"])
def test_no_source_file_is_a_hub(folder):
    """No module grows into a hub: about 400 lines at most (the generated ones too)."""
    limit = 420
    big = {}
    for path in (ROOT / folder).rglob("*"):
        if path.suffix not in (".py", ".ts"):
            continue
        lines = len(path.read_text().splitlines())
        if lines > limit:
            big[str(path.relative_to(ROOT))] = lines
    assert big == {}
