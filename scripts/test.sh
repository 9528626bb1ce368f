#!/usr/bin/env bash
# Every check and test, in order of speed; stops at the first failure.
# Usage: scripts/test.sh [lint]   (run `make test`, which sets up first)
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

step "ruff check";           $V/ruff check src tests benchmarks example_notebooks
step "ruff format --check";  $V/ruff format --check src tests benchmarks example_notebooks
step "mypy (src/)";          $V/mypy
step "tsc --noEmit";         (cd js && npx tsc --noEmit)
step "biome (js/)";          (cd js && npx biome check src tests build.mjs)
[[ "${1:-}" == "lint" ]] && exit 0

step "vitest";               (cd js && npx vitest run)
step "pytest (engine, widget, browser, notebooks)"
# Exit code 5 means no tests were collected: a failure, not a pass.
set +e
$V/python -m pytest
code=$?
set -e
if [[ $code == 5 ]]; then echo "pytest collected no tests" >&2; exit 1; fi
exit $code
