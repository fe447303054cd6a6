"""Child processes of a lab: started in their own session, stopped without orphans.

A ``ManagedProcess`` is described by plain data (argv, cwd, log file, pid and the
pid's start time) so that ``harness heal``, in another process after the harness that
started it died, can rebuild it from the journal, restart it, or stop it, without ever
signalling an unrelated process that happens to reuse the pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "argv": self.argv,
            "cwd": self.cwd,
            "log_path": self.log_path,
            "pid": self.pid,
            "create_time": self.create_time,
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
        )

    def start(self) -> None:
        """Start the process in a new session (Ctrl-C in the terminal does not reach it)."""
        Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                self._popen = subprocess.Popen(
                    self.argv,
                    cwd=self.cwd,
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
        try:
            proc = psutil.Process(self.pid)
            if self.create_time is not None and abs(proc.create_time() - self.create_time) > 0.05:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                self._reap()
                return None
            return proc
        except psutil.Error:
            return None

    def alive(self) -> bool:
        return self.process() is not None

    def exited_early(self) -> int | None:
        """The exit code if our own child already exited, else ``None``."""
        if self._popen is None:
            return None
        return self._popen.poll()

    def send(self, sig: int) -> bool:
        """Send ``sig`` to the process (and, for SIGSTOP/SIGCONT, its tree). False if gone."""
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
        """Stop gracefully, then SIGKILL after ``grace_s``. A stopped (SIGSTOP) process is
        continued first so that it can act on the signal."""
        proc = self.process()
        if proc is None:
            self._reap()
            return
        try:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(sig)
        except psutil.Error:
            return
        if not self.wait_exit(grace_s):
            self.send(signal.SIGKILL)
            self.wait_exit(5.0)

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


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host`` (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
