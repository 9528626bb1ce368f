# actscope: the two commands a new user needs.
#   make demo             set up, then open the explorer on the demo model in JupyterLab
#   make demo HEADLESS=1  set up, then write the standalone page actscope-demo.html
#   make test             set up, then run every check and test (what CI runs)
#   make test-fast        lint, types, vitest and the quick Python tests (under a minute)

VENV := .venv
PY := $(VENV)/bin/python
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: setup setup-test demo test test-fast lint build bench clean

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --browser

build:
	@cd js && npm run --silent build

demo: setup
ifeq ($(HEADLESS),1)
	$(PY) -m actscope demo --html actscope-demo.html
else
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) example_notebooks/quickstart.ipynb
endif

test: setup-test
	@scripts/test.sh

test-fast: setup
	@scripts/test.sh fast

lint:
	@scripts/test.sh lint

bench: setup
	$(PY) benchmarks/explorer.py
	$(PY) benchmarks/mining.py
	$(PY) benchmarks/saliency.py
	$(PY) benchmarks/sharing.py

clean:
	rm -rf $(VENV) js/node_modules src/actscope/static tests/.artifacts
