"""The heal journal, ``harness heal`` against unreachable or fake Toxiproxy, durations."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from harness.heal import heal
from harness.journal import Journal, owner_alive
from harness.lab.procs import ManagedProcess
from harness.units import format_duration, parse_duration

# -- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        (" 10 s ", 10.0),
        ("7", 7.0),
        (3, 3.0),
        (0.25, 0.25),
        (0, 0.0),
    ],
)
def test_parse_duration(text, seconds):
    value = parse_duration(text)
    assert isinstance(value, float)
    assert value == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["abc", "-1s", "5d", "", "1e3", -1, -0.5, True, None, [1]])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.5, "500ms"), (0.0, "0s"), (2.0, "2s"), (90.0, "90s")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


# -- the journal ----------------------------------------------------------------------------

REVERT = {"kind": "network.down", "lab_id": "local-1", "record": {"proxies": []}}


@pytest.fixture
def journal(tmp_path) -> Journal:
    return Journal(tmp_path / "state" / "journal.jsonl")


def test_an_applying_fault_is_active_until_reverted(journal):
    journal.fault_applying("run1/cut", "network.down", ["redis"], REVERT)
    state = journal.state()
    assert list(state.faults) == ["run1/cut"]
    active = state.faults["run1/cut"]
    assert active["kind"] == "network.down"
    assert active["targets"] == ["redis"]
    assert active["revert"] == REVERT
    assert active["owner"]["pid"] == os.getpid()
    assert owner_alive(active["owner"])

    journal.fault_reverted("run1/cut")
    assert journal.state().faults == {}


def test_faults_are_tracked_independently(journal):
    journal.fault_applying("run1/a", "network.down", ["redis"], REVERT)
    journal.fault_applying("run1/b", "network.latency", ["redis"], REVERT)
    journal.fault_reverted("run1/a")
    assert list(journal.state().faults) == ["run1/b"]


def test_every_record_is_on_disk_when_the_call_returns(journal):
    journal.fault_applying("run1/cut", "network.down", ["redis"], REVERT)
    lines = journal.path.read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["ev"] == "fault-apply"
    assert journal.path.stat().st_mode & 0o777 == 0o600


def test_lab_up_and_down(journal):
    journal.lab_up({"lab_id": "local-1", "backend": "local", "root": "/nowhere"})
    journal.lab_up({"lab_id": "local-2", "backend": "local", "root": "/nowhere"})
    state = journal.state()
    assert set(state.labs) == {"local-1", "local-2"}
    assert state.labs["local-1"]["lab"]["backend"] == "local"
    assert state.labs["local-1"]["owner"]["pid"] == os.getpid()

    journal.lab_down("local-1")
    assert set(journal.state().labs) == {"local-2"}


def test_a_second_lab_up_keeps_the_first_owner(journal):
    journal.append(
        {"ev": "lab-up", "lab_id": "local-1", "owner": {"pid": 1, "create_time": 0.0}, "lab": {}}
    )
    journal.lab_up({"lab_id": "local-1", "backend": "local", "services": {"redis": {}}})
    lab = journal.state().labs["local-1"]
    assert lab["owner"]["pid"] == 1
    assert lab["lab"]["services"] == {"redis": {}}


def test_compact_keeps_only_what_is_active(journal):
    journal.lab_up({"lab_id": "gone", "backend": "local"})
    journal.lab_up({"lab_id": "kept", "backend": "local"})
    journal.fault_applying("run1/a", "network.down", ["redis"], REVERT)
    journal.fault_applying("run1/b", "network.down", ["redis"], REVERT)
    journal.fault_reverted("run1/a")
    journal.lab_down("gone")
    before = journal.state()

    journal.compact()

    records = journal.records()
    assert len(records) == 2
    assert {r.get("key") or r.get("lab_id") for r in records} == {"kept", "run1/b"}
    after = journal.state()
    assert after.faults == before.faults
    assert after.labs == before.labs
    # The journal is still appendable after being replaced.
    journal.fault_reverted("run1/b")
    assert journal.state().faults == {}


def test_a_truncated_last_line_is_skipped(journal):
    journal.fault_applying("run1/a", "network.down", ["redis"], REVERT)
    with open(journal.path, "ab") as handle:
        handle.write(b'{"ev":"fault-reverted","key":"run1/')
    assert len(journal.records()) == 1
    assert list(journal.state().faults) == ["run1/a"]


def test_a_record_appended_after_a_truncated_line_is_kept(journal):
    journal.fault_applying("run1/a", "network.down", ["redis"], REVERT)
    with open(journal.path, "ab") as handle:
        handle.write(b'{"ev":"fault-reverted","key":"run1/')
    journal.fault_applying("run1/b", "network.down", ["redis"], REVERT)
    assert set(journal.state().faults) == {"run1/a", "run1/b"}


def test_a_missing_journal_is_empty(journal):
    assert journal.records() == []
    state = journal.state()
    assert state.faults == {}
    assert state.labs == {}


def test_the_journal_lives_under_the_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "s"))
    assert Journal().path == tmp_path / "s" / "journal.jsonl"
    monkeypatch.delenv("HARNESS_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert Journal().path == tmp_path / "xdg" / "chaos-harness" / "journal.jsonl"


# -- heal ----------------------------------------------------------------------------------


def dead_owner() -> dict[str, Any]:
    """The owner record of a harness process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", "pass"])
    assert proc.wait(10) == 0
    return {"pid": proc.pid, "create_time": None}


