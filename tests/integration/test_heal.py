"""The harness dies mid-fault; the journal lets ``harness heal`` undo everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.errors import ToxiproxyError
from harness.journal import Journal
from harness.lab.toxiproxy import ToxiproxyClient
from harness.watchdog import running_pid

from .support import (
    alive,
    harness,
    history,
    lab_pids,
    run_record,
    start_run,
    wait_applied,
    wait_for,
    write_scenario,
)

pytestmark = pytest.mark.services

LONG_FAULT = """
name: long-{kind_slug}
duration: 40s
load:
  workload: redis.kv
  users: 4
  spawn_rate: 50
timeline:
  - {{id: held, at: 2s, for: 30s, fault: {kind}, target: redis}}
"""


def _start(tmp_path: Path, env: dict[str, str], kind: str) -> tuple[subprocess.Popen[str], Path]:
    scenario = write_scenario(
        tmp_path / "s.yaml", LONG_FAULT.format(kind=kind, kind_slug=kind.replace(".", "-"))
    )
    out = tmp_path / "run"
    proc = start_run(scenario, out, env)
    wait_applied(out)
    return proc, out


def _journal(env: dict[str, str]) -> Journal:
    return Journal(Path(env["HARNESS_STATE_DIR"]) / "journal.jsonl")


def _clean(toxiproxy: ToxiproxyClient, record: dict[str, object]) -> bool:
    try:
        proxy = toxiproxy.get_proxy("redis")
    except ToxiproxyError:
        # The lab is stopped: its Toxiproxy server is gone with its proxies.
        return not any(alive(pid) for pid in lab_pids(record))
    return proxy.enabled and not proxy.toxics


@pytest.mark.parametrize("kind", ["network.down", "network.blackhole"])
def test_the_watchdog_heals_within_5_s_after_sigkill_of_the_harness(
    tmp_path: Path, harness_env: dict[str, str], kind: str
) -> None:
    proc, out = _start(tmp_path, harness_env, kind)
    record = run_record(out)
    toxiproxy = ToxiproxyClient.from_address(record["lab"]["toxiproxy"])
    proxy = toxiproxy.get_proxy("redis")
    assert (not proxy.enabled) if kind == "network.down" else proxy.toxics
    assert running_pid(_journal(harness_env)) is not None

    proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    proc.communicate(timeout=10)

    # Nobody calls `harness heal`: the watchdog reverts the fault and stops the lab.
    def healed() -> bool:
        state = _journal(harness_env).state()
        return not state.faults and not state.labs

    wait_for(healed, 5.0, "the watchdog to revert the fault and stop the lab")
    assert time.monotonic() - killed < 5.0
    # The load generator stops on its own (SIGTERM from the kernel when its parent died).
    wait_for(lambda: not any(alive(pid) for pid in lab_pids(record)), 5.0, "every process")
    # The watchdog logs what it did just after the journal says so.
    log_file = Path(harness_env["HARNESS_STATE_DIR"]) / "watchdog.log"
    log = wait_for(lambda: _logged(log_file, "stopped orphaned lab"), 5.0, "the watchdog's log")
    assert f"/held ({kind} on redis)" in log
    wait_for(lambda: running_pid(_journal(harness_env)) is None, 5.0, "the watchdog to exit")
    assert "nothing to heal" in harness(["heal"], harness_env).stdout


@pytest.mark.parametrize("kind", ["network.down", "network.blackhole"])
def test_heal_by_hand_when_the_watchdog_was_killed_too(
    tmp_path: Path, harness_env: dict[str, str], kind: str
) -> None:
    proc, out = _start(tmp_path, harness_env, kind)
    watchdog = running_pid(_journal(harness_env))
    assert watchdog is not None and watchdog > 0
    os.kill(watchdog, signal.SIGKILL)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    record = run_record(out)
    toxiproxy = ToxiproxyClient.from_address(record["lab"]["toxiproxy"])
    time.sleep(1.0)
    # With nothing left to heal behind it, the fault really stays.
    assert not _clean(toxiproxy, record)

    healed = harness(["heal", "--keep-labs"], harness_env)
    assert healed.returncode == 0, healed.stderr
    assert "reverted" in healed.stdout
    proxy = toxiproxy.get_proxy("redis")
    assert proxy.enabled and not proxy.toxics

    stopped = harness(["heal"], harness_env)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped orphaned lab" in stopped.stdout
    time.sleep(0.5)
    for pid in lab_pids(record):
        assert not alive(pid), f"pid {pid} survived heal"
    again = harness(["heal"], harness_env)
    assert "nothing to heal" in again.stdout


def test_sigterm_mid_fault_reverts_tears_down_and_exits_130(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    proc, out = _start(tmp_path, harness_env, "network.down")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "error"
    assert result["errors"][0] == "interrupted by SIGTERM"
    # The load ran from its start to the signal (the fault came at 2 s), not the 40 s planned.
    assert 2.0 <= result["duration_s"] < 30.0, result["duration_s"]
    ok = result["workload"]["ok"]
    assert result["workload"]["throughput_ops_s"] == pytest.approx(
        ok / result["duration_s"], rel=0.01, abs=0.1
    )
    records = history(out)
    reverts = [r for r in records if r.get("op") == "fault" and r["action"] == "revert"]
    assert reverts and reverts[-1]["type"] == "ok"
    for pid in lab_pids(run_record(out)):
        assert not alive(pid)
    assert "nothing to heal" in harness(["heal"], harness_env).stdout


def _logged(log_file: Path, line: str) -> str:
    text = log_file.read_text()
    return text if line in text else ""
