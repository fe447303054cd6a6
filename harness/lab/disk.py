"""Lab filesystems: one size-limited filesystem per service, so disk faults get real errno.

A sparse ext4 image is loop-mounted (or a tmpfs mounted with ``size=``) on the service's
data directory. Everything needed to undo that (mountpoint, image, loop device) is plain
data (``LabDisk.to_record``) that the lab journals *before* mounting, so ``harness heal``
in another process can unmount what a dead harness left behind. ``mount``, ``umount``,
``mkfs.ext4`` and ``losetup`` run as subprocesses; when one fails, the error carries its
own message.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from harness.errors import HarnessError, LabError
from harness.units import format_size

if TYPE_CHECKING:
    from harness.scenario import DiskSpec

TOOL_TIMEOUT_S = 60.0
BUSY_DEADLINE_S = 3.0
# Root's PATH has the sbin directories; a user's may not, and the tools live there.
_SBIN = ("/usr/sbin", "/sbin")


@dataclass(frozen=True)
class LabDisk:
    """One service's filesystem: where it is mounted and what backs it."""

    service: str
    mountpoint: str
    fs: str
    size: int
    image: str | None = None  # ext4: the sparse image file
    loop: str | None = None  # ext4: the loop device, known once mounted
    fiu_prefix: str | None = None  # the service runs under fiu-run with this fifo prefix

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LabDisk:
        return cls(**record)


def plan(root: Path, name: str, spec: DiskSpec, fiu_prefix: str | None = None) -> LabDisk:
    """Where the filesystem of service ``name`` goes: its data directory is the mountpoint."""
    image = str(root / f"{name}.ext4.img") if spec.fs == "ext4" else None
    return LabDisk(name, str(root / name), spec.fs, spec.size, image, None, fiu_prefix)


# -- tools ---------------------------------------------------------------------------------


