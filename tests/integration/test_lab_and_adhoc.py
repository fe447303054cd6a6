"""The persistent lab and faults applied by hand: ``harness lab up|status|down``,
``harness fault apply|list|revert`` and ``chaos run --lab attach``, on real services."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.journal import Journal
from harness.lab.toxiproxy import ToxiproxyClient
from harness.watchdog import running_pid

from .support import REPO, alive, harness, wait_for, write_scenario

pytestmark = pytest.mark.services


def _ok(args: list[str], env: dict[str, str]) -> str:
    done = harness(args, env, timeout_s=60)
    assert done.returncode == 0, f"harness {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _status(env: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(_ok(["lab", "status", "--json"], env)))


def _ping(address: str, timeout_s: float = 1.0) -> bytes:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        return sock.recv(64)


def _journal(env: dict[str, str]) -> Journal:
    return Journal(Path(env["HARNESS_STATE_DIR"]) / "journal.jsonl")


@pytest.fixture
def lab(harness_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    _ok(["lab", "up"], harness_env)
    try:
        yield _status(harness_env)
    finally:
        harness(["lab", "down"], harness_env)


def test_lab_up_status_and_down(harness_env: dict[str, str], tmp_path: Path) -> None:
    up = _ok(["lab", "up"], harness_env)
    assert "lab up" in up
    state = json.loads((tmp_path / "state" / "lab.json").read_text())
    pids = [state["toxiproxy_process"]["pid"], state["processes"]["redis"]["pid"]]
    status = _status(harness_env)
    assert status["up"] and status["services"]["redis"]["proxy_enabled"]
    assert _ping(status["services"]["redis"]["client"]).startswith(b"+PONG")
    # A second `lab up` finds it and starts nothing.
    assert "already up" in _ok(["lab", "up"], harness_env)
    assert _status(harness_env)["lab_id"] == status["lab_id"]

    assert "stopped" in _ok(["lab", "down"], harness_env)
    wait_for(lambda: not any(alive(pid) for pid in pids), 5, "the lab processes to exit")
    gone = harness(["lab", "status"], harness_env)
    assert gone.returncode == 1 and "no lab is up" in gone.stdout
    assert not (tmp_path / "state" / "lab.json").exists()


def test_a_fault_with_for_expires_although_nothing_runs(
    harness_env: dict[str, str], lab: dict[str, Any]
) -> None:
    applied = _ok(
        ["fault", "apply", "network.latency", "--target", "redis", "--for", "8s", "latency_ms=80"],
        harness_env,
    )
    assert "applied f-" in applied
    toxiproxy = ToxiproxyClient.from_address(lab["toxiproxy"])
    assert toxiproxy.get_proxy("redis").toxics
    start = time.monotonic()
    _ping(lab["services"]["redis"]["client"])
    assert time.monotonic() - start >= 0.08  # the latency is really there
    listed = json.loads(_ok(["fault", "list", "--json"], harness_env))
    assert [f["kind"] for f in listed] == ["network.latency"]
    # 8 s leaves room for two command start-ups and a ping on a busy machine (with 1 s
    # the fault had once expired before `fault list` ran).
    assert listed[0]["by"] == "hand" and 0 < listed[0]["expires_in_s"] <= 8.0
    # `fault apply` has exited; the watchdog reverts at expiry: the toxic first, then
    # the journal record.
    wait_for(lambda: not toxiproxy.get_proxy("redis").toxics, 12.0, "the fault to expire")
    wait_for(lambda: not _journal(harness_env).state().faults, 5.0, "the journal to say so")
    assert json.loads(_ok(["fault", "list", "--json"], harness_env)) == []
    wait_for(lambda: running_pid(_journal(harness_env)) is None, 3.0, "the watchdog to exit")


def test_apply_list_and_revert_by_id(harness_env: dict[str, str], lab: dict[str, Any]) -> None:
    client = lab["services"]["redis"]["client"]
    out = _ok(["fault", "apply", "network.down", "-t", "redis"], harness_env)
    fault_id = out.split()[1].rstrip(":")
    with pytest.raises(ConnectionRefusedError):
        _ping(client)
    # The same exclusive fault cannot be stacked on the same service.
    again = harness(["fault", "apply", "network.down"], harness_env)
    assert again.returncode == 2 and fault_id in again.stderr
    assert fault_id in _ok(["fault", "list"], harness_env)
    time.sleep(1.0)  # no --for: it stays, and the watchdog leaves it alone
    with pytest.raises(ConnectionRefusedError):
        _ping(client)
    assert f"reverted {fault_id}" in _ok(["fault", "revert", fault_id], harness_env)
    assert _ping(client).startswith(b"+PONG")
    assert "no active faults" in _ok(["fault", "list"], harness_env)


def test_lab_down_reverts_faults_applied_by_hand(
    harness_env: dict[str, str], lab: dict[str, Any]
) -> None:
    _ok(["fault", "apply", "network.down"], harness_env)
    _ok(["fault", "apply", "process.pause"], harness_env)
    redis_pid = int(_status(harness_env)["services"]["redis"]["process"].split()[1])
    assert psutil.Process(redis_pid).status() == psutil.STATUS_STOPPED
    down = _ok(["lab", "down"], harness_env)
    assert down.count("reverted") == 2
    wait_for(lambda: not alive(redis_pid), 5, "redis to stop")
    assert _journal(harness_env).state().faults == {}


FLAP_ARGS = ["--for", "60s", "--wait", "period_s=0.2"]


def test_wait_holds_the_fault_in_the_foreground_and_sigkill_still_reverts(
    harness_env: dict[str, str], lab: dict[str, Any]
) -> None:
    toxiproxy = ToxiproxyClient.from_address(lab["toxiproxy"])
    held = subprocess.Popen(
        [sys.executable, "-m", "harness", "fault", "apply", "network.flap", *FLAP_ARGS],
        cwd=REPO,
        env=harness_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: _journal(harness_env).state().faults, 15, "the flap to be applied")
    held.send_signal(signal.SIGKILL)
    held.communicate(timeout=10)

    def clean() -> bool:
        return not _journal(harness_env).state().faults and toxiproxy.get_proxy("redis").enabled

    wait_for(clean, 5.0, "the watchdog to revert the flap of a killed `fault apply --wait`")
    time.sleep(0.5)  # the flapping thread died with its process: it stays enabled
    assert toxiproxy.get_proxy("redis").enabled


def test_chaos_run_attaches_to_the_running_lab_and_leaves_it_up(
    harness_env: dict[str, str], lab: dict[str, Any], tmp_path: Path
) -> None:
    scenario = write_scenario(
        tmp_path / "attach.yaml",
        """
