# FluxLoop developer commands. Everything runs in ./.venv, created on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: demo test test-interop test-ray lint typecheck semconv semconv-check schema schema-check unit bench clean

$(STAMP): pyproject.toml semconv/pyproject.toml exporters/pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("FluxLoop needs Python 3.11+, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) --upgrade pip
	$(PY) -m pip install $(PIP_QUIET) -e semconv -e exporters -e '.[dev]'
	touch $(STAMP)

# the demo needs only the runtime and what its examples import (the `demo` extra), not the
# development set; a venv that has the development set already has all of it
$(DEMO_STAMP): pyproject.toml semconv/pyproject.toml exporters/pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("FluxLoop needs Python 3.11+, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -f $(STAMP) -a $(STAMP) -nt pyproject.toml || $(PY) -m pip install $(PIP_QUIET) -e semconv -e exporters -e '.[demo]'
	touch $(DEMO_STAMP)

## demo: example agents traced to JSONL files, then a whole experiment (generate, run, parse, evaluate)
demo: $(DEMO_STAMP)
	$(PY) examples/demo.py

## test: the whole suite: ruff, mypy --strict, the semconv staleness check, pytest
test: lint typecheck semconv-check schema-check unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

semconv-check: $(STAMP)
	$(PY) semconv/generate.py --check

## schema: rewrite docs/fluxloop-config.schema.json from src/fluxloop/project/schema.py
schema: $(STAMP)
	$(VENV)/bin/fluxloop config schema --output docs/fluxloop-config.schema.json

schema-check: $(STAMP)
	$(VENV)/bin/fluxloop config schema | diff -q - docs/fluxloop-config.schema.json > /dev/null || { echo "docs/fluxloop-config.schema.json is stale: run make schema"; exit 1; }

unit: $(STAMP)
	$(PY) -m pytest -n 2 -q

## test-interop: real third-party software in its own venvs, made on first run: FluxLoop's spans in
## Arize Phoenix (.venv-phoenix); OpenInference's LangChain spans into the collector (.venv-openinference)
test-interop: $(STAMP)
	$(PY) -m pytest -m interop -n 0 -q tests/interop

## test-ray: the Ray executor's tests on a real local two-node cluster (installs the ray extra)
test-ray: $(STAMP)
	$(PY) -c 'import ray' 2>/dev/null || $(PY) -m pip install $(PIP_QUIET) -e '.[ray]'
	$(PY) -m pytest -n 0 -q -m ray

## semconv: regenerate fluxloop_semconv from semconv/registry
semconv: $(STAMP)
	$(PY) semconv/generate.py

## bench: the benchmarks (ratios to a baseline measured in the same process)
bench: $(STAMP)
	$(PY) bench/run.py
	$(PY) bench/bench_serialize.py
	$(PY) bench/bench_runner.py
	$(PY) bench/bench_collector.py
	test ! -f bench/bench_parse.py || $(PY) bench/bench_parse.py
	$(PY) bench/bench_ui.py
	$(PY) bench/bench_cassette.py

clean:
	rm -rf $(VENV) .venv-phoenix demo-output traces
