"""``load.processes`` end to end on a real Redis behind the real Toxiproxy: several
load-generator processes share the users, every record of each arrives in the history
under its own prefix, the checkers see all of them, and one generator dying stops the
others and makes the run an error."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .support import (
    alive,
    harness,
    history,
    run_record,
    start_run,
    started_run_record,
    wait_for,
    write_scenario,
)

pytestmark = pytest.mark.services

KV = """\
name: kv-processes
seed: 3
duration: {duration}
load:
  workload: redis.kv
  users: 5
  spawn_rate: 50
  processes: 2
  params: {{wait: 2ms}}
checks:
  integrity: {{}}
"""


def run_passing(
    tmp_path: Path, env: dict[str, str], text: str
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Run the scenario ``text``; it must pass (exit 0)."""
    out = tmp_path / "run"
    scenario = write_scenario(tmp_path / "scenario.yaml", text)
    proc = harness(["chaos", "run", str(scenario), "--out", str(out)], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


def result_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "result.json").read_text())


def test_two_processes_share_the_users_and_every_record_of_both_is_checked(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out, proc = run_passing(tmp_path, harness_env, KV.format(duration="4s"))
    result = result_of(out)
    rows = result["workload"]["processes"]
    assert [r["generator"] for r in rows] == ["g1", "g2"]
    assert sum(r["users"] for r in rows) == 5
    assert sum(r["peak_users"] for r in rows) == 5
    records = history(out)
    for row in rows:
        # What each process says it wrote is exactly what the history holds for it.
        assert row["ok"] > 100 and row["records"] == row["records_written"], row
    by_prefix = {p.split("/")[0] for r in records if "/" in (p := r.get("process", ""))}
    assert by_prefix == {"g1", "g2"}
    sets = [r for r in records if r.get("op") == "set" and r["type"] == "ok"]
    integrity = result["checks"]["integrity"]
    # The final read checked the keys of both processes: every acknowledged set.
    assert integrity["verdict"] == "pass" and integrity["acked"] == len(sets)
    assert {r["process"].split("/")[0] for r in sets} == {"g1", "g2"}
    assert result["workload"]["ok"] == sum(r["ok"] for r in rows)
    pids = run_record(out)["loadgen_pids"]
    assert len(pids) == 2 and not any(alive(p) for p in pids)
    assert (out / "loadgen-g1.log").exists() and (out / "loadgen-g2.log").exists()
    assert "load generators: g1 3 users" in proc.stdout


STREAMS = """\
name: streams-processes
seed: 5
duration: 5s
load:
  workload: redis.streams
  users: 8
  spawn_rate: 100
  processes: 2
timeline:
  - {at: 2s, for: 1s, fault: network.down, target: redis}
checks:
  delivery: {drain_deadline: 10s}
slo:
  delivery: pass
"""


def test_a_stream_fed_and_read_by_two_processes_delivers_every_message(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out, _ = run_passing(tmp_path, harness_env, STREAMS)
    delivery = result_of(out)["checks"]["delivery"]
    assert delivery["verdict"] == "pass", delivery
    assert (delivery["lost"], delivery["unexpected"], delivery["corrupted"]) == (0, 0, 0)
    records = history(out)
    producers = {r["producer"] for r in records if r.get("op") == "send"}
    # Receipts by the consumers (the harness's drain after the load reads as "drain").
    receipts = [r for r in records if r.get("op") == "recv" and r["process"] != "drain"]
    consumers = {r["process"] for r in receipts}
    # Producers and consumers of both processes, with names that never collide.
    assert {p.split("/")[0] for p in producers} == {"g1", "g2"}
    assert {c.split("/")[0] for c in consumers} == {"g1", "g2"}
    # Messages crossed between processes: a consumer of one read a producer of the other.
    crossed = [r for r in receipts if r["process"].split("/")[0] != r["producer"].split("/")[0]]
    assert crossed


def test_one_process_killed_stops_the_others_and_the_run_is_an_error(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    scenario = write_scenario(tmp_path / "kv.yaml", KV.format(duration="8s"))
    proc = start_run(scenario, out, harness_env)
    try:
        record = wait_for(lambda: started_run_record(out), 60, "the run to start")
        g1, g2 = record["loadgen_pids"]
        wait_for(
            lambda: any(r.get("process", "").startswith("g2/") for r in history(out)), 30, "g2"
        )
        os.kill(g2, signal.SIGKILL)
        killed = time.monotonic()
        # g1 is stopped at once, not at the load's planned end (8 s after the start).
        wait_for(lambda: not alive(g1), 10, "g1 to be stopped")
        assert time.monotonic() - killed < 4.0
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, stdout + stderr
    result = result_of(out)
    assert result["status"] == "error"
    errors = "\n".join(result["errors"])
    assert "the load generator g2 exited before the end of the load" in errors
    assert "load generator g1 was stopped: g2 had exited" in errors


def _has_records_of(prefix: str, out: Path) -> bool:
    return any(r.get("process", "").startswith(prefix) for r in history(out))


RAMP = """\
name: ramp-processes
duration: 4s
load:
  workload: redis.kv
  users: 6
  processes: 2
  params: {wait: 5ms}
  profile: {shape: ramp_up, ramp: 2s}
"""


def test_a_ramp_split_across_two_processes_reaches_the_scenarios_user_count(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out, _ = run_passing(tmp_path, harness_env, RAMP)
    rows = result_of(out)["workload"]["processes"]
    assert [(r["users"], r["peak_users"]) for r in rows] == [(3, 3), (3, 3)]
    with open(out / "timeseries.csv", newline="") as handle:
        users = [int(row["users"]) for row in csv.DictReader(handle) if row["users"]]
    # The column sums the processes: it climbs, and holds the whole count after the ramp.
    assert users[0] < 6 and users[-1] == 6
