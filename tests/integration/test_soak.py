"""Soak analysis on real runs: a redis-server whose memory really grows is flagged, a
restarted one is followed to its new pid, and the S4 scenario passes end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from .support import harness, history, run_record, write_scenario

pytestmark = pytest.mark.services

# Only SETs of 16 KB values, never deleted, about 100 a second per user: redis-server's
# RSS grows by some 3 MB a second, which no warm-up or allocator slack hides.
FILLING = """\
name: soak-leak
duration: 10s
lab:
  services:
    redis: {kind: redis, durability: "off"}
load:
  workload: redis.kv
  users: 2
  params: {write_ratio: 1.0, value_size_bytes: 16384, wait: 10ms}
checks:
  trends:
    warmup: 2s
    memory_slope_mb_per_hour: {warning: 10, critical: 100}
"""

RESTARTED = """\
name: soak-restart
duration: 8s
lab:
  services:
    redis: {kind: redis, durability: "off"}
load:
  workload: redis.kv
  users: 2
  params: {wait: 5ms}
timeline:
  - {id: bounce, at: 3s, fault: process.restart, target: redis}
checks:
  trends:  # this test is about following the pid; any growth of a fresh Redis is fine
    memory_slope_mb_per_hour: {warning: 100000, critical: 1000000}
"""


def resources(run_dir: Path) -> list[dict[str, Any]]:
    return [r for r in history(run_dir) if r.get("op") == "resources"]


def resources_csv(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "resources.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_redis_memory_growing_under_writes_is_flagged_critical_and_exits_1(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    scenario = write_scenario(tmp_path / "leak.yaml", FILLING)
    proc = harness(["chaos", "run", str(scenario), "--out", str(out)], harness_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    trends = result["checks"]["trends"]
    redis = trends["memory"]["redis"]
    assert redis["slope_low_mb_per_hour"] > 100, redis
    assert redis["level"] == "critical" and "memory[redis]" in trends["critical"]
    assert trends["verdict"] == "fail" and result["status"] == "fail"
    # The growth is really there in the samples, about once a second.
    rows = [r for r in resources_csv(out) if r["service"] == "redis"]
    assert 8 <= len(rows) <= 13
    assert float(rows[-1]["rss_mb"]) - float(rows[0]["rss_mb"]) > 5
    assert "memory redis" in proc.stdout and "critical" in proc.stdout


def test_a_restarted_redis_is_sampled_under_its_new_pid(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    scenario = write_scenario(tmp_path / "restart.yaml", RESTARTED)
    proc = harness(["chaos", "run", str(scenario), "--out", str(out)], harness_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lab = run_record(out)["lab"]
    first_pid = lab["processes"]["redis"]["pid"]
    samples = resources(out)
    redis_pids = list(dict.fromkeys(s["pid"] for s in samples if s["service"] == "redis"))
    assert redis_pids[0] == first_pid and len(redis_pids) == 2, redis_pids
    restart = next(r for r in history(out) if r.get("op") == "fault" and r["action"] == "apply")
    new = [s for s in samples if s["pid"] == redis_pids[1]]
    assert len(new) >= 3 and min(s["t"] for s in new) >= restart["t_start"]
    assert new[0]["cpu_percent"] is None and new[1]["cpu_percent"] is not None
    toxiproxy = {s["pid"] for s in samples if s["service"] == "toxiproxy"}
    assert toxiproxy == {lab["toxiproxy_process"]["pid"]}
    result = json.loads((out / "result.json").read_text())
    assert result["checks"]["trends"]["memory"]["redis"]["pids"] == redis_pids


def test_soak_scenario_passes_end_to_end(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    proc = harness(["chaos", "run", "scenarios/soak.yaml", "--out", str(out)], harness_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    trends = result["checks"]["trends"]
    assert trends["verdict"] == "pass" and trends["critical"] == []
    assert trends["memory"]["redis"]["judged"] and trends["memory"]["redis"]["samples"] >= 20
    assert trends["p95_drift"]["level"] != "unknown"
    assert trends["error_rate"]["level"] == "ok"
    (slow,) = result["faults"]  # the slow spell is left out of the trends
    lo, hi = trends["excluded_s"][1]
    # excluded_s is rounded to the millisecond, the fault's times to a tenth of one.
    assert lo == pytest.approx(slow["applied_at_s"], abs=0.001)
    assert hi >= round(slow["reverted_at_s"], 3)
    assert result["checks"]["integrity"]["verdict"] == "pass"
    services = {r["service"] for r in resources_csv(out)}
    assert services == {"redis", "toxiproxy"}
    assert "trends (first vs last part of the run" in proc.stdout
