"""The README's Python examples run as written, one after another, as a reader would paste them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def offline(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` run in ``cwd`` with the Hugging Face hub offline, its output kept."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        command, check=False, cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


@pytest.mark.slow  # a subprocess running every example, the language model's too
def test_readme_python_runs_in_order(tmp_path):
    blocks = python_blocks()
    assert len(blocks) >= 5, "the README lost its examples"
    # A bare name on a line (``ex`` to show the widget) is fine in a script too.
    script = "\n".join(blocks) + "\nprint('README OK')\n"
    done = offline([sys.executable, "-c", script], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "README OK" in done.stdout
    for written in ("digits.html", "explorer.html", "mlp.actscope"):
        assert (tmp_path / written).stat().st_size > 0, written


@pytest.mark.slow  # two processes loading MiniLM
def test_readme_torchrun_script_runs_under_torchrun(tmp_path):
    """The README's ``mine_mlp.py`` (a ``py`` block: it needs torchrun, so it is not part
    of the script above) runs as written on 2 ranks, on fewer texts."""
    from actscope.engine.mining import ActivationIndex

    blocks = re.findall(r"```py\n(# mine_mlp\.py\n.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1, "the README lost its torchrun example"
    assert "corpus(2000)" in blocks[0]
    (tmp_path / "mine_mlp.py").write_text(blocks[0].replace("corpus(2000)", "corpus(64)"))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    done = offline([*command, "--nproc-per-node=2", "mine_mlp.py"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    index = ActivationIndex.load(tmp_path / "mlp.actscope")
    assert index.n_examples == 64  # both ranks' shares, merged
