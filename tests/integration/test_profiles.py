"""Load profiles on a real Redis behind the real Toxiproxy: the user counts each shape
promises, read back from the recorded series; a capacity sweep finds the knee where a
latency toxic starts; every shipped load suite runs green (shortened by overrides)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from .support import REPO, harness, history, run_record, write_scenario

pytestmark = pytest.mark.services


def run(
    tmp_path: Path, env: dict[str, str], scenario: Path, *flags: str
) -> tuple[dict[str, Any], list[tuple[float, int | None]]]:
    out = tmp_path / "run"
    proc = harness(["chaos", "run", str(scenario), "--out", str(out), *flags], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    with open(out / "timeseries.csv") as handle:
        rows = list(csv.DictReader(handle))
    users = [(float(r["t_s"]), int(r["users"]) if r["users"] else None) for r in rows]
    return result, users


def users_between(series: list[tuple[float, int | None]], start: float, end: float) -> set[int]:
    """User counts at the ends of the windows that start in [start, end)."""
    return {n for t, n in series if start <= t < end and n is not None}


def recorded_users(out: Path) -> list[tuple[float, int]]:
    t0 = run_record(out)["t0_ns"]
    return [((r["t"] - t0) / 1e9, r["count"]) for r in history(out) if r.get("op") == "users"]


PROFILE = """\
name: {name}
duration: 6s
load:
  workload: redis.kv
  users: {users}
  params: {{wait: 5ms}}
  profile: {profile}
"""


def test_ramp_up_reaches_its_users_over_the_ramp(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    text = PROFILE.format(name="ramp", users=8, profile="{shape: ramp_up, ramp: 4s}")
    result, series = run(tmp_path, harness_env, write_scenario(tmp_path / "r.yaml", text))
    assert result["workload"]["profile"] == "ramp_up"
    counts = [n for _, n in series if n is not None]
    assert counts == sorted(counts), "a ramp never loses users"
    # 2 users a second: Locust spawns them in whole-second batches, a second late at most.
    assert users_between(series, 0.5, 1.5) <= {1, 2, 3, 4}
    assert users_between(series, 2.0, 3.0) <= {3, 4, 5, 6}
    assert users_between(series, 5.0, 6.0) == {8}
    assert max(n for _, n in recorded_users(tmp_path / "run")) == 8


def test_spike_jumps_to_its_users_and_back(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    profile = "{shape: spike, base_users: 2, at: 2s, for: 2s}"
    text = PROFILE.format(name="spike", users=10, profile=profile)
    result, series = run(tmp_path, harness_env, write_scenario(tmp_path / "s.yaml", text))
    assert result["workload"]["profile"] == "spike"
    assert users_between(series, 0.5, 1.9) == {2}
    assert users_between(series, 2.6, 3.9) == {10}
    assert users_between(series, 5.0, 5.9) == {2}


CAPACITY = """\
name: knee
load:
  workload: redis.kv
  params: {wait: 2ms}
  profile: {shape: capacity, steps: [2, 4, 8], step_duration: 3s, cooldown: 1s}
thresholds:
  p95_ms: {warning: 100}
timeline:
  # From the second step on, every answer takes 300 ms more: far above the warning,
  # which is itself far above what a busy 2-core machine adds on its own (p95 29 ms
  # seen for the first step while other work stalled the load generator).
  - {at: 3500ms, for: 7500ms, fault: network.latency, params: {latency_ms: 150}}
"""


def test_capacity_sweep_finds_the_knee_where_latency_starts(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    result, series = run(tmp_path, harness_env, write_scenario(tmp_path / "k.yaml", CAPACITY))
    capacity = result["capacity"]
    first, second, _ = capacity["steps"]
    assert [s["users"] for s in capacity["steps"]] == [2, 4, 8]
    assert first["crossed"] == [] and first["p95_ms"] < 100
    assert second["crossed"] == ["p95_ms"] and second["p95_ms"] >= 300
    assert capacity["knee_users"] == 4 and capacity["safe_ceiling_users"] == 3
    # The steps really ran with their users, and nobody in the cooldowns.
    assert users_between(series, 1.5, 2.9) == {2}
    assert users_between(series, 3.5, 3.9) == {0}
    assert users_between(series, 9.5, 10.9) == {8}


SUITES = {
    # suite: flags that shorten it for the test (the files' own lengths are for CI jobs)
    "smoke": ["--duration", "4s"],
    "capacity": ["--duration", "11s", "--users", "8"],
    "throughput": ["--duration", "11s"],
    "burst": ["--duration", "9s"],
}


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_shipped_load_suite_runs_green(
    suite: str, tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    scenario = REPO / "scenarios" / f"{suite}.yaml"
    result, series = run(tmp_path, harness_env, scenario, *SUITES[suite])
    assert result["status"] == "pass"
    assert all(row["level"] != "critical" for row in result["thresholds"]), result["thresholds"]
    if suite == "capacity":
        assert [s["users"] for s in result["capacity"]["steps"]] == [1, 2, 4, 8]
    if suite == "throughput":
        steps = result["throughput"]["steps"]
        assert [s["rate"] for s in steps] == [250, 500, 1000, 2000]
        assert steps[0]["throughput_ops_s"] >= 0.8 * 250
        assert result["checks"]["delivery"]["lost"] == 0
    if suite == "burst":
        assert users_between(series, 4.0, 7.9) == {16}
        assert result["checks"]["delivery"]["verdict"] == "pass"
    if suite == "smoke":
        assert result["workload"]["fail"] == 0 and result["checks"]["integrity"]["lost"] == 0
