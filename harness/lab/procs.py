"""Child processes of a lab: started in their own session, stopped without orphans.

A ``ManagedProcess`` is described by plain data (argv, cwd, log file, pid and the
pid's start time) so that ``harness heal``, in another process after the harness that
started it died, can rebuild it from the journal, restart it, or stop it, without ever
signalling an unrelated process that happens to reuse the pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

from harness.errors import LabError


@dataclass
class ManagedProcess:
    """One long-running lab process (a redis-server, a Toxiproxy server...)."""

    name: str
    argv: list[str]
    cwd: str
    log_path: str
    pid: int | None = None
    create_time: float | None = None
    # Every process of the tree that ``pause`` stopped, as [pid, create_time]: ``resume``
    # continues them even if the process itself died meanwhile, since nothing else would
    # ever continue its orphaned children.
    paused: list[tuple[int, float]] = field(default_factory=list)
    # Wall-clock time until which a SIGTERMed process may still be shutting down (see
    # LocalLab.begin_stop); after it, SIGKILL.
    stop_deadline: float | None = None
    # A JSON file of environment variables the process gets (secrets stay out of argv
    # and out of every record, which hold only this path).
    env_file: str | None = None
    # Plain (non-secret) environment variables for the process, recorded as they are.
    env: dict[str, str] = field(default_factory=dict)
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "argv": self.argv,
            "cwd": self.cwd,
            "log_path": self.log_path,
            "pid": self.pid,
            "create_time": self.create_time,
            "paused": [list(member) for member in self.paused],
            "stop_deadline": self.stop_deadline,
            "env_file": self.env_file,
            "env": dict(self.env),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ManagedProcess:
        return cls(
            name=record["name"],
            argv=list(record["argv"]),
            cwd=record["cwd"],
            log_path=record["log_path"],
            pid=record.get("pid"),
            create_time=record.get("create_time"),
            paused=[(int(pid), float(created)) for pid, created in record.get("paused", [])],
            stop_deadline=record.get("stop_deadline"),
            env_file=record.get("env_file"),
            env=dict(record.get("env", {})),
        )

    def start(self) -> None:
        """Start the process in a new session (Ctrl-C in the terminal does not reach it)."""
        Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env} if self.env else None
        if self.env_file is not None:
            try:
                env = {**(env or os.environ), **json.loads(Path(self.env_file).read_text())}
            except (OSError, ValueError) as exc:
                raise LabError(f"could not read {self.name}'s environment file: {exc}") from None
        with open(self.log_path, "ab") as log:
            try:
                self._popen = subprocess.Popen(
                    self.argv,
                    cwd=self.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise LabError(f"could not start {self.name} ({self.argv[0]}): {exc}") from None
        self.pid = self._popen.pid
        try:
            self.create_time = psutil.Process(self.pid).create_time()
        except psutil.Error:
            self.create_time = None

    def process(self) -> psutil.Process | None:
        """The live process, or ``None`` if it exited or the pid now belongs to another."""
        if self.pid is None:
            return None
        proc = _identified(self.pid, self.create_time)
        try:
            if proc is None or proc.status() != psutil.STATUS_ZOMBIE:
                return proc
        except psutil.Error:
            return None
        self._reap()
        return None

    def alive(self) -> bool:
        return self.process() is not None

    def exited_early(self) -> int | None:
        """The exit code if our own child already exited, else ``None``."""
        if self._popen is None:
            return None
        return self._popen.poll()

    def send(self, sig: int) -> bool:
        """Send ``sig`` to the process alone (``pause`` / ``resume`` act on its tree). False
        if it is gone."""
        proc = self.process()
        if proc is None:
            return False
        try:
            proc.send_signal(sig)
        except psutil.Error:
            return False
        return True

    def wait_exit(self, timeout_s: float) -> bool:
        """True once the process has exited. A process started by another harness is
        not our child: it counts as exited when it is a zombie, since reaping it is up
        to its new parent (init may take a second or two)."""
        if self._popen is not None:
            try:
                self._popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                return False
            return True
        end = time.monotonic() + timeout_s
        while self.process() is not None:
            if time.monotonic() >= end:
                return False
            time.sleep(0.01)
        return True

    def stop(self, grace_s: float = 5.0, sig: int = signal.SIGTERM) -> None:
        """Stop gracefully, then SIGKILL after ``grace_s``. A paused tree is continued
        first so that the process can act on the signal (and wait for its children), and
        so that no child of it is left stopped."""
        self.resume()
        proc = self.process()
        if proc is None:
            self._reap()
            return
        try:
            proc.send_signal(sig)
        except psutil.Error:
            return
        if not self.wait_exit(grace_s):
            self.send(signal.SIGKILL)
            self.wait_exit(5.0)

    def pause(self, timeout_s: float = 5.0) -> None:
        """SIGSTOP the process and every descendant (a redis fork writing a snapshot...),
        and return once all of them are stopped.

        The process goes first so that it cannot fork a child that escapes; then its
        descendants are listed again until no new one appears. ``LabError`` when the
        process is not running, or when a process is still not stopped after
        ``timeout_s`` (stuck in an uninterruptible wait, e.g. a long fsync)."""
        proc = self.process()
        if proc is None:
            raise LabError(f"{self.name} is not running: nothing to pause")
        end = time.monotonic() + timeout_s
        signalled = {pid for pid, _ in self.paused}
        batch = [proc]
        while batch:
            for member in batch:
                with contextlib.suppress(psutil.Error):  # a child may exit meanwhile
                    member.send_signal(signal.SIGSTOP)
                    if member.pid not in signalled:
                        self.paused.append((member.pid, member.create_time()))
                signalled.add(member.pid)
            _wait_stopped(batch, end, self.name)
            batch = [c for c in _descendants(proc) if c.pid not in signalled]

    def resume(self) -> None:
        """SIGCONT every process ``pause`` stopped (each checked by its start time) and
        every current descendant; idempotent. The kernel does not continue the children
        of a paused process that died (their process group is not orphaned in the POSIX
        sense: the dead process led its own session), so they are continued from the
        record."""
        proc = self.process()
        members = [] if proc is None else [*_descendants(proc), proc]
        members += [m for m in (_identified(*member) for member in self.paused) if m is not None]
        for member in members:
            with contextlib.suppress(psutil.Error):
                member.send_signal(signal.SIGCONT)
        self.paused = []

    def _reap(self) -> None:
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=0.5)

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


def stop_strays(root: Path, grace_s: float = 3.0) -> list[int]:
    """Stop every process whose working directory is under ``root`` (lab processes run
    there): the ones a harness started but died before journaling. Never this process
    or its ancestors. Returns the pids it signalled."""
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    prefix = str(root.resolve())
    strays = []
    for proc in psutil.process_iter():
        if proc.pid in mine:
            continue
        try:
            cwd = proc.cwd()
        except psutil.Error:
            continue
        if cwd == prefix or cwd.startswith(prefix + os.sep):
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
                strays.append(proc)
    end = time.monotonic() + grace_s
    left = strays
    while left and time.monotonic() < end:
        time.sleep(0.01)
        left = [p for p in left if _running(p)]
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return [p.pid for p in strays]


def _running(proc: psutil.Process) -> bool:
    # Not our children: exited ones stay zombies until init reaps them.
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _identified(pid: int, create_time: float | None) -> psutil.Process | None:
    """The process with ``pid`` if it is the one that started at ``create_time``; never
    another that reused the pid."""
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.05:
            return None
        return proc
    except psutil.Error:
        return None


def _descendants(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return list(proc.children(recursive=True))
    except psutil.Error:
        return []


def _wait_stopped(procs: list[psutil.Process], end: float, what: str) -> None:
    """Wait until every process is stopped (or gone); SIGSTOP takes effect asynchronously."""
    waiting = list(procs)
    while True:
        waiting = [p for p in waiting if not _stopped_or_gone(p)]
        if not waiting:
            return
        if time.monotonic() >= end:
            pids = ", ".join(str(p.pid) for p in waiting)
            raise LabError(f"{what}: pid {pids} did not stop after SIGSTOP")
        time.sleep(0.005)


def _stopped_or_gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host`` (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


T = TypeVar("T")
PORT_ATTEMPTS = 3
PORT_TAKEN = "address already in use"  # EADDRINUSE, as servers word it (any case)


def on_a_free_port(start: Callable[[int], T], attempts: int = PORT_ATTEMPTS) -> T:
    """``start(port)`` on a port that was free a moment ago, and again on another one when
    the server could not bind it: taken in between by another listener or as a client's
    ephemeral port. ``start`` raises ``LabError`` with the server's log in its message."""
    for attempt in range(1, attempts + 1):
        try:
            return start(free_port())
        except LabError as exc:
            if attempt == attempts or PORT_TAKEN not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


def wait_until(
    check: Callable[[], bool],
    deadline_s: float,
    what: str,
    proc: ManagedProcess | None = None,
    interval_s: float = 0.01,
    on_error: tuple[type[Exception], ...] = (),
) -> None:
    """Poll ``check`` until it returns True; ``LabError`` naming ``what`` at the deadline or
    as soon as ``proc`` exits."""
    end = time.monotonic() + deadline_s
    ignored: tuple[type[Exception], ...] = (OSError, *on_error)
    while True:
        try:
            if check():
                return
        except ignored:
            pass
        if proc is not None and proc.exited_early() is not None:
            tail = proc.log_tail()
            raise LabError(
                f"{what}: the process exited with code {proc.exited_early()} before it was ready"
                + (f"; its log ends with:\n{tail}" if tail else "")
            )
        if time.monotonic() >= end:
            tail = proc.log_tail() if proc is not None else ""
            raise LabError(
                f"{what}: not ready within {deadline_s:g} s"
                + (f"; its log ends with:\n{tail}" if tail else "")
            )
        time.sleep(interval_s)
