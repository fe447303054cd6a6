"""The harness dies mid-fault; the journal lets ``harness heal`` undo everything."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.lab.toxiproxy import ToxiproxyClient

from .support import (
    alive,
    harness,
    history,
    lab_pids,
    run_record,
    start_run,
    wait_applied,
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


@pytest.mark.parametrize("kind", ["network.down", "network.blackhole"])
def test_heal_after_sigkill_of_the_harness_leaves_no_fault_and_no_process(
    tmp_path: Path, harness_env: dict[str, str], kind: str
) -> None:
    proc, out = _start(tmp_path, harness_env, kind)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    record = run_record(out)
    toxiproxy = ToxiproxyClient.from_address(record["lab"]["toxiproxy"])
    proxy = toxiproxy.get_proxy("redis")
    # The fault really is still there: without heal it would stay.
    assert (not proxy.enabled) if kind == "network.down" else proxy.toxics

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
    records = history(out)
    reverts = [r for r in records if r.get("op") == "fault" and r["action"] == "revert"]
    assert reverts and reverts[-1]["type"] == "ok"
    for pid in lab_pids(run_record(out)):
        assert not alive(pid)
    assert "nothing to heal" in harness(["heal"], harness_env).stdout
