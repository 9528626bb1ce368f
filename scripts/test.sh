#!/usr/bin/env bash
# Every check and test, in order of speed; stops at the first failure.
# Usage: scripts/test.sh [lint|fast]   (run `make test` or `make test-fast`, which set up first)
#   lint  the static checks only
#   fast  the static checks, vitest, and the Python tests that need no browser, no real
#         model and no subprocess (markers browser, real_model, slow): under a minute
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
set +e
if [[ "${1:-}" == "fast" ]]; then
  step "pytest (quick tier: no browser, no real model, no subprocess)"
  $V/python -m pytest -q -m "not browser and not slow and not real_model"
else
  step "pytest (engine, widget, browser, notebooks)"
  $V/python -m pytest
fi
# Exit code 5 means no tests were collected: a failure, not a pass.
code=$?
set -e
if [[ $code == 5 ]]; then echo "pytest collected no tests" >&2; exit 1; fi
[[ $code != 0 || "${1:-}" == "fast" ]] && exit $code

step "documentation site (mkdocs build --strict: every notebook executed, the API complete)"
ACTSCOPE_DOCS_GALLERY=complete $V/mkdocs build --strict --quiet
step "release check (sdist, wheel, a fresh install)"
scripts/release_check.sh