name: attach
duration: 4s
load: {workload: redis.kv, users: 2, spawn_rate: 50}
timeline:
  - {at: 1s, for: 1s, fault: network.latency, params: {latency_ms: 20}}
checks: {integrity: {}}
""",
    )
    out = tmp_path / "run"
    done = harness(
        ["chaos", "run", str(scenario), "--lab", "attach", "--out", str(out)], harness_env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["checks"]["integrity"]["verdict"] == "pass"
    after = _status(harness_env)
    assert after["lab_id"] == lab["lab_id"] and after["up"]
    assert after["services"]["redis"]["toxics"] == [] and after["faults"] == []


def test_attach_checks_the_scenario_against_the_running_lab(
    harness_env: dict[str, str], lab: dict[str, Any], tmp_path: Path
) -> None:
    scenario = write_scenario(
        tmp_path / "other.yaml",
        """
name: other
duration: 4s
lab: {services: {cache: {kind: redis}}}
load: {workload: redis.kv, target: cache}
""",
    )
    done = harness(["chaos", "run", str(scenario), "--lab", "attach"], harness_env)
    assert done.returncode == 2
    assert "no lab service named 'cache'" in done.stderr and "running lab" in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["fault", "apply", "network.nope"], 2, "unknown fault kind 'network.nope'"),
        (["fault", "apply", "network.latency", "latency_ms=fast"], 2, "latency_ms"),
        (["fault", "apply", "network.latency", "-t", "db"], 2, "no service 'db'"),
        (["fault", "apply", "network.latency", "oops"], 2, "expected key=value"),
        (["fault", "apply", "network.latency", "--for", "soon"], 2, "--for"),
        (["fault", "apply", "network.flap", "--for", "2s"], 2, "--wait"),
        (["fault", "apply", "process.kill", "restart_after=1s"], 2, "--wait"),
        (["fault", "revert", "f-000000"], 2, "no active fault"),
        (["fault", "revert"], 2, "--all"),
    ],
)
def test_bad_fault_commands_are_explained_with_exit_2(
    harness_env: dict[str, str], lab: dict[str, Any], args: list[str], code: int, message: str
) -> None:
    done = harness(args, harness_env)
    assert done.returncode == code, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_fault_apply_without_a_lab_exits_3(harness_env: dict[str, str]) -> None:
    done = harness(["fault", "apply", "network.down"], harness_env)
    assert done.returncode == 3
    assert "no lab is up" in done.stderr
