"""Block I/O throttling with the cgroup v1 ``blkio`` controller, for ``disk.slow``.

A fault makes a cgroup of its own in the blkio hierarchy, sets
``blkio.throttle.{read,write}_{bps,iops}_device`` for the block device under the
service's lab filesystem (its loop device), and moves the service's process (every
thread) into it. v1 throttles the bios a process submits itself: direct I/O, reads that
miss the page cache, and the writeback its own ``fsync`` / ``fdatasync`` starts. Dirty
pages written back later by the kernel's flusher threads are not throttled (v1 has no
writeback attribution), so a service that never syncs barely notices. Revert moves
every process back where it came from and removes the cgroup.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from harness.errors import FaultError
from harness.lab.disk import mounts

LIMIT_FILES = {
    "read_bps": "blkio.throttle.read_bps_device",
    "write_bps": "blkio.throttle.write_bps_device",
    "read_iops": "blkio.throttle.read_iops_device",
    "write_iops": "blkio.throttle.write_iops_device",
}


def hierarchy() -> Path | None:
    """Where the cgroup v1 blkio hierarchy is mounted, if it is, with throttling."""
    for entry in mounts():
        if entry.fstype == "cgroup" and "blkio" in entry.super_options:
            root = Path(entry.mountpoint)
            if (root / LIMIT_FILES["write_iops"]).exists():
                return root
    return None


def device_of(path: str) -> str:
    """``major:minor`` of the block device holding ``path`` (a loop device for ext4 lab
    filesystems); ``FaultError`` when there is none (tmpfs)."""
    dev = os.stat(path).st_dev
    number = f"{os.major(dev)}:{os.minor(dev)}"
    if not Path(f"/sys/dev/block/{number}").exists():
        raise FaultError(f"{path} is not on a block device ({number}): disk.slow needs ext4")
    return number


def cgroup_of(pid: int, root: Path) -> Path:
    """The blkio cgroup directory ``pid`` is in now."""
    with open(f"/proc/{pid}/cgroup") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "blkio" in controllers.split(","):
                return root / path.lstrip("/")
    return root


def throttle(group: Path, device: str, limits: dict[str, int], pid: int) -> None:
    """Create ``group`` with ``limits`` (0: unlimited) on ``device`` and move ``pid`` in."""
    group.mkdir(exist_ok=True)
    for name, value in limits.items():
        if value:
            (group / LIMIT_FILES[name]).write_text(f"{device} {value}\n")
    # cgroup.procs moves the whole process: every thread, and children it forks later.
    (group / "cgroup.procs").write_text(f"{pid}\n")


def release(group: Path, home: Path, deadline_s: float = 3.0) -> None:
    """Move every process in ``group`` back to ``home`` and remove ``group``. Idempotent."""
    if not group.is_dir():
        return
    # The cgroup it came from may be gone by now; the hierarchy's root always exists.
    destination = home if home.is_dir() else next(p for p in home.parents if p.is_dir())
    end = time.monotonic() + deadline_s
    while True:
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, OSError):
                (destination / "cgroup.procs").write_text(f"{pid}\n")
        try:
            group.rmdir()  # removes its limits with it
            return
        except FileNotFoundError:
            return
        except OSError as exc:  # EBUSY: a process forked into it meanwhile
            if time.monotonic() >= end:
                raise FaultError(f"cannot remove cgroup {group}: {exc.strerror}") from None
        time.sleep(0.02)


def group_prefix(lab_id: str) -> str:
    """Cgroups of a lab's faults start with this."""
    return f"chaos-{lab_id}-"


def sweep(lab_id: str) -> None:
    """Remove the cgroups a lab's faults left (their processes were stopped with the lab;
    a fault heal could not revert, because its lab was gone, leaves an empty cgroup)."""
    root = hierarchy()
    if root is not None:
        for group in root.glob(f"{group_prefix(lab_id)}*"):
            release(group, root)


def missing() -> list[str]:
    """What this machine lacks for ``disk.slow``, with why."""
    if hierarchy() is None:
        return [
            "the cgroup v1 blkio controller with throttling (blkio.throttle.*_device), "
            "e.g. mounted at /sys/fs/cgroup/blkio: this machine has none (cgroup v2's "
            "io.max is not supported yet)"
        ]
    if os.geteuid() != 0:
        return ["root (moving a process into a blkio cgroup needs it)"]
    return []
