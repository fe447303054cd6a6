"""End-to-end chaos runs on the local lab (real redis-server, real Toxiproxy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from .support import REPO, alive, harness, history, lab_pids, run_record, wait_for, write_scenario

pytestmark = pytest.mark.services

RESULT_KEYS = {
    "scenario",
    "status",
    "started_at",
    "ended_at",
    "workload",
    "faults",
    "checks",
    "slo",
}
WORKLOAD_KEYS = {"ops", "ok", "fail", "info", "throughput_ops_s", "p50_ms", "p95_ms", "p99_ms"}
FAULT_KEYS = {
    "id",
    "kind",
    "target",
    "planned_at_s",
    "applied_at_s",
    "reverted_at_s",
    "time_to_impact_s",
    "time_to_recover_s",
    "censored",
    "availability",
}


def test_demo_scenario_passes_end_to_end_and_leaves_nothing_running(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    proc = harness(
        ["chaos", "run", "scenarios/redis-partition.yaml", "--out", str(out)], harness_env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    assert result.keys() >= RESULT_KEYS
    assert result["workload"].keys() >= WORKLOAD_KEYS
    assert result["status"] == "pass"
    assert result["workload"]["ok"] > 1000
    faults = {f["id"]: f for f in result["faults"]}
    assert set(faults) == {"partition", "slow", "blackhole"}
    for fault in faults.values():
        assert fault.keys() >= FAULT_KEYS
        assert fault["censored"] is False and fault["time_to_recover_s"] is not None
        assert abs(fault["applied_at_s"] - fault["planned_at_s"]) < 0.5
    # A partition refuses connections: the service is (almost) unavailable while it lasts.
    assert faults["partition"]["availability"] < 0.5
    assert faults["partition"]["time_to_impact_s"] is not None
    # Latency makes it slow, not unavailable.
    assert faults["slow"]["availability"] > 0.9
    assert faults["slow"]["time_to_impact_s"] is not None
    integrity = result["checks"]["integrity"]
    assert integrity["verdict"] == "pass" and integrity["acked"] > 1000
    assert integrity["lost"] == 0
    assert (out / "timeseries.csv").read_text().startswith("t_s,ok,fail,info")
    assert "scenario redis-partition: PASS" in proc.stdout
    for pid in lab_pids(run_record(out)):
        assert not alive(pid), f"pid {pid} still running after the run"


def test_redis_crash_with_appendfsync_always_loses_nothing(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    proc = harness(["chaos", "run", "scenarios/redis-crash.yaml", "--out", str(out)], harness_env)
    result = json.loads((out / "result.json").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    integrity = result["checks"]["integrity"]
    assert integrity["verdict"] == "pass"
    assert integrity["lost"] == 0 and integrity["acked"] > 1000
    crash = next(f for f in result["faults"] if f["id"] == "crash")
    assert crash["availability"] < 0.5
    assert crash["time_to_recover_s"] is not None


AOF_OFF = """
name: aof-off-kill
lab:
  services:
    redis: {kind: redis, durability: "off"}
duration: 8s
load:
  workload: redis.kv
  users: 4
  spawn_rate: 50
  params: {write_ratio: 1.0, op_timeout: 300ms}
timeline:
  - {id: kill, at: 3s, for: 1s, fault: process.kill, target: redis, params: {signal: KILL}}
checks:
  integrity: {}
slo:
  integrity: pass
