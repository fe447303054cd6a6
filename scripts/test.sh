#!/usr/bin/env bash
# The whole test suite (`make test`, after set-up and lint).
#
# The compose lab's set-up (scripts/docker.sh: a docker engine, compose v2 built with
# `go install`, the lab's images) takes minutes on a new machine and nothing once done.
# It runs in the background at the lowest CPU priority while the tests that need no
# docker run (they spend much of their time waiting on their scenarios' clocks), then
# the compose lab's tests (marker `docker`) run once it has finished.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

log="$(mktemp -t chaos-harness-compose-setup.XXXXXX)"
nice -n 19 bash scripts/docker.sh >"$log" 2>&1 &
setup_pid=$!
# The background set-up must not outlive an interrupted test run.
trap 'kill "$setup_pid" 2>/dev/null' INT TERM

status=0
"$PY" -m pytest -m "not docker" "$@" || status=$?

if ! wait "$setup_pid"; then
    cat "$log" >&2
    echo "test: the compose lab's set-up (scripts/docker.sh) failed; its tests did not run" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
"$PY" -m pytest -m docker "$@" || status=$?
exit "$status"
