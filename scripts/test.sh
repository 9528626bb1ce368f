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
step "biome (js/)";          (cd js && npx biome check src tests build.mjs)
if [[ "${1:-}" == "fast" ]]; then
  # The quick tier type-checks the front end while the tests run (its output at the end).
  tsc_log=$(mktemp)
  (cd js && npx tsc --noEmit >"$tsc_log" 2>&1) &
  tsc=$!
else
  step "tsc --noEmit";       (cd js && npx tsc --noEmit)
fi
[[ "${1:-}" == "lint" ]] && exit 0

set +e
if [[ "${1:-}" == "fast" ]]; then
  # Side by side: vitest in the background, its output shown when it ends.
  step "vitest, and pytest (quick tier: no browser, no real model, no subprocess)"
  log=$(mktemp)
  (cd js && npx vitest run >"$log" 2>&1) &
  vitest=$!
  $V/python -m pytest -q -m "not browser and not slow and not real_model"
  code=$?
  wait $vitest
  vcode=$?
  tail -n 6 "$log"
  [[ $vcode != 0 ]] && { cat "$log"; rm -f "$log"; exit $vcode; }
  rm -f "$log"
  step "tsc --noEmit (ran beside the tests)"
  wait $tsc || { cat "$tsc_log"; rm -f "$tsc_log"; exit 1; }
  rm -f "$tsc_log"
else
  step "vitest"
  (cd js && npx vitest run) || exit $?
  step "pytest (engine, widget, browser, notebooks)"
  $V/python -m pytest
  code=$?
  if [[ $code == 0 ]]; then
    step "pytest with SAELens (its overlay .venv-sae before .venv: TransformerLens 3)"
    ACTSCOPE_SAELENS=1 PYTHONPATH=.venv-sae $V/python -m pytest -q tests/saelens
    code=$?
  fi
fi
# Exit code 5 means no tests were collected: a failure, not a pass.
set -e
if [[ $code == 5 ]]; then echo "pytest collected no tests" >&2; exit 1; fi
[[ $code != 0 || "${1:-}" == "fast" ]] && exit $code

step "documentation site (mkdocs build --strict: every notebook executed, the API complete)"
ACTSCOPE_DOCS_GALLERY=complete $V/mkdocs build --strict --quiet
step "release check (sdist, wheel, a fresh install)"
scripts/release_check.sh
