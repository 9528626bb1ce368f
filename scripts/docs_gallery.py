"""The gallery page: one screenshot per view, as the browser tests saved them.

The browser tests save PNGs to ``tests/.artifacts/`` with ``screenshot(page, NAME, ...)``
(``tests/browser/conftest.py``). :data:`VIEWS` picks one per view and says what it shows;
which test makes each is read from the tests themselves (:func:`makers`), so the page
names the test and a renamed screenshot is caught (``tests/test_docs.py``). Screenshots
that do not exist yet (the browser tests have not run here) are listed as missing, not
shown; ``ACTSCOPE_DOCS_GALLERY=complete`` makes a missing one an error.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / ".artifacts"
BROWSER_TESTS = ROOT / "tests" / "browser"

# (screenshot name, what it shows), in the order of the page.
VIEWS = [
    ("lab-digits", "A CNN's convolution layer in JupyterLab: one feature map per channel, the "
     "layer tree on the left, the inputs on top, the top channels on the right."),
    ("interaction-digits-sorted", "The same channels sorted by their peak activation."),
    ("lab-digits-logits", "A vector layer: the classifier's logits as bars."),
    ("lab-minilm", "A transformer's MLP layer (MiniLM): a token × neuron heatmap."),
    ("saliency-digits", "Saliency over an image: integrated gradients of the top prediction."),
    ("saliency-minilm", "Saliency over tokens, for a selected neuron."),
    ("examples-digits", "A channel's top-activating dataset examples, its histogram and "
     "quantile bands."),
    ("lm-panels", "A causal language model: outputs coloured by loss, attention heads, the "
     "logit lens and a neuron's logit effects."),
    ("lm-page-dark", "The language-model page exported with to_html, in the reader's dark mode."),
    ("interaction-dark", "JupyterLab's dark theme."),
    ("interaction-error", "A bad value: the error names the problem and the fix; the explorer "
     "keeps its last good state."),
    ("export-standalone", "An exported page (Explorer.to_html) opened from disk, no network."),
    ("demo-text", "The headless text demo page: a neuron's tokens, attention and saliency."),
    ("notebook7-digits", "Notebook 7."),
    ("host-marimo", "marimo."),
    ("host-voila", "Voilà."),
]  # fmt: skip


@dataclass(frozen=True)
class Shot:
    name: str
    caption: str
    test: str | None
    """``tests/browser/test_lab.py::test_digits`` (the test that saves it), if found."""
    path: Path

    @property
    def exists(self) -> bool:
        return self.path.is_file()


def makers() -> dict[str, str]:
    """Screenshot name (a regex for f-string names) → the test function that saves it."""
    found: dict[str, str] = {}
    for path in sorted(BROWSER_TESTS.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef) or not func.name.startswith("test_"):
                continue
            for call in ast.walk(func):
                if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "screenshot"):
                    continue
                if len(call.args) < 2:
                    continue
                pattern = _pattern(call.args[1])
                if pattern is not None:
                    found[pattern] = f"tests/browser/{path.name}::{func.name}"
    return found


def _pattern(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        parts = [
            re.escape(v.value) if isinstance(v, ast.Constant) else r"[\w-]+" for v in node.values
        ]
        return "".join(parts)
    return None


def shots() -> list[Shot]:
    tests = makers()
    out = []
    for name, caption in VIEWS:
        test = next((t for p, t in tests.items() if re.fullmatch(p, name)), None)
        out.append(Shot(name, caption, test, ARTIFACTS / f"{name}.png"))
    return out


def markdown(shown: list[Shot], missing: list[Shot]) -> str:
    lines = [
        "# Gallery",
        "",
        "One screenshot per view, each saved by a browser test that drove it in a real "
        "Chromium (`make test` takes them; `tests/.artifacts/` holds them). The caption "
        "names the test.",
        "",
    ]
    for shot in shown:
        lines += [
            f"## {shot.name}",
            "",
            shot.caption,
            "",
            f"![{shot.caption}](gallery/{shot.name}.png)",
            "",
            f"<small>Saved by `{shot.test}`.</small>",
            "",
        ]
    if missing:
        lines += [
            "## Not taken yet",
            "",
            "These browser tests have not run where this site was built:",
            "",
        ]
        lines += [f"- `{s.name}`: {s.caption} (`{s.test}`)" for s in missing]
        lines.append("")
    return "\n".join(lines)
