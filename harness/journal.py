"""The heal journal: what is broken right now, written down before it is broken.

Before a fault is applied, a record saying how to revert it is appended and fsynced;
after the revert succeeds a second record closes it. Labs are recorded the same way
(their processes and the pid of the harness that owns them). ``harness heal`` replays
the file: every fault without a closing record is reverted, and every lab whose owner
died is stopped. The file is JSON lines under the state directory; writers take an
exclusive ``flock`` so a run and a concurrent ``heal`` never interleave.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil


def state_dir() -> Path:
    """``$HARNESS_STATE_DIR``, else ``$XDG_STATE_HOME/chaos-harness``, else
    ``~/.local/state/chaos-harness``."""
    explicit = os.environ.get("HARNESS_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "chaos-harness"


def _me() -> dict[str, Any]:
    pid = os.getpid()
    try:
        created: float | None = psutil.Process(pid).create_time()
    except psutil.Error:
        created = None
    return {"pid": pid, "create_time": created}


def owner_alive(owner: dict[str, Any] | None) -> bool:
    if not owner:
        return False
    try:
        proc = psutil.Process(int(owner["pid"]))
        created = owner.get("create_time")
        if created is not None and abs(proc.create_time() - float(created)) > 0.05:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class JournalState:
    """The replayed journal: faults still applied and labs still up."""

    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    labs: dict[str, dict[str, Any]] = field(default_factory=dict)


class Journal:
    """``watchdog=True`` makes sure a watchdog process (``harness.watchdog``) is running
    whenever something it would have to undo is recorded: a fault, or a lab that dies
    with its harness. Library and test code that heals by itself leaves it off."""

    def __init__(self, path: Path | None = None, watchdog: bool = False) -> None:
        self.path = path or state_dir() / "journal.jsonl"
        self.watchdog = watchdog

    @contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            # compact() replaces the file; a writer that waited on the old inode retries.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            yield fd
        finally:
            os.close(fd)

    def append(self, record: dict[str, Any], watch: bool = False) -> None:
        """Append one record and fsync it before returning. With ``watch`` (and a
        journal made with ``watchdog=True``), first make sure a watchdog runs, under
        the same lock: a watchdog deciding to exit does so holding it, so either it
        sees this record or it is gone and the one started here will; and a harness
        killed right after the record is durable still has one watching."""
        record = {"wall": time.time(), **record}
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        with self._locked() as fd:
            if watch and self.watchdog:
                from harness.watchdog import ensure_running

                ensure_running(self)
            size = os.fstat(fd).st_size
            # A line cut short by a crash must not swallow this record: end it first.
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)

    def records(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            # A line cut short by a crash mid-write is skipped; fsync makes it rare.
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def state(self) -> JournalState:
        state = JournalState()
        for rec in self.records():
            ev = rec.get("ev")
            if ev == "fault-apply":
                state.faults[rec["key"]] = rec
            elif ev == "fault-reverted":
                state.faults.pop(rec["key"], None)
            elif ev == "lab-up":
                previous = state.labs.get(rec["lab_id"])
                if previous is not None:
                    rec = {**rec, "owner": previous["owner"]}
                state.labs[rec["lab_id"]] = rec
            elif ev == "lab-down":
                state.labs.pop(rec["lab_id"], None)
        return state

    # -- typed writers ---------------------------------------------------------------

    def fault_applying(
        self,
        key: str,
        kind: str,
        targets: list[str],
        revert: dict[str, Any],
        adhoc: bool = False,
        expires_at: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Record a fault about to be applied. Faults of a run belong to its harness
        process (``owner``) and are reverted when it dies; ``adhoc`` faults (applied by
        hand on a running lab) stay until reverted or, with ``expires_at`` (wall clock),
        until then."""
        record: dict[str, Any] = {
            "ev": "fault-apply",
            "key": key,
            "kind": kind,
            "targets": targets,
            "revert": revert,
            "owner": _me(),
        }
        if adhoc:
            record["adhoc"] = True
        if expires_at is not None:
            record["expires_at"] = expires_at
        if params:
            record["params"] = params
        self.append(record, watch=True)

    def fault_reverted(self, key: str) -> None:
        self.append({"ev": "fault-reverted", "key": key})

    def lab_up(self, record: dict[str, Any]) -> None:
        self.append(
            {"ev": "lab-up", "lab_id": record["lab_id"], "owner": _me(), "lab": record},
            watch=not record.get("persistent"),
        )

    def lab_down(self, lab_id: str) -> None:
        self.append({"ev": "lab-down", "lab_id": lab_id})

    @contextmanager
    def locked_state(self) -> Iterator[JournalState]:
        """The state, with writers held off until the block ends."""
        with self._locked():
            yield self.state()

    def compact(self) -> None:
        """Rewrite the journal keeping only what is still active."""
        with self._locked():
            state = self.state()
            keep = list(state.labs.values()) + list(state.faults.values())
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "w") as handle:
                for rec in keep:
                    handle.write(json.dumps(rec, separators=(",", ":")) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
