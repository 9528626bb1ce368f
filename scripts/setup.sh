#!/usr/bin/env bash
# Sets up everything actscope's demo and tests need, idempotently:
#   the front-end bundle (npm ci + esbuild), .venv with actscope installed editable and its
#   dependencies pinned by scripts/constraints.txt, and - with --browser (make test) - the
#   SAELens overlay .venv-sae and Debian's chromium.
# Usage: scripts/setup.sh [--browser]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
want_browser=0
[[ "${1:-}" == "--browser" ]] && want_browser=1

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# 1. The front end: npm packages from the lock file, then the bundle into src/actscope/static.
if [[ ! -d js/node_modules ]] || [[ js/package-lock.json -nt js/node_modules/.package-lock.json ]]; then
  step "installing npm packages (npm ci)"
  (cd js && npm ci --no-audit --no-fund --loglevel=error)
fi
step "building the widget bundle"
(cd js && npm run --silent build)

# 2. Python: reinstalled only when the pins or pyproject.toml change.
stamp="$VENV/.actscope-stamp"
digest=$(cat scripts/constraints.txt pyproject.toml | sha256sum | cut -c1-16)
if [[ ! -x "$VENV/bin/python" ]]; then
  step "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [[ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]]; then
  step "installing Python packages (pinned; torch installs from the local wheel cache)"
  pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c scripts/constraints.txt)
  # wheel: sdists built without isolation (grad-cam) need setuptools' bdist_wheel.
  "${pip[@]}" hatchling hatch-jupyter-builder wheel==0.48.0
  # Editable, without build isolation: the build hook finds the bundle built above.
  "${pip[@]}" --no-build-isolation -e ".[dev]"
  # bertviz (a benchmark baseline) asks for boto3, which wants python-dateutil<3; jupyter
  # pins 4. Its head_view needs none of boto3: install it alone.
  "${pip[@]}" --no-deps bertviz==1.4.1
  echo "$digest" > "$stamp"
fi

# 2b. SAELens, for its tests: an overlay of packages (TransformerLens 3 among them) that the
#     SAELens tests put before .venv's on PYTHONPATH; see scripts/saelens-overlay.txt.
overlay=.venv-sae
overlay_digest=$(sha256sum scripts/saelens-overlay.txt | cut -c1-16)
if [[ $want_browser == 1 && "$(cat "$overlay/.actscope-stamp" 2>/dev/null)" != "$overlay_digest" ]]; then
  step "installing the SAELens overlay ($overlay)"
  rm -rf "$overlay"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$overlay" -r scripts/saelens-overlay.txt
  echo "$overlay_digest" > "$overlay/.actscope-stamp"
fi

# 3. Chromium for the browser tests (Debian's package; Playwright cannot download one here).
if [[ $want_browser == 1 && ! -x /usr/bin/chromium ]]; then
  step "installing chromium (apt-get)"
  if [[ $(id -u) == 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# 4. What an exported notebook page loads from CDNs, for the offline export tests to serve
#    locally: the npm tarballs only (npm pack), no dependency trees.
assets=tests/.assets
if [[ $want_browser == 1 && ! -f $assets/.complete ]]; then
  step "fetching require.js, the widgets HTML manager and anywidget (npm pack)"
  rm -rf "$assets" && mkdir -p "$assets"
  (cd "$assets" && npm pack --silent requirejs@2.3.8 @jupyter-widgets/html-manager@1.0.15 anywidget@0.11.0 >/dev/null)
  for tgz in "$assets"/*.tgz; do
    name=$(basename "$tgz" .tgz)
    mkdir -p "$assets/$name" && tar -xzf "$tgz" -C "$assets/$name" --strip-components=1
  done
  touch "$assets/.complete"
fi
step "ready"
