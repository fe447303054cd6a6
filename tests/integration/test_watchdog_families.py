"""For each fault family: the harness is killed with SIGKILL mid-fault and, with no
command run after it, the watchdog undoes the fault within 5 s.

The run is attached to a persistent lab (``harness lab up`` + ``chaos run --lab
attach``) so the lab outlives the harness and the fault's own revert is what is
checked: the proxy enabled with no toxic, the process running and not stopped, ... The
effect is asserted while the fault holds, too, so each check can fail.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.journal import Journal
from harness.lab import blkio, disk
from harness.lab.local import LocalLab, redis_ping

from .support import REPO, harness, history, wait_for, write_scenario

pytestmark = pytest.mark.services

HEAL_WITHIN_S = 5.0


@dataclass(frozen=True)
class Case:
    kind: str
    params: str
    # True while the fault is in effect on the lab.
    in_effect: Callable[[LocalLab], bool]
    lab: str = "{redis: {durability: always}}"


def _proxy(lab: LocalLab) -> Any:
    assert lab.toxiproxy is not None
    return lab.toxiproxy.get_proxy("redis")


def _proc_status(lab: LocalLab) -> str | None:
    proc = lab.processes["redis"].process()
    return None if proc is None else proc.status()


def _ballast(lab: LocalLab) -> bool:
    return any(Path(lab.disk("redis").mountpoint).glob(".chaos-ballast-*"))


def _read_only(lab: LocalLab) -> bool:
    entry = disk.mount_at(lab.disk("redis").mountpoint)
    return entry is not None and entry.read_only


def _replies_fail(lab: LocalLab) -> bool:
    # With libfiu failing every write(), Redis cannot even send PONG.
    upstream = lab.services["redis"].upstream
    try:
        return not redis_ping(upstream.host, upstream.port, timeout_s=1.0)
    except OSError:
        return True


def _throttled(lab: LocalLab) -> bool:
    pid, root = lab.service_pid("redis"), blkio.hierarchy()
    return pid is not None and root is not None and blkio.cgroup_of(pid, root) != root


CASES = [
    Case("network.down", "{}", lambda lab: not _proxy(lab).enabled),
    Case("network.latency", "{latency_ms: 100}", lambda lab: bool(_proxy(lab).toxics)),
    Case("network.blackhole", "{}", lambda lab: bool(_proxy(lab).toxics)),
    Case("process.pause", "{}", lambda lab: _proc_status(lab) == psutil.STATUS_STOPPED),
    Case("process.stop", "{}", lambda lab: _proc_status(lab) is None),
    Case("process.kill", "{restart_after: 25s}", lambda lab: _proc_status(lab) is None),
    Case("disk.fill", "{}", _ballast, "{redis: {disk: {size: 16MiB}}}"),
    Case("disk.readonly", "{}", _read_only, "{redis: {durability: rdb, disk: {size: 16MiB}}}"),
    Case(
        "disk.io_error",
        "{ops: write}",
        _replies_fail,
        "{redis: {disk: {size: 16MiB, io_errors: true}}}",
    ),
    Case("disk.slow", "{}", _throttled, "{redis: {durability: always, disk: {size: 16MiB}}}"),
]

SCENARIO = """
name: held-{slug}
duration: 40s
lab: {{services: {lab}}}
load: {{workload: redis.kv, users: 2, spawn_rate: 50}}
timeline:
  - {{id: held, at: 1s, for: 30s, fault: {kind}, target: redis, params: {params}}}
"""


def _lab(env: dict[str, str]) -> LocalLab:
    journal = Journal(Path(env["HARNESS_STATE_DIR"]) / "journal.jsonl")
    from harness.labctl import current_lab

    lab = current_lab(journal)
    assert lab is not None
    return lab


@pytest.fixture
def attached(
    request: pytest.FixtureRequest, tmp_path: Path, harness_env: dict[str, str]
) -> Iterator[tuple[Case, Path]]:
    case: Case = request.param
    scenario = write_scenario(
        tmp_path / "held.yaml",
        SCENARIO.format(
            slug=case.kind.replace(".", "-"), kind=case.kind, params=case.params, lab=case.lab
        ),
    )
    up = harness(["lab", "up", "--scenario", str(scenario)], harness_env)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield case, scenario
    finally:
        harness(["lab", "down"], harness_env)


@pytest.mark.parametrize("attached", CASES, ids=[c.kind for c in CASES], indirect=True)
def test_sigkill_mid_fault_is_healed_by_the_watchdog_within_5_s(
    attached: tuple[Case, Path], tmp_path: Path, harness_env: dict[str, str]
) -> None:
    case, scenario = attached
    out = tmp_path / "run"
    argv = ["chaos", "run", str(scenario), "--lab", "attach", "--out", str(out)]
    run = subprocess.Popen(
        [sys.executable, "-m", "harness", *argv],
        cwd=REPO,
        env=harness_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def applied() -> bool:
        try:
            return any(r.get("op") == "fault" and r["action"] == "apply" for r in history(out))
        except FileNotFoundError:
            return False

    try:
        wait_for(applied, 30, "the fault to be applied")
        # A graceful stop takes effect when the service has shut down, a moment later.
        wait_for(lambda: case.in_effect(_lab(harness_env)), 2.0, f"{case.kind} in effect")
    finally:
        run.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        run.wait(timeout=10)

    wait_for(lambda: not case.in_effect(_lab(harness_env)), HEAL_WITHIN_S, "the fault to go")
    assert time.monotonic() - killed < HEAL_WITHIN_S
    journal = Journal(Path(harness_env["HARNESS_STATE_DIR"]) / "journal.jsonl")
    wait_for(lambda: not journal.state().faults, HEAL_WITHIN_S, "the journal to close it")
    lab = _lab(harness_env)
    proxy = _proxy(lab)
    assert proxy.enabled and not proxy.toxics
    assert _proc_status(lab) not in (None, psutil.STATUS_STOPPED)
    # The lab is still up and usable: the fault is gone, not the service. (After a disk
    # fault Redis refuses even PING with MISCONF until its next snapshot succeeds; it
    # retries a failed one after 5 s.)
    client = lab.services["redis"].client

    def pong() -> bool:
        try:
            return redis_ping(client.host, client.port, timeout_s=1.0)
        except OSError:
            return False

    wait_for(pong, 10.0, "redis to answer PONG again")
