#!/usr/bin/env bash
# The release check: what someone who installs actscope gets. `make test` runs it.
#   1. python -m build: the sdist, then the wheel built from it (the way PyPI users get it)
#   2. twine check: the metadata and README render on PyPI; the files in the sdist are
#      the project's (nothing git ignores, such as test caches)
#   3. the wheel installed into a fresh virtual environment, its dependencies resolved
#      there from the pins, with no Node.js on PATH: import it, check that its version is
#      the source's __version__, make an explorer of a small model and write its page;
#      then with the demo extra, `python -m actscope demo --html` writes the digits page
# PyTorch (4 GB with its CUDA libraries) is not installed again: the fresh environment
# links torch and the packages torch needs from .venv (the pinned versions) and installs
# everything else itself.
# Usage: scripts/release_check.sh   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
start=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "release: python -m build (sdist, then the wheel from it)"
$V/python -m build --outdir "$work/dist" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
sdist=$(ls "$work"/dist/actscope-*.tar.gz)
wheel=$(ls "$work"/dist/actscope-*.whl)

step "release: twine check, and what the sdist holds"
$V/twine check --strict "$sdist" "$wheel"
$V/python - "$sdist" <<'EOF'
import subprocess, sys, tarfile
names = [n.split("/", 1)[1] for n in tarfile.open(sys.argv[1]).getnames() if "/" in n]
files = [n for n in names if not n.endswith("/")]
ignored = subprocess.run(
    ["git", "check-ignore", "--no-index", "--stdin"], input="\n".join(files),
    capture_output=True, text=True,
).stdout.split()
built = {"src/actscope/static/widget.js", "src/actscope/static/widget.css"}  # hatch artifacts
stray = sorted(set(ignored) - built)
assert not stray, f"the sdist holds files git ignores: {stray[:10]}"
for needed in ("LICENSE", "README.md", "pyproject.toml", *built):
    assert needed in files, f"the sdist lacks {needed}"
print(f"sdist: {len(files)} files, none that git ignores")
EOF

step "release: a fresh virtual environment with the wheel, no Node.js on PATH"
$V/python -m venv "$work/venv"
fresh="$work/venv/bin/python"
# torch and its own requirements, linked from .venv (see above).
$V/python - "$work/torch" "$($fresh -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" <<'EOF'
import sys
from importlib.metadata import distribution
from pathlib import Path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

links, purelib = Path(sys.argv[1]), Path(sys.argv[2])
links.mkdir()
seen, todo = {}, [("torch", ())]
while todo:
    name, extras = todo.pop()
    key = (canonicalize_name(name), tuple(sorted(extras)))
    if key in seen:
        continue
    dist = seen[key] = distribution(name)
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            todo.append((req.name, tuple(req.extras)))
tops = {f.parts[0] for d in seen.values() for f in d.files or []}
for top in sorted(tops):
    if top in ("..", "__pycache__") or top.endswith(".pth"):
        continue
    source = Path(seen[("torch", ())].locate_file(top))
    (links / top).symlink_to(source)
(purelib / "actscope-release-check-torch.pth").write_text(f"{links}\n")
print(f"linked torch and {len(seen) - 1} packages it needs from .venv")
EOF
constraints=$PWD/scripts/constraints.txt
fresh_pip() {  # pip of the fresh environment; its log only when it fails
  if ! env -i HOME="$HOME" PATH="$work/venv/bin" "$fresh" -m pip install --quiet \
      --disable-pip-version-check -c "$constraints" "$@" >"$work/pip.log" 2>&1; then
    grep -v "is ignored: it is neither" "$work/pip.log"; return 1
  fi
}
fresh_pip "$wheel"
cd "$work"
expected=$(grep -m1 -E '^__version__ *= *' "$OLDPWD/src/actscope/__init__.py" | sed -E 's/.*"(.*)".*/\1/')
env -i HOME="$HOME" PATH="$work/venv/bin" "$fresh" - "$expected" <<'EOF'
import json, re, shutil, sys
from importlib.metadata import version
from pathlib import Path

import torch
from torch import nn

import actscope

assert shutil.which("node") is None and shutil.which("npm") is None, "Node.js is on PATH"
assert "site-packages" in actscope.__file__, f"actscope imported from {actscope.__file__}"
assert actscope.__version__ == version("actscope") == sys.argv[1], (
    actscope.__version__, version("actscope"), sys.argv[1])
model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
ex = actscope.Explorer(model, torch.randn(4, 1, 8, 8), labels=list("abcd"))
ex.snapshot()
path = ex.to_html("small.html")
text = path.read_text()
state = json.loads(re.search(r'id="actscope-state">(.*?)</script>', text, re.S).group(1))
assert {i["name"] for i in state["layers_info"]} >= {"0", "1", "2", "3"}, state["layers_info"]
assert state["snapshot_data"]["$b64"], "the page holds no snapshot"
assert "mountStandalone" in text and not re.search(r'(src|href)="https?:', text)
print(f"actscope {actscope.__version__} from the wheel: {path} ({len(text):,} bytes)")
EOF
fresh_pip "$wheel[demo]"
env -i HOME="$HOME" PATH="$work/venv/bin" "$fresh" -m actscope demo --html "$work/demo.html"
env -i HOME="$HOME" PATH="$work/venv/bin" "$fresh" - "$work/demo.html" <<'EOF'
import json, re, sys
from pathlib import Path

text = Path(sys.argv[1]).read_text()
state = json.loads(re.search(r'id="actscope-state">(.*?)</script>', text, re.S).group(1))
assert state["model_info"]["name"] == "DigitsCNN", state["model_info"]
assert len(state["inputs_info"]) == 16 and state["snapshot_data"]["$b64"]
print(f"demo page: {len(text):,} bytes, {len(state['layers_info'])} layers, 16 inputs")
EOF
step "release check passed in $((SECONDS - start)) s"
