"""The dead-man switch: a small process that outlives the harness and heals behind it.

Whenever the journal records something that would be left broken if the harness died
(a fault, or a lab owned by a run), ``ensure_running`` makes sure one watchdog runs for
that journal. It polls the journal every ``POLL_S``; when a fault's harness process is
gone, or an ad-hoc fault's ``--for`` has expired, it runs ``heal``: the fault is
reverted and a run's orphaned lab stopped, within about a second of the harness's
death even when it was killed with SIGKILL. It exits as soon as the journal holds
nothing left to watch, deciding so under the journal lock (see ``Journal.append``).

One watchdog per state directory: it holds an exclusive ``flock`` on ``watchdog.pid``
for its whole life, which is also how others find it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
from pathlib import Path

from harness.journal import Journal, JournalState, owner_alive

POLL_S = 0.2
LOCK_FILE = "watchdog.pid"
LOG_FILE = "watchdog.log"


def _lock_path(journal: Journal) -> Path:
    return journal.path.parent / LOCK_FILE


def running_pid(journal: Journal) -> int | None:
    """The pid of the watchdog of ``journal``, or ``None`` if none runs."""
    path = _lock_path(journal)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        return None
    finally:
        os.close(fd)


def ensure_running(journal: Journal) -> None:
    """Start a watchdog for ``journal`` unless one runs. Two callers racing may both
    start one: the second finds the lock taken and exits at once."""
    if running_pid(journal) is not None:
        return
    journal.path.parent.mkdir(parents=True, exist_ok=True)
    log = str(journal.path.parent / LOG_FILE)
    # posix_spawn rather than Popen: nobody here will ever wait for it (it outlives us),
    # and it starts in a session of its own so a Ctrl-C meant for us never reaches it.
    os.posix_spawn(
        sys.executable,
        [sys.executable, "-m", "harness.watchdog", str(journal.path)],
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def due(state: JournalState, now: float) -> bool:
    """True when heal has something to do: a fault no longer wanted (its harness is
    gone, or it was applied by hand and has expired), or a run's lab whose harness is
    gone."""
    from harness.heal import held_by

    if any(held_by(rec, now) is None for rec in state.faults.values()):
        return True
    return any(
        not owner_alive(rec.get("owner"))
        for rec in state.labs.values()
        if not rec.get("lab", {}).get("persistent")
    )


def idle(state: JournalState) -> bool:
    """Nothing to watch: no fault, and no lab that dies with its harness."""
    return not state.faults and all(
        rec.get("lab", {}).get("persistent") for rec in state.labs.values()
    )


def next_expiry(state: JournalState) -> float | None:
    times = [
        float(rec["expires_at"])
        for rec in state.faults.values()
        if rec.get("adhoc") and rec.get("expires_at") is not None
    ]
    return min(times) if times else None


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} watchdog[{os.getpid()}]: {message}", flush=True)


def watch(journal: Journal) -> int:
    """The watchdog's loop; returns when there is nothing left to watch."""
    from harness.heal import heal

    lock = _lock_path(journal)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    if not _take(fd):
        os.close(fd)
        return 0  # another watchdog has this journal
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _log(f"watching {journal.path}")
    while True:
        now = time.time()
        state = journal.state()
        if due(state, now):
            try:
                report = heal(journal, now=now)
            except Exception as exc:  # never die of one bad record: keep watching
                _log(f"heal failed: {type(exc).__name__}: {exc}")
            else:
                for line in report.reverted:
                    _log(f"reverted {line}")
                for line in report.gone:
                    _log(f"closed {line}")
                for lab_id in report.labs_stopped:
                    _log(f"stopped orphaned lab {lab_id}")
                for line in report.failed:
                    _log(f"could not revert {line}")
            state = journal.state()
        if idle(state):
            with journal.locked_state() as locked:
                if idle(locked):
                    _log("nothing left to watch")
                    os.close(fd)  # releases the lock while writers are held off
                    return 0
        expiry = next_expiry(state)
        pause = POLL_S if expiry is None else min(POLL_S, max(expiry - time.time(), 0.0))
        time.sleep(pause)


def _take(fd: int) -> bool:
    # `running_pid` probes with a shared lock for microseconds: retry past a probe.
    for _ in range(10):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.02)
    return False


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m harness.watchdog JOURNAL", file=sys.stderr)
        return 2
    # Its own session already; a Ctrl-C meant for the harness must not reach it. Its
    # working directory must not keep a run directory (or a lab mount) busy.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.chdir("/")
    return watch(Journal(Path(argv[1])))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
