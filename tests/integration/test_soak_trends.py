"""Soak trends on a real run whose service really gets worse late in the run, not
through a scheduled fault (which the trends leave out) but behind the harness's back:
from 5.5 s on, every reply is 40 ms later (a latency toxic added straight to Toxiproxy)
and Redis refuses writes (maxmemory set to 1 byte). The p95 drift and the error-rate
increase are both flagged critical and the run exits 1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.lab.toxiproxy import ToxiproxyClient

from .support import running, upstream_redis, wait_started, write_scenario

pytestmark = pytest.mark.services

WORSENING = """\
name: soak-worsening
duration: 8s
lab:
  services:
    redis: {kind: redis, durability: "off"}
load:
  workload: redis.kv
  users: 2
  params: {wait: 5ms}
checks:
  trends:
    warmup: 1s
    segment: 0.25                # first quarter [1 s, 2.75 s] vs last [6.25 s, 8 s]
    p95_drift_ratio: {warning: 1.5, critical: 3}
    error_rate_increase: {warning: 0.01, critical: 0.05}
    memory_slope_mb_per_hour: {warning: 100000, critical: 1000000}  # not this test's
"""
WORSE_AT_S = 5.5


def test_latency_and_errors_growing_late_in_the_run_are_flagged_critical(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    scenario = write_scenario(tmp_path / "worsening.yaml", WORSENING)
    out = tmp_path / "run"
    with running(scenario, out, harness_env) as run:
        record = wait_started(out)
        # The run's t0 is on CLOCK_MONOTONIC, which this process shares.
        time.sleep(max(0.0, (record["t0_ns"] - time.monotonic_ns()) / 1e9 + WORSE_AT_S))
        toxiproxy = ToxiproxyClient.from_address(record["lab"]["toxiproxy"])
        toxiproxy.add_toxic("redis", "late-slowness", "latency", "downstream", {"latency": 100})
        upstream_redis(record).config_set("maxmemory", 1)
        stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stdout + stderr
    trends = json.loads((out / "result.json").read_text())["checks"]["trends"]
    drift, errors = trends["p95_drift"], trends["error_rate"]
    assert drift["level"] == "critical" and drift["ratio"] >= 3, drift
    # 100 ms: far above what a busy machine adds to the first quarter's p95 on its own.
    assert drift["last_ms"] >= 100 > drift["first_ms"], drift
    assert errors["level"] == "critical" and errors["increase"] > 0.05, errors
    assert errors["first"] < 0.01, errors
    assert {"p95_drift", "error_rate"} <= set(trends["critical"]), trends["critical"]
    assert trends["verdict"] == "fail"
