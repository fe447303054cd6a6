"""Every process fault kind against a real redis-server behind the real Toxiproxy server:
each test shows what the process and a client through the proxy go through, and that
the revert (or ``harness heal`` in another process) brings the service back."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from faults.base import Fault, FaultTarget, get_kind
from harness.journal import Journal
from harness.lab.base import ServiceHandle
from harness.lab.local import LocalLab
from harness.scenario import RedisServiceSpec
from harness.watchdog import running_pid

from .support import (
    alive,
    client,
    harness,
    run_record,
    start_run,
    wait_applied,
    wait_for,
    write_scenario,
)

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLab]:
    root = tmp_path_factory.mktemp("proclab")
    # AOF with fsync on every write: whatever was acknowledged survives any signal.
    services = {"redis": RedisServiceSpec(durability="always")}
    lab = LocalLab(root / "lab", services, Journal(root / "state" / "journal.jsonl"))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def make(lab: LocalLab, kind: str, **params: Any) -> Fault:
    fault_cls = get_kind(kind)
    assert fault_cls is not None
    return fault_cls(
        "t",
        FaultTarget(lab, [lab.services["redis"]]),
        fault_cls.params_model(**params),
        tag=f"test-{time.monotonic_ns()}",
    )


def pid(lab: LocalLab) -> int:
    value = lab.processes["redis"].pid
    assert value is not None
    return value


def answers(svc: ServiceHandle) -> bool:
    try:
        with client(svc, 0.2) as c:
            return bool(c.ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False


def assert_closed_at_once(svc: ServiceHandle) -> None:
    """Through the proxy a PING fails fast with a connection error: not a timeout."""
    with client(svc, 2.0) as c:
        start = time.monotonic()
        with pytest.raises(redis.ConnectionError):
            c.ping()
        assert time.monotonic() - start < 1.0


def write_acked(svc: ServiceHandle, key: str) -> None:
    with client(svc) as c:
        assert c.set(key, "acked")


def assert_kept(svc: ServiceHandle, key: str) -> None:
    """The acknowledged write survived (the lab's AOF is fsynced on every write)."""
    with client(svc) as c:
        assert c.get(key) == b"acked"


class Log:
    """What the service writes to its log from now on."""

    def __init__(self, lab: LocalLab) -> None:
        self.path = Path(lab.processes["redis"].log_path)
        self.start = self.path.stat().st_size

    def new(self) -> str:
        with open(self.path, "rb") as handle:
            handle.seek(self.start)
            return handle.read().decode(errors="replace")


@pytest.mark.parametrize("sig", ["KILL", "TERM", "INT"])
def test_kill_ends_the_process_with_its_signal_and_revert_brings_it_back_with_the_data(
    lab: LocalLab, sig: str
) -> None:
    svc = lab.services["redis"]
    write_acked(svc, f"kill-{sig}")
    before, log = pid(lab), Log(lab)
    fault = make(lab, "process.kill", signal=sig)
    fault.apply()
    try:
        assert not alive(before)
        assert_closed_at_once(svc)
        shutdown = log.new()
        if sig == "KILL":
            assert "ready to exit" not in shutdown  # no chance to shut down
        else:
            assert f"Received SIG{sig}" in shutdown and "ready to exit" in shutdown
    finally:
        fault.revert()
    assert pid(lab) != before
    assert_kept(svc, f"kill-{sig}")


def test_kill_with_restart_after_comes_back_by_itself_and_the_revert_leaves_it(
    lab: LocalLab,
) -> None:
    svc = lab.services["redis"]
    write_acked(svc, "restart-after")
    before = pid(lab)
    fault = make(lab, "process.kill", restart_after="1s")
    start = time.monotonic()
    fault.apply()
    try:
        assert time.monotonic() - start < 0.5  # apply does not wait for the restart
        assert_closed_at_once(svc)
        wait_for(lambda: answers(svc), 4.0, "the service to come back by itself")
        back_after = time.monotonic() - start
        restarted = pid(lab)
    finally:
        fault.revert()
    assert 0.9 <= back_after <= 3.5, back_after
    assert restarted != before
    assert pid(lab) == restarted  # the revert found it running and left it alone
    assert getattr(fault, "errors", None) == []
    assert_kept(svc, "restart-after")


def test_a_revert_before_restart_after_starts_the_service_and_ends_the_timer(
    lab: LocalLab,
) -> None:
    svc = lab.services["redis"]
    fault = make(lab, "process.kill", restart_after="30s")
    fault.apply()
    assert_closed_at_once(svc)
    start = time.monotonic()
    fault.revert()
    assert time.monotonic() - start < 5.0
    assert answers(svc)
    assert not [t for t in threading.enumerate() if t.name == f"restart-{fault.tag}"]
    fault.revert()  # idempotent
    assert answers(svc)


def test_stop_shuts_the_service_down_gracefully_until_the_revert(lab: LocalLab) -> None:
    svc = lab.services["redis"]
    write_acked(svc, "stop")
    before, log = pid(lab), Log(lab)
    fault = make(lab, "process.stop", grace_s=5)
    fault.apply()
    try:
        # In effect when SIGTERM is delivered; Redis shuts down at its next cron tick.
        wait_for(lambda: not alive(before), 5.0, "the graceful stop")
        assert "Received SIGTERM" in log.new() and "ready to exit" in log.new()
        time.sleep(0.3)
        assert_closed_at_once(svc)  # still down: only the revert starts it
        assert not lab.service_running("redis")
    finally:
        fault.revert()
    assert answers(svc)
    assert_kept(svc, "stop")


def test_restart_is_one_action_after_which_the_service_is_back(lab: LocalLab) -> None:
    svc = lab.services["redis"]
    write_acked(svc, "restart")
    before, log = pid(lab), Log(lab)
    fault = make(lab, "process.restart", grace_s=5)
    # The timeline reverts an instantaneous fault right after its apply.
    fault.apply()
    fault.revert()
    assert type(fault).instantaneous
    assert pid(lab) != before and not alive(before)
    assert "ready to exit" in log.new()
    assert_kept(svc, "restart")


def tree(lab: LocalLab) -> list[psutil.Process]:
    parent = psutil.Process(pid(lab))
    return [parent, *parent.children(recursive=True)]


def stopped(procs: list[psutil.Process]) -> list[bool]:
    return [p.status() == psutil.STATUS_STOPPED for p in procs]


@pytest.fixture
def snapshot_child(lab: LocalLab) -> Iterator[None]:
    """Keep a forked child (a BGSAVE slowed down to about 2 s) under the service."""
    svc = lab.services["redis"]
    direct = redis.Redis(host=svc.upstream.host, port=svc.upstream.port, socket_timeout=5)
    with direct:
        direct.mset({f"snap-{i}": i for i in range(100)})
        direct.config_set("rdb-key-save-delay", 20_000)  # microseconds per key, in the child
        direct.bgsave()
        direct.config_set("rdb-key-save-delay", 0)
        wait_for(lambda: len(tree(lab)) > 1, 5.0, "the BGSAVE child")
        yield
        wait_for(
            lambda: not direct.info("persistence")["rdb_bgsave_in_progress"],
            20.0,
            "the BGSAVE to finish",
        )


@pytest.mark.usefixtures("snapshot_child")
def test_pause_stops_the_whole_tree_and_nothing_answers_until_the_revert(lab: LocalLab) -> None:
    svc = lab.services["redis"]
    procs = tree(lab)
    assert len(procs) == 2
    waiting = socket.create_connection((svc.client.host, svc.client.port), timeout=2)
    with waiting:
        fault = make(lab, "process.pause")
        fault.apply()
        try:
            assert stopped(procs) == [True, True]
            # A connection opened before the pause: its request waits, unanswered.
            waiting.sendall(b"PING\r\n")
            # A new connection through the proxy: accepted, then no reply and no error
            # until the client's own timeout.
            with client(svc, 0.5) as c:
                start = time.monotonic()
                with pytest.raises(redis.TimeoutError):
                    c.ping()
                assert time.monotonic() - start >= 0.45
            waiting.settimeout(0.3)
            with pytest.raises(TimeoutError):
                waiting.recv(16)
        finally:
            fault.revert()
        assert stopped(procs) == [False, False]
        waiting.settimeout(2)
        assert waiting.recv(16) == b"+PONG\r\n"  # answered once continued
    assert answers(svc)
    fault.revert()  # idempotent
    assert answers(svc)


def test_a_pause_is_resumed_by_harness_heal_in_another_process(lab: LocalLab) -> None:
    svc = lab.services["redis"]
    fault = make(lab, "process.pause")
    assert lab.journal is not None
    # What a run journals before the apply; the heal below rebuilds the lab from it.
    record = {"kind": fault.kind, "lab_id": lab.lab_id, "record": fault.revert_record()}
    lab.journal.fault_applying("gone-run/pause", fault.kind, ["redis"], record)
    fault.apply()
    assert stopped(tree(lab))[0] and not answers(svc)
    env = {**os.environ, "HARNESS_STATE_DIR": str(lab.journal.path.parent)}
    # --force: this test process, the fault's owner, is alive; --keep-labs: so is the lab.
    healed = harness(["heal", "--force", "--keep-labs"], env, timeout_s=60)
    assert healed.returncode == 0, healed.stderr
    assert "reverted gone-run/pause (process.pause on redis)" in healed.stdout
    assert not any(stopped(tree(lab)))
    assert answers(svc)


HELD = """
name: held
duration: 40s
load:
  workload: redis.kv
  users: 2
  spawn_rate: 50
timeline:
  - {{id: held, at: 2s, for: 30s, fault: {kind}, target: redis, params: {params}}}
"""


@pytest.mark.parametrize(
    ("kind", "params"),
    [("process.pause", "{}"), ("process.stop", "{}"), ("process.kill", "{restart_after: 25s}")],
)
@pytest.mark.usefixtures("no_leftovers")
def test_heal_by_hand_after_sigkill_of_the_harness_and_its_watchdog(
    tmp_path: Path, harness_env: dict[str, str], kind: str, params: str
) -> None:
    """The watchdog would heal this within a second (tests/integration/
    test_watchdog_families.py); with it killed too, `harness heal` is the way back."""
    scenario = write_scenario(tmp_path / "s.yaml", HELD.format(kind=kind, params=params))
    out = tmp_path / "run"
    run = start_run(scenario, out, harness_env)
    wait_applied(out)
    watchdog = running_pid(Journal(Path(harness_env["HARNESS_STATE_DIR"]) / "journal.jsonl"))
    assert watchdog is not None and watchdog > 0
    os.kill(watchdog, signal.SIGKILL)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=10)
    lab = run_record(out)["lab"]
    svc = ServiceHandle.from_record(lab["services"]["redis"])
    first = psutil.Process(lab["processes"]["redis"]["pid"]) if kind == "process.pause" else None
    # The fault really is still there: without heal it would stay.
    if first is not None:
        assert first.status() == psutil.STATUS_STOPPED
    else:
        # A graceful stop is in effect at SIGTERM; Redis exits at its next cron tick.
        wait_for(lambda: not alive(lab["processes"]["redis"]["pid"]), 2.0, "redis to exit")
    assert not answers(svc)

    healed = harness(["heal", "--keep-labs"], harness_env)
    assert healed.returncode == 0, healed.stderr
    assert f"({kind} on redis)" in healed.stdout
    if first is not None:
        assert first.status() != psutil.STATUS_STOPPED
    assert answers(svc)
    stopped_lab = harness(["heal"], harness_env)
    assert "stopped orphaned lab" in stopped_lab.stdout, stopped_lab.stdout
