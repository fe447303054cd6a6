# The two commands the README promises: `make demo` and `make test`.
# Both run the idempotent set-up first (scripts/setup.sh).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export HARNESS_TOXIPROXY_BIN ?= $(CURDIR)/.bin/server

.PHONY: setup demo test test-unit lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/harness chaos run scenarios/redis-partition.yaml

lint: setup
	$(VENV)/bin/ruff check harness faults tests bench
	$(VENV)/bin/ruff format --check harness faults tests bench
	$(VENV)/bin/mypy

test: setup lint
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest -m "not services"

bench: setup
	$(PY) bench/run_all.py --write docs/benchmarks.md

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