"""


def test_redis_without_aof_killed_under_writes_is_reported_lost_and_exits_1(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    write_scenario(tmp_path / "aof-off.yaml", AOF_OFF)
    out = tmp_path / "run"
    # A relative run directory, as `make demo` uses (runs/<time>-<name>).
    proc = harness(["chaos", "run", "aof-off.yaml", "--out", "run"], harness_env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    integrity = result["checks"]["integrity"]
    assert result["status"] == "fail"
    assert integrity["verdict"] == "fail"
    assert integrity["lost"] > 100
    assert integrity["examples"]["lost"]
    assert "integrity" in proc.stdout and "FAIL" in proc.stdout


def test_missing_toxiproxy_binary_is_an_environment_error(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    harness_env["HARNESS_TOXIPROXY_BIN"] = str(tmp_path / "nope")
    proc = harness(
        ["chaos", "run", "scenarios/redis-partition.yaml", "--out", str(tmp_path / "run")],
        harness_env,
    )
    assert proc.returncode == 3
    assert "Toxiproxy" in proc.stderr and "Traceback" not in proc.stderr


def test_service_that_never_becomes_ready_is_named_and_exits_3(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'fake redis refusing to start' >&2\nexit 1\n")
    fake.chmod(0o755)
    harness_env["HARNESS_REDIS_SERVER_BIN"] = str(fake)
    proc = harness(
        ["chaos", "run", "scenarios/redis-partition.yaml", "--out", str(tmp_path / "run")],
        harness_env,
    )
    assert proc.returncode == 3, proc.stderr
    assert "service 'redis'" in proc.stderr
    assert "fake redis refusing to start" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_repository_scenarios_dry_run(harness_env: dict[str, str]) -> None:
    for scenario in sorted((REPO / "scenarios").glob("*.yaml")):
        proc = harness(["chaos", "run", str(scenario), "--dry-run"], harness_env)
        assert proc.returncode == 0, proc.stderr
        if scenario.stem in ("smoke", "capacity", "throughput", "burst", "soak"):
            assert "profile:" in proc.stdout  # the load suites inject no faults
            continue
        assert "apply" in proc.stdout and "revert" in proc.stdout


TAMPER = """
name: tamper
duration: 6s
load:
  workload: redis.kv
  users: 4
  spawn_rate: 50
checks:
  integrity: {}
"""


def test_keys_changed_behind_the_harness_back_are_reported_corrupted_lost_and_unexpected(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    write_scenario(tmp_path / "tamper.yaml", TAMPER)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "chaos", "run", "tamper.yaml", "--out", "run"],
        cwd=tmp_path,
        env=harness_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def acked_keys() -> list[str]:
        try:
            records = history(out)
        except FileNotFoundError:
            return []
        keys = [r["key"] for r in records if r.get("op") == "set" and r["type"] == "ok"]
        return keys if len(keys) >= 50 else []

    keys = wait_for(acked_keys, 30, "acknowledged writes")
    record = run_record(out)
    host, port = record["lab"]["services"]["redis"]["upstream"]
    # Straight to redis-server, not through the proxy: the harness cannot see this.
    direct = redis.Redis(host=host, port=port)
    corrupted, lost = keys[:3], keys[3:5]
    for key in corrupted:
        direct.set(key, b"garbage written behind the harness's back")
    direct.delete(*lost)
    intruder = f"{record['run_tag']}:intruder:1"
    direct.set(intruder, b"never written by the workload")
    direct.close()

    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stdout + stderr
    integrity = json.loads((out / "result.json").read_text())["checks"]["integrity"]
    assert integrity["verdict"] == "fail"
    assert integrity["corrupted"] == 3 and set(integrity["examples"]["corrupted"]) == set(corrupted)
    assert integrity["lost"] == 2 and set(integrity["examples"]["lost"]) == set(lost)
    assert integrity["unexpected"] == 1 and integrity["examples"]["unexpected"] == [intruder]


def test_redis_disk_full_refuses_writes_with_enospc_and_recovers_by_itself(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    proc = harness(
        ["chaos", "run", "scenarios/redis-disk-full.yaml", "--out", str(out)], harness_env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    (full,) = result["faults"]
    assert full["availability"] < 0.5  # writes refused; the 10% of reads still served
    # Redis retries the failed AOF write once a second and takes writes again when it
    # succeeds (its cron may run late on a busy machine); the windows after it count as
    # recovered within the scenario's SLO.
    assert full["first_write_ok_after_revert_s"] < 2.5
    assert full["time_to_recover_s"] is not None and full["time_to_recover_s"] < 5
    assert result["checks"]["integrity"]["lost"] == 0
    errors = {r["error"] for r in history(out) if r.get("op") == "set" and r["type"] == "fail"}
    assert errors == {
        "ResponseError: MISCONF Errors writing to the AOF file: No space left on device"
    }
    mountpoint = str(out / "lab" / "redis")
    assert mountpoint not in Path("/proc/self/mountinfo").read_text()