def live_owner() -> dict[str, Any]:
    import psutil

    return {"pid": os.getpid(), "create_time": psutil.Process().create_time()}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def toxiproxy_stand_in() -> Iterator[None]:
    """A live process standing in for a lab's Toxiproxy server, so heal sees the lab up."""
    global LAB_PROCESS
    proc = subprocess.Popen(["sleep", "60"])
    LAB_PROCESS = ManagedProcess(
        "toxiproxy",
        ["sleep", "60"],
        "/",
        "/dev/null",
        proc.pid,
        psutil.Process(proc.pid).create_time(),
    )
    yield
    proc.kill()
    proc.wait()


LAB_PROCESS: ManagedProcess | None = None


def journal_down_fault(
    journal: Journal, key: str, address: str, owner: dict[str, Any], lab: str = "local-live"
) -> None:
    """Journal a network.down fault; its lab is journaled as running (owned by this
    process, so never stopped as an orphan) unless ``lab`` names another one."""
    if lab == "local-live" and lab not in journal.state().labs:
        assert LAB_PROCESS is not None
        journal.append(
            lab_record(
                lab,
                live_owner(),
                backend="local",
                root="/nonexistent",
                toxiproxy_process=LAB_PROCESS.to_record(),
            )
        )
    journal.append(
        {
            "ev": "fault-apply",
            "key": key,
            "kind": "network.down",
            "targets": ["redis"],
            "revert": {
                "kind": "network.down",
                "lab_id": lab,
                "record": {"proxies": [[address, "redis"]]},
            },
            "owner": owner,
        }
    )


def test_dead_owner_is_not_alive():
    assert not owner_alive(dead_owner())
    assert not owner_alive(None)
    assert not owner_alive({"pid": os.getpid(), "create_time": 1.0})  # a reused pid
    assert owner_alive(live_owner())


def test_heal_keeps_a_fault_whose_revert_failed_for_the_next_attempt(journal):
    journal_down_fault(journal, "run1/cut", f"127.0.0.1:{closed_port()}", dead_owner())

    report = heal(journal, stop_orphan_labs=False)

    assert report.reverted == []
    assert len(report.failed) == 1
    assert report.failed[0].startswith("run1/cut (network.down): ToxiproxyError")
    assert not report.ok
    assert list(journal.state().faults) == ["run1/cut"]

    # Still there to retry: a second heal tries (and fails) again.
    again = heal(journal, stop_orphan_labs=False)
    assert len(again.failed) == 1
    assert list(journal.state().faults) == ["run1/cut"]


