# actscope: the two commands a new user needs.
#   make demo             set up, then open the explorer on the demo model in JupyterLab
#   make demo HEADLESS=1  set up, then write the standalone page actscope-demo.html
#   make demo DEMO=lm     the same on the tiny language model (with HEADLESS=1 too)
#   make test             set up, then run every check and test (what CI runs)
#   make test-fast        lint, types, vitest and the quick Python tests (under a minute)
#   make docs             build the documentation site into site/ (open site/index.html)

VENV := .venv
PY := $(VENV)/bin/python
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: setup setup-test demo test test-fast lint build bench docs clean

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --browser

build:
	@cd js && npm run --silent build

# DEMO=lm: the tiny language model (its notebook, or its page) instead of the digits CNN.
DEMO_FLAG := $(if $(filter lm,$(DEMO)),--lm)
DEMO_NOTEBOOK := $(if $(filter lm,$(DEMO)),language_model,quickstart)

demo: setup
ifeq ($(HEADLESS),1)
	$(PY) -m actscope demo $(DEMO_FLAG) --html actscope-demo.html
else
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) example_notebooks/$(DEMO_NOTEBOOK).ipynb
endif

test: setup-test
	@scripts/test.sh

test-fast: setup
	@scripts/test.sh fast

lint:
	@scripts/test.sh lint

docs: setup
	$(VENV)/bin/mkdocs build --strict

bench: setup
	$(PY) benchmarks/explorer.py
	$(PY) benchmarks/mining.py
	$(PY) benchmarks/saliency.py
	$(PY) benchmarks/sharing.py
	$(PY) benchmarks/language_model.py
	$(PY) benchmarks/interventions.py

clean:
	rm -rf $(VENV) .venv-sae js/node_modules src/actscope/static tests/.artifacts site build