def tool(name: str) -> str | None:
    """The absolute path of a system tool, looking in the sbin directories too."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    return shutil.which(name, path=path)


def run_tool(
    argv: list[str], what: str, error: type[HarnessError] = LabError
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (never through a shell); ``error`` with the tool's stderr on failure."""
    found = tool(argv[0])
    if found is None:
        raise error(f"{what}: {argv[0]} was not found (it comes with util-linux / e2fsprogs)")
    try:
        proc = subprocess.run(
            [found, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise error(f"{what}: `{' '.join(argv)}` did not finish in {TOOL_TIMEOUT_S:g} s") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
        raise error(f"{what}: `{' '.join(argv)}` failed: {detail}")
    return proc


# -- what is mounted -----------------------------------------------------------------------


@dataclass(frozen=True)
class MountEntry:
    mountpoint: str
    source: str
    fstype: str
    options: tuple[str, ...]  # per mount (ro, nosuid...)
    super_options: tuple[str, ...]  # the filesystem's own (for cgroups: the controllers)

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as octal escapes.
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def mounts() -> list[MountEntry]:
    """Every mount of this process's namespace, in mount order, from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) < 6 or len(tail) < 2:
                continue
            options = tuple(fields[5].split(","))
            super_options = tuple(tail[2].split(",")) if len(tail) > 2 else ()
            out.append(MountEntry(_unescape(fields[4]), tail[1], tail[0], options, super_options))
    return out


def mount_at(path: str) -> MountEntry | None:
    """The mount on top at exactly ``path``, or ``None`` when nothing is mounted there."""
    found = None
    for entry in mounts():
        if entry.mountpoint == path:
            found = entry  # a later mount on the same point hides the earlier one
    return found


# -- mounting ------------------------------------------------------------------------------


def mount(disk: LabDisk) -> LabDisk:
    """Create and mount ``disk``; the returned copy knows its loop device."""
    Path(disk.mountpoint).mkdir(parents=True, exist_ok=True)
    if disk.fs == "tmpfs":
        options = f"size={disk.size},mode=0755,nosuid,nodev"
        run_tool(
            ["mount", "-t", "tmpfs", "-o", options, "chaos-harness", disk.mountpoint],
            f"mounting a {format_size(disk.size)} tmpfs for '{disk.service}'",
        )
        return disk
    assert disk.image is not None
    with open(disk.image, "wb") as image:
        image.truncate(disk.size)  # sparse: no disk space is used until written
    what = f"making the {format_size(disk.size)} ext4 filesystem for '{disk.service}'"
    # -m 0: no blocks reserved for root, which would hide the last 5% from a root service.
    run_tool(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard", disk.image], what)
    run_tool(
        ["mount", "-t", "ext4", "-o", "loop,nosuid,nodev", disk.image, disk.mountpoint],
        f"loop-mounting {disk.image} for '{disk.service}'",
    )
    entry = mount_at(disk.mountpoint)
    return replace(disk, loop=entry.source if entry else None)


def unmount(disk: LabDisk, busy_deadline_s: float = BUSY_DEADLINE_S) -> None:
    """Unmount ``disk``, detach its loop device and delete its image. Idempotent; works from
    the record alone (after a reboot nothing is mounted and only the image is left)."""
    if mount_at(disk.mountpoint) is not None:
        _retry_busy(
            ["umount", disk.mountpoint],
            f"unmounting the filesystem of '{disk.service}'",
            disk.mountpoint,
            busy_deadline_s,
            writing_only=False,
        )
    if disk.image is not None:
        _detach_loops(disk.image, busy_deadline_s)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(disk.image)
    with contextlib.suppress(OSError):
        os.rmdir(disk.mountpoint)  # only when empty: never delete anything else
    if disk.fiu_prefix is not None:
        # Forked children of a service under fiu-run leave their control fifos behind.
        shutil.rmtree(Path(disk.fiu_prefix).parent, ignore_errors=True)


def loops_backed_by(image: str) -> list[str]:
    """Loop devices whose backing file is ``image`` (from sysfs)."""
    target = os.path.realpath(image)
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        with contextlib.suppress(OSError):
            name = backing.read_text().strip().removesuffix(" (deleted)")
            if name == target:
                found.append(f"/dev/{backing.parent.parent.name}")
    return found


def _detach_loops(image: str, deadline_s: float) -> None:
    # `mount -o loop` sets autoclear, so unmounting normally detaches the device already,
    # possibly a moment later; detach what is still attached.
    end = time.monotonic() + deadline_s
    while True:
        left = loops_backed_by(image)
        if not left:
            return
        for device in left:
            with contextlib.suppress(LabError):
                run_tool(["losetup", "-d", device], f"detaching {device}")
        if time.monotonic() >= end:
            raise LabError(f"loop device {', '.join(left)} still backed by {image}")
        time.sleep(0.05)


def remount(
    mountpoint: str,
    mode: str,
    error: type[HarnessError] = LabError,
    busy_deadline_s: float = BUSY_DEADLINE_S,
) -> None:
    """``mount -o remount,<mode>``: ro or rw. Linux answers EBUSY to ``ro`` while a file on
    the filesystem is open for writing; that is retried briefly (a snapshot child may be
    finishing), then reported with the processes and files that hold it."""
    _retry_busy(
        ["mount", "-o", f"remount,{mode}", mountpoint],
        f"remounting {mountpoint} {'read-only' if mode == 'ro' else 'read-write'}",
        mountpoint,
        busy_deadline_s,
        writing_only=True,
        error=error,
    )


def _retry_busy(
    argv: list[str],
    what: str,
    path: str,
    deadline_s: float,
    writing_only: bool,
    error: type[HarnessError] = LabError,
) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            run_tool(argv, what, error)
            return
        except HarnessError as exc:
            if "busy" not in str(exc) or time.monotonic() >= end:
                holders = holders_of(path, writing_only)
                if "busy" in str(exc) and holders:
                    held = "open for writing" if writing_only else "open"
                    raise error(
                        f"{what}: the filesystem is busy; {'; '.join(holders)} ({held})"
                    ) from None
                raise
        time.sleep(0.05)


def holders_of(path: str, writing_only: bool) -> list[str]:
    """``redis-server (pid 12) has /x/appendonly.aof`` for every process with a file under
    ``path`` open (for writing only, with ``writing_only``), or its working directory there."""
    inside = path.rstrip("/") + "/"
    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            files = proc.open_files()
            cwd = "" if writing_only else proc.cwd()
        except psutil.Error:
            continue
        label = f"{proc.info['name']} (pid {proc.info['pid']})"
        for f in files:
            if f.path.startswith(inside) and (not writing_only or f.mode != "r"):
                found.append(f"{label} has {f.path}")
        if cwd == path or cwd.startswith(inside):
            found.append(f"{label} has its working directory in {path}")
    return found


# -- space ---------------------------------------------------------------------------------


def free_bytes(path: str) -> int:
    """Bytes available to new data on the filesystem holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(ballast: str, leave: int) -> int:
    """Grow the file ``ballast`` until at most ``leave`` bytes are free on its filesystem
    (or nothing more can be allocated); return its size. ``fallocate`` allocates without
    writing, so filling a large filesystem takes milliseconds."""
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        block = os.fstatvfs(fd).f_frsize
        size = os.fstat(fd).st_size
        chunk = 1 << 30
        for _ in range(10_000):
            st = os.fstatvfs(fd)
            excess = st.f_bavail * st.f_frsize - leave
            if excess <= 0:
                break
            step = min(excess, chunk)
            try:
                os.posix_fallocate(fd, size, step)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if step <= block:
                    break  # the filesystem's own metadata took the last blocks
                chunk = max(block, step // 2)
                continue
            size += step
        os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


# -- what the machine must have ------------------------------------------------------------


def missing(spec: DiskSpec) -> list[str]:
    """What this machine lacks to make ``spec``'s filesystem, each with how to get it."""
    problems = []
    if os.geteuid() != 0:
        problems.append("root (mounting a filesystem needs it): run the harness as root")
    needed = ["mount", "umount"]
    if spec.fs == "ext4":
        needed += ["mkfs.ext4", "losetup"]
    for name in needed:
        if tool(name) is None:
            package = "e2fsprogs" if name == "mkfs.ext4" else "mount"
            problems.append(f"{name} (Debian: apt-get install {package})")
    if spec.fs == "ext4" and not (
        Path("/dev/loop-control").exists() or any(Path("/dev").glob("loop[0-9]*"))
    ):
        problems.append("loop devices (/dev/loop-control): load the loop module (modprobe loop)")
    return problems