def test_heal_reverts_a_dead_runs_fault_and_closes_it(journal, fake_toxiproxy):
    journal_down_fault(journal, "run1/cut", fake_toxiproxy.address, dead_owner())

    report = heal(journal, stop_orphan_labs=False)

    assert report.failed == []
    assert report.reverted == ["run1/cut (network.down on redis)"]
    assert fake_toxiproxy.requests == [("POST", "/proxies/redis", {"enabled": True})]
    assert journal.state().faults == {}
    # Idempotent: nothing left to do.
    second = heal(journal, stop_orphan_labs=False)
    assert (second.reverted, second.failed, second.skipped) == ([], [], [])


def test_heal_leaves_a_live_runs_fault_alone(journal):
    journal_down_fault(journal, "run1/cut", f"127.0.0.1:{closed_port()}", live_owner())

    report = heal(journal, stop_orphan_labs=False)

    assert report.failed == []
    assert report.reverted == []
    assert len(report.skipped) == 1
    assert report.skipped[0].startswith("run1/cut")
    assert str(os.getpid()) in report.skipped[0]
    assert list(journal.state().faults) == ["run1/cut"]


def test_heal_include_live_reverts_a_live_runs_fault(journal):
    journal_down_fault(journal, "run1/cut", f"127.0.0.1:{closed_port()}", live_owner())

    report = heal(journal, stop_orphan_labs=False, include_live=True)

    assert report.skipped == []
    assert len(report.failed) == 1  # attempted: the address is closed
    assert list(journal.state().faults) == ["run1/cut"]


def test_heal_with_a_prefix_only_touches_that_run(journal, fake_toxiproxy):
    journal_down_fault(journal, "run1/cut", fake_toxiproxy.address, live_owner())
    journal_down_fault(journal, "run2/cut", fake_toxiproxy.address, live_owner())

    report = heal(journal, stop_orphan_labs=False, prefix="run1/")

    assert report.reverted == ["run1/cut (network.down on redis)"]
    assert list(journal.state().faults) == ["run2/cut"]


def test_heal_reports_an_unknown_fault_kind_and_keeps_it(journal):
    journal.append(
        {
            "ev": "fault-apply",
            "key": "run1/x",
            "kind": "network.nope",
            "targets": ["redis"],
            "revert": {"kind": "network.nope", "lab_id": "", "record": {}},
            "owner": dead_owner(),
        }
    )
    report = heal(journal, stop_orphan_labs=False)
    assert report.failed == ["run1/x (network.nope): unknown fault kind"]
    assert list(journal.state().faults) == ["run1/x"]


def lab_record(lab_id: str, owner: dict[str, Any], **lab: Any) -> dict[str, Any]:
    return {"ev": "lab-up", "lab_id": lab_id, "owner": owner, "lab": {"lab_id": lab_id, **lab}}


def test_heal_forgets_an_orphaned_lab_it_cannot_rebuild(journal):
    journal.append(lab_record("other-1", dead_owner(), backend="other"))
    journal.append(lab_record("other-live", live_owner(), backend="other"))
    journal.append(lab_record("other-kept", dead_owner(), backend="other", persistent=True))

    report = heal(journal)

    assert report.labs_stopped == ["other-1"]
    assert set(journal.state().labs) == {"other-live", "other-kept"}


def test_heal_keep_labs_leaves_orphaned_labs(journal):
    journal.append(lab_record("other-1", dead_owner(), backend="other"))
    report = heal(journal, stop_orphan_labs=False)
    assert report.labs_stopped == []
    assert set(journal.state().labs) == {"other-1"}


def test_a_fault_whose_lab_is_gone_is_closed_without_a_revert(journal, fake_toxiproxy):
    journal_down_fault(journal, "run1/cut", fake_toxiproxy.address, dead_owner(), lab="local-x")
    report = heal(journal, stop_orphan_labs=False)
    assert report.gone == ["run1/cut (network.down): lab local-x is gone"]
    assert report.failed == [] and fake_toxiproxy.requests == []
    assert journal.records() == [], "a healed journal is compacted to nothing"


def test_a_fault_whose_lab_stopped_is_closed_too(journal):
    journal_down_fault(journal, "run1/cut", f"127.0.0.1:{closed_port()}", dead_owner())
    assert LAB_PROCESS is not None
    LAB_PROCESS.stop(grace_s=1)
    report = heal(journal, stop_orphan_labs=False)
    assert report.failed == [] and len(report.gone) == 1
    assert journal.state().faults == {}
