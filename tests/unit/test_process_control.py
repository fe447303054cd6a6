"""Process faults without a lab: their parameters, a revert with the lab gone, and the
pause / resume of a real process tree (a shell and its children, no Redis needed)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest
from pydantic import ValidationError

from faults.process import Kill, KillParams, Pause, Restart, Stop
from harness.errors import FaultError, LabError
from harness.lab.procs import ManagedProcess, wait_until


def test_restart_after_is_a_positive_duration_and_absent_by_default():
    assert KillParams().restart_after is None
    assert KillParams(restart_after="500ms").restart_after == 0.5
    assert KillParams(restart_after="2m").restart_after == 120.0
    for bad in ("0s", 0, "-1s", "soon", "2d"):
        with pytest.raises(ValidationError, match="restart_after"):
            KillParams(restart_after=bad)


def test_an_unknown_signal_is_rejected_naming_the_allowed_ones():
    with pytest.raises(ValidationError) as info:
        KillParams(signal="HUP")
    assert "'KILL', 'TERM' or 'INT'" in str(info.value)


def test_only_restart_is_a_single_action():
    assert Restart.instantaneous
    assert not (Stop.instantaneous or Kill.instantaneous or Pause.instantaneous)


def test_reverting_a_pause_whose_lab_is_gone_is_harmless_but_a_kill_cannot_restart():
    record = {"lab_id": "local-gone", "services": ["redis"]}
    Pause.revert_from(record, None)  # the processes went with the lab
    with pytest.raises(FaultError, match="lab local-gone is gone"):
        Kill.revert_from(record, None)


@pytest.fixture
def family() -> Iterator[ManagedProcess]:
    """A shell with two children: a process tree like a redis-server with its fork."""
    proc = ManagedProcess("family", ["sh", "-c", "sleep 60 & sleep 60 & wait"], "/", "/dev/null")
    proc.start()
    wait_until(lambda: len(members(proc)) == 3, 5.0, "the children")
    tree = members(proc)
    yield proc
    proc.stop(grace_s=1.0)
    for member in tree:
        with contextlib.suppress(psutil.Error):
            member.kill()


def members(proc: ManagedProcess) -> list[psutil.Process]:
    parent = proc.process()
    return [] if parent is None else [parent, *parent.children(recursive=True)]


def states(procs: list[psutil.Process]) -> list[str]:
    return [p.status() for p in procs]


def test_pause_stops_the_process_and_its_descendants_and_resume_continues_them(
    family: ManagedProcess,
) -> None:
    tree = members(family)
    family.pause(timeout_s=5.0)
    assert states(tree) == [psutil.STATUS_STOPPED] * 3
    family.pause(timeout_s=5.0)  # idempotent
    family.resume()
    assert psutil.STATUS_STOPPED not in states(tree)
    family.resume()  # idempotent
    assert psutil.STATUS_STOPPED not in states(tree)


def test_a_paused_tree_rebuilt_from_its_record_is_resumed(family: ManagedProcess) -> None:
    tree = members(family)
    family.pause()
    # What `harness heal` has after the harness died: the record, not the child handle.
    ManagedProcess.from_record(family.to_record()).resume()
    assert psutil.STATUS_STOPPED not in states(tree)


def test_stop_ends_a_paused_process_and_leaves_no_child_stopped(family: ManagedProcess) -> None:
    children = members(family)[1:]
    family.pause()
    family.stop(grace_s=2.0)
    assert not family.alive()
    # The shell's children outlive it here; they must not be left frozen.
    assert psutil.STATUS_STOPPED not in states(children)


def test_a_pid_now_used_by_another_process_is_never_signalled() -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        created = psutil.Process(other.pid).create_time()
        # A record of an earlier process that had this pid: another start time.
        stale = ManagedProcess("stale", ["x"], "/", "/dev/null", other.pid, created - 100)
        with pytest.raises(LabError, match="stale is not running"):
            stale.pause()
        stale.resume()
        stale.stop(grace_s=0.5)
        assert psutil.Process(other.pid).status() != psutil.STATUS_STOPPED
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_children_of_a_paused_process_that_died_are_still_resumed_from_the_record(
    family: ManagedProcess,
) -> None:
    children = members(family)[1:]
    family.pause()
    record = family.to_record()
    assert len(record["paused"]) == 3
    family.send(signal.SIGKILL)
    family.wait_exit(5.0)
    assert states(children) == [psutil.STATUS_STOPPED] * 2  # the kernel leaves them so
    ManagedProcess.from_record(record).resume()
    assert psutil.STATUS_STOPPED not in states(children)
