"""When the watchdog acts, when heal leaves a fault alone, and ad-hoc parameters."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from harness.errors import InvalidInput
from harness.heal import heal, held_by
from harness.journal import Journal, JournalState
from harness.labctl import parse_params
from harness.watchdog import due, idle, next_expiry, running_pid

DEAD = {"pid": 2**22 + 7, "create_time": 1.0}  # above pid_max's default: never running


def _me() -> dict[str, object]:
    import psutil

    return {"pid": os.getpid(), "create_time": psutil.Process().create_time()}


def _fault(**extra: object) -> dict[str, object]:
    return {"key": "adhoc/f-1", "kind": "network.down", "targets": ["redis"], **extra}


def test_a_run_fault_is_held_while_its_harness_lives() -> None:
    assert held_by(_fault(owner=_me()), time.time()) is not None
    assert held_by(_fault(owner=DEAD), time.time()) is None


def test_an_adhoc_fault_is_held_until_it_expires_whoever_applied_it() -> None:
    now = time.time()
    assert "fault revert f-1" in str(held_by(_fault(adhoc=True, owner=DEAD), now))
    assert "expires in" in str(held_by(_fault(adhoc=True, owner=DEAD, expires_at=now + 5), now))
    assert held_by(_fault(adhoc=True, owner=_me(), expires_at=now - 1), now) is None


def test_the_watchdog_is_due_for_dead_owners_and_expired_faults_only() -> None:
    now = time.time()
    live = JournalState(faults={"r/a": _fault(owner=_me())})
    assert not due(live, now)
    assert due(JournalState(faults={"r/a": _fault(owner=DEAD)}), now)
    waiting = JournalState(faults={"adhoc/f": _fault(adhoc=True, expires_at=now + 2)})
    assert not due(waiting, now) and due(waiting, now + 2)
    assert next_expiry(waiting) == pytest.approx(now + 2)
    orphan = JournalState(labs={"l": {"owner": DEAD, "lab": {}}})
    assert due(orphan, now)
    kept = JournalState(labs={"l": {"owner": DEAD, "lab": {"persistent": True}}})
    assert not due(kept, now)


def test_the_watchdog_is_idle_only_with_no_fault_and_no_run_lab() -> None:
    assert idle(JournalState())
    assert idle(JournalState(labs={"l": {"lab": {"persistent": True}}}))
    assert not idle(JournalState(labs={"l": {"lab": {}}}))
    assert not idle(JournalState(faults={"adhoc/f": _fault(adhoc=True)}))


def test_heal_leaves_held_faults_and_reverts_them_when_forced(tmp_path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    revert = {"kind": "network.down", "lab_id": "", "record": {"toxiproxy": "", "proxies": []}}
    journal.fault_applying("adhoc/f-1", "network.down", ["redis"], revert, adhoc=True)
    report = heal(journal)
    assert report.skipped and not report.reverted
    assert list(journal.state().faults) == ["adhoc/f-1"]
    # An expired one goes; `--force` takes the rest.
    journal.fault_applying(
        "adhoc/f-2", "network.down", ["redis"], revert, adhoc=True, expires_at=time.time() - 1
    )
    assert heal(journal).reverted == ["f-2 (network.down on redis)"]
    assert heal(journal, include_live=True).reverted == ["f-1 (network.down on redis)"]
    assert journal.state().faults == {}


def test_running_pid_finds_the_lock_holder_and_nothing_otherwise(tmp_path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    assert running_pid(journal) is None
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(tmp_path / 'watchdog.pid')!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, str(os.getpid()).encode())\n"
            "print('ok', flush=True)\n"
            "time.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        assert running_pid(journal) == holder.pid
    finally:
        holder.kill()
        holder.communicate()
    assert running_pid(journal) is None


def test_params_are_read_as_yaml_scalars() -> None:
    assert parse_params(["latency_ms=200", "stream=upstream", "toxicity=0.5", "x=true"]) == {
        "latency_ms": 200,
        "stream": "upstream",
        "toxicity": 0.5,
        "x": True,
    }
    assert parse_params(["rate="]) == {"rate": ""}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["latency"], "expected key=value"),
        (["=3"], "expected key=value"),
        (["a=1", "a=2"], "twice"),
    ],
)
def test_bad_params_are_explained(items: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_params(items)


def test_a_watchdog_is_running_before_a_fault_record_is_written(tmp_path) -> None:
    """A harness killed the moment its record is durable must still be watched."""
    journal = Journal(tmp_path / "journal.jsonl", watchdog=True)
    revert = {"kind": "network.down", "lab_id": "", "record": {"toxiproxy": "", "proxies": []}}
    journal.fault_applying("run1/a", "network.down", ["redis"], revert)
    try:
        # Started (its log opened) before the record went in; it takes the lock once up.
        assert (tmp_path / "watchdog.log").exists()
        deadline = time.monotonic() + 10
        while running_pid(journal) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running_pid(journal) is not None
    finally:
        journal.fault_reverted("run1/a")
    deadline = time.monotonic() + 10
    while running_pid(journal) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running_pid(journal) is None  # nothing left to watch: it exits
