"""`harness gameday` driven through its prompts: a real run on a real lab, the operator's
answers written to the command's stdin as each question appears on its stderr."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.journal import Journal

from .support import REPO, harness, write_scenario

pytestmark = pytest.mark.services

SCENARIO = """\
name: gameday-test
seed: 3
lab:
  services:
    redis: {kind: redis, durability: everysec}
duration: 6s
load:
  workload: redis.kv
  users: 3
  spawn_rate: 10
  params: {wait: 5ms, op_timeout: 300ms}
timeline:
  - {id: cut, at: 1.5s, for: 1s, fault: network.down, target: redis}
  - {id: slow, at: 3s, for: 1s, fault: network.latency, target: redis, params: {latency_ms: 20}}
  - {id: cut2, at: 4s, for: 1s, fault: network.down, target: redis}
checks:
  integrity: {}
slo:
  time_to_recover_s_max: 10
"""


class Operator:
    """The gameday command in a subprocess, and a person at its prompts."""

    def __init__(self, scenario: Path, out: Path, env: dict[str, str], *extra: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness",
                "gameday",
                str(scenario),
                "--out",
                str(out),
                "--no-progress",
                "--max-wait",
                "60s",
                *extra,
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.stdout = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def expect(self, text: str, timeout_s: float = 60.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return
        pytest.fail(f"no {text!r} on stderr; saw: {''.join(self.seen)[-2000:]}")

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout_s: float = 90.0) -> int:
        self.stdout, _ = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode


def _result(out: Path) -> dict[str, Any]:
    return json.loads((out / "result.json").read_text())


def test_go_after_a_pause_skip_and_notes_are_in_the_result(
    harness_env: dict[str, str], tmp_path: Path, no_leftovers: None
) -> None:
    scenario = write_scenario(tmp_path / "gameday.yaml", SCENARIO)
    out = tmp_path / "run"
    op = Operator(scenario, out, harness_env)
    op.expect("fault cut network.down -> redis at 1.5s")
    op.say("baseline looks steady")
    op.expect("noted at")
    time.sleep(1.0)  # the operator thinks: everything later moves by about a second
    op.say("g")
    op.expect("fault slow network.latency")
    op.say("s")
    op.expect("fault cut2 network.down")
    op.say("go")
    assert op.finish() in (0, 1), "".join(op.seen)
    result = _result(out)
    faults = {f["id"]: f for f in result["faults"]}
    assert [f["id"] for f in result["faults"]] == ["cut", "slow", "cut2"]
    # The skipped fault is in the table, neither applied nor reverted, with no SLO row.
    slow = faults["slow"]
    assert slow["skipped"] == "by the operator"
    assert slow["applied_at_s"] is None and slow["reverted_at_s"] is None
    assert "skipped (by the operator)" in (out / "summary.md").read_text()
    slo_rows = {row["name"] for row in result["slo"]}
    assert {"time_to_recover_s[cut]", "time_to_recover_s[cut2]"} <= slo_rows
    assert "time_to_recover_s[slow]" not in slo_rows
    assert faults["cut"]["applied_at_s"] >= 2.4
    # `for: 1s` from the go; applied_at_s is when the apply (journal fsync included) ended.
    assert 0.5 <= faults["cut"]["reverted_at_s"] - faults["cut"]["applied_at_s"] <= 2.0
    assert faults["cut2"]["applied_at_s"] >= 4.9
    assert result["duration_s"] >= 6.9  # the load lasted as long as the wait
    notes = result["operator_notes"]
    assert [(n["fault_id"], n["decision"], n["note"]) for n in notes] == [
        ("cut", "note", "baseline looks steady"),
        ("cut", "go", ""),
        ("slow", "skip", ""),
        ("cut2", "go", ""),
    ]
    assert all(n["at"] and n["t_s"] > 1.0 for n in notes)
    assert result["checks"]["integrity"]["lost"] == 0
    # The notes are in the summary printed at the end and in the run's report.
    assert "operator notes" in op.stdout and "baseline looks steady" in op.stdout
    assert "baseline looks steady" in (out / "report.html").read_text()


def test_abort_reverts_stops_the_lab_and_exits_130(
    harness_env: dict[str, str], tmp_path: Path, no_leftovers: None
) -> None:
    scenario = write_scenario(tmp_path / "gameday.yaml", SCENARIO)
    out = tmp_path / "run"
    op = Operator(scenario, out, harness_env)
    op.expect("fault cut network.down")
    op.say("g")
    op.expect("fault slow network.latency")
    started = time.monotonic()
    op.say("a")
    assert op.finish() == 130, "".join(op.seen)
    assert time.monotonic() - started < 30  # the load was stopped, not run to its end
    result = _result(out)
    assert result["status"] == "error"
    assert result["errors"][0] == "aborted by the operator at fault slow (network.latency)"
    assert [n["decision"] for n in result["operator_notes"]] == ["go", "abort"]
    skipped = {f["id"]: f.get("skipped") for f in result["faults"]}
    assert skipped == {
        "cut": None,
        "slow": "the operator aborted the run",
        "cut2": "the run ended first",
    }
    assert Journal(tmp_path / "state" / "journal.jsonl").state().faults == {}


def test_a_game_day_on_a_running_lab_leaves_it_up(
    harness_env: dict[str, str], tmp_path: Path, no_leftovers: None
) -> None:
    scenario = write_scenario(tmp_path / "gameday.yaml", SCENARIO)
    up = harness(["lab", "up", "--scenario", str(scenario), "--json"], harness_env)
    assert up.returncode == 0, up.stdout + up.stderr
    lab_id = json.loads(up.stdout)["lab_id"]
    try:
        out = tmp_path / "run"
        op = Operator(scenario, out, harness_env, "--lab", "attach")
        for fault_id in ("cut", "slow", "cut2"):
            op.expect(f"fault {fault_id} ")
            op.say("g")
        assert op.finish() in (0, 1), "".join(op.seen)
        result = _result(out)
        assert [f["applied_at_s"] is not None for f in result["faults"]] == [True] * 3
        assert result["checks"]["integrity"]["lost"] == 0
        # The lab the team brought up is still theirs, faults reverted.
        status = harness(["lab", "status", "--json"], harness_env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["lab_id"] == lab_id
        assert Journal(tmp_path / "state" / "journal.jsonl").state().faults == {}
    finally:
        assert harness(["lab", "down"], harness_env).returncode == 0
