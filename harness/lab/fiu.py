"""libfiu: a service started under ``fiu-run -x`` and its failure points switched by
``fiu-ctrl``.

``fiu-run -x`` preloads libfiu's POSIX wrappers; each wrapped libc function (``write``,
``fsync``, ``open``...) asks libfiu whether to fail, and a failing call returns -1 with
``errno`` set to the failure point's ``failinfo``. The remote control is a pair of fifos
``<prefix>-<pid>.in`` / ``.out`` per process; the lab chooses the prefix (under its own
directory, recorded in the lab record), so a fault's revert, and ``harness heal`` in
another process, always know where to send ``disable``.

libfiu's failure points are per *function*, not per file: failing ``write`` also fails
writes to sockets and pipes, while ``fsync`` / ``fdatasync`` only ever concern files.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from harness.errors import FaultError
from harness.lab.disk import tool

CONTROL_TIMEOUT_S = 5.0

# The failure points of libfiu's POSIX preload library (preload/posix/modules/*.mod).
POINTS: dict[str, tuple[str, ...]] = {
    "sync": ("posix/io/sync/fsync", "posix/io/sync/fdatasync", "linux/io/sync_file_range"),
    "open": ("posix/io/oc/open", "posix/stdio/oc/fopen"),
    "write": (
        "posix/io/rw/write",
        "posix/io/rw/pwrite",
        "posix/io/rw/writev",
        "posix/io/rw/pwritev",
        "posix/stdio/rw/fwrite",
    ),
    "read": (
        "posix/io/rw/read",
        "posix/io/rw/pread",
        "posix/io/rw/readv",
        "posix/io/rw/preadv",
        "posix/stdio/rw/fread",
    ),
}
POINTS["all"] = tuple(p for ops in ("sync", "open", "write", "read") for p in POINTS[ops])

# Redis's jemalloc crashes in its thread cache (segfault in bio_close_file after an AOF
# rewrite) when libfiu's preload wraps its calls; without the thread cache it does not.
REDIS_ENV = {"MALLOC_CONF": "tcache:false"}


def prefix(root: Path, service: str) -> str:
    """The fifo prefix of a service: in a directory of its own in the lab's, never /tmp."""
    return str(root / "fiu" / service / "ctrl")


def wrap(argv: list[str], fifo_prefix: str, env: dict[str, str] | None = None) -> list[str]:
    """``argv`` run under ``fiu-run -x`` (which execs it: the pid stays the service's)."""
    Path(fifo_prefix).parent.mkdir(parents=True, exist_ok=True)
    fiu_run = tool("fiu-run") or "fiu-run"
    extra = ["env", *(f"{k}={v}" for k, v in env.items())] if env else []
    return [fiu_run, "-x", "-f", fifo_prefix, *extra, *argv]


def fifo(fifo_prefix: str, pid: int) -> str:
    return f"{fifo_prefix}-{pid}"


def enable_command(point: str, errno_value: int, probability: float) -> str:
    if probability >= 1:
        return f"enable name={point},failnum=1,failinfo={errno_value}"
    return f"enable_random name={point},failnum=1,failinfo={errno_value},probability={probability}"


def control(fifo_base: str, commands: list[str]) -> list[str]:
    """Send ``commands`` through ``fiu-ctrl`` to the process behind ``fifo_base``; return
    the commands libfiu refused (``disable`` of a point that is not enabled is refused).
    ``FaultError`` if there is no such control fifo or it does not answer in time (the
    process is stopped, say): ``fiu-ctrl`` would otherwise wait forever."""
    fiu_ctrl = tool("fiu-ctrl")
    if fiu_ctrl is None:
        raise FaultError("fiu-ctrl was not found (Debian: apt-get install fiu-utils)")
    if not Path(f"{fifo_base}.out").exists():
        raise FaultError(f"no libfiu control fifo {fifo_base}.out: is the service under fiu-run?")
    argv = [fiu_ctrl, *(arg for c in commands for arg in ("-c", c)), fifo_base]
    # Its own session: on a timeout the shell script and its `cat` are killed together.
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=CONTROL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise FaultError(
            f"fiu-ctrl got no answer from {fifo_base} within {CONTROL_TIMEOUT_S:g} s "
            "(is the process stopped?)"
        ) from None
    if "unknown pid or named pipe" in out:
        raise FaultError(f"fiu-ctrl: {out.strip()}")
    return [c for c in commands if f"Command '{c}' returned error" in out]


def missing() -> list[str]:
    """What this machine lacks to run services under libfiu, with how to get it."""
    absent = [name for name in ("fiu-run", "fiu-ctrl") if tool(name) is None]
    if absent:
        return [f"{' and '.join(absent)} from libfiu (Debian: apt-get install fiu-utils)"]
    return []
