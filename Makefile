# The two commands the README promises: `make demo` and `make test`.
# Both run the idempotent set-up first (scripts/setup.sh).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export HARNESS_TOXIPROXY_BIN ?= $(CURDIR)/.bin/server
# The compose lab's images as `make images` builds them from local sources (no registry
# needed). Set these to the public images (see compose/docker-compose.yml) to use those.
export HARNESS_TOXIPROXY_IMAGE ?= chaos-harness/toxiproxy:2.12.0
export HARNESS_REDIS_IMAGE ?= chaos-harness/redis:7
export HARNESS_VERSITYGW_IMAGE ?= chaos-harness/versitygw:v1.7.0
export HARNESS_HTTPAPP_IMAGE ?= chaos-harness/httpapp:local

.PHONY: setup compose-setup images demo test test-unit lint bench clean

setup:
	@bash scripts/setup.sh

# A docker engine (Debian docker.io, dockerd started), compose v2, the lab's images.
compose-setup: setup
	@bash scripts/docker.sh >/dev/null

images:
	@bash compose/images/build.sh >/dev/null

demo: setup
	$(VENV)/bin/harness chaos run scenarios/redis-partition.yaml

lint: setup
	$(VENV)/bin/ruff check harness faults tests bench
	$(VENV)/bin/ruff format --check harness faults tests bench
	$(VENV)/bin/mypy

# The compose lab's set-up runs in the background while the tests that need no docker
# run (scripts/test.sh).
test: setup lint
	@bash scripts/test.sh

test-unit: setup
	$(PY) -m pytest -m "not services"

bench: setup
	$(PY) bench/run_all.py --write docs/benchmarks.md

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
