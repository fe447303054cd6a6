"""Disk faults with real errno, on the filesystem the lab made for each target service
(a ``disk:`` block): a full filesystem (ENOSPC), a read-only one (EROFS), failing I/O
calls through libfiu (EIO or any errno), and throttled block I/O (cgroup v1 blkio).

Each revert record names exactly what the apply changes (the ballast file, the
mountpoint, the libfiu control fifo and failure points, the cgroup), so the revert runs
from the journal alone in ``harness heal`` after the harness died.
"""

from __future__ import annotations

import contextlib
import os
from abc import abstractmethod
from errno import errorcode
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from faults.base import Fault, external_problem, register
from harness.errors import FaultError
from harness.lab import blkio, disk, fiu
from harness.scenario import RedisServiceSpec
from harness.units import ByteSize

if TYPE_CHECKING:
    from harness.lab.base import Lab
    from harness.lab.disk import LabDisk
    from harness.scenario import ServiceSpec

# Redis durabilities that keep the AOF file open for writing all the time.
_AOF_OPEN = ("always", "everysec", "no")
_ERRNO = {name: code for code, name in errorcode.items()}


class _DiskFault(Fault):
    """A fault on the lab filesystem of each target."""

    needs = "root; a lab filesystem (the service's disk: block)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._record: dict[str, Any] | None = None

    def revert_record(self) -> dict[str, Any]:
        # Computed once, before the apply: the apply changes what it is computed from
        # (the process's cgroup, say), and the revert must undo exactly what was done.
        if self._record is None:
            self._record = self._make_record()
        return self._record

    @abstractmethod
    def _make_record(self) -> dict[str, Any]: ...

    def _disks(self) -> list[LabDisk]:
        return [self.target.lab.disk(name) for name in self.target_names]

    @classmethod
    def target_problem(cls, name: str, service: ServiceSpec) -> str | None:
        where = f"lab.services.{name}"
        if (why := external_problem(service, "lab filesystem")) is not None:
            return why
        if service.disk is None:
            return f"it has no lab filesystem: add a disk: block to {where} (e.g. disk: {{}})"
        if isinstance(service, RedisServiceSpec) and service.durability == "off":
            return (
                "with durability off Redis never writes to its disk: "
                f"set {where}.durability to rdb or everysec"
            )
        return None


class FillParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    free_bytes: ByteSize = Field(
        0, description="free space left on the filesystem, bytes (or 512KiB, 1MiB...)"
    )


@register
class Fill(_DiskFault):
    kind = "disk.fill"
    summary = "fill the service's filesystem with a ballast file until free_bytes are left"
    client_sees = (
        "writes that need space fail with ENOSPC: Redis refuses writes (MISCONF ... No space "
        "left on device) until the ballast is deleted at revert, then retries on its own"
    )
    params_model = FillParams

    def _make_record(self) -> dict[str, Any]:
        name = f".chaos-ballast-{self.tag}"
        return {"ballasts": [os.path.join(d.mountpoint, name) for d in self._disks()]}

    def apply(self) -> None:
        assert isinstance(self.params, FillParams)
        for ballast in self.revert_record()["ballasts"]:
            try:
                disk.fill(ballast, self.params.free_bytes)
            except OSError as exc:
                raise FaultError(f"cannot fill with {ballast}: {exc.strerror}") from None

    @classmethod
    def revert_from(cls, record: dict[str, Any], lab: Lab | None) -> None:
        for ballast in record["ballasts"]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(ballast)


@register
class ReadOnly(_DiskFault):
    kind = "disk.readonly"
    summary = "remount the service's filesystem read-only; read-write again at revert"
    client_sees = (
        "file writes fail with EROFS: Redis (durability rdb) fails its next snapshot and "
        "refuses writes (MISCONF) until a snapshot succeeds again, up to 5 s after revert"
    )
    needs = (
        "root; a lab filesystem; a service with no file open for writing "
        "(Linux refuses a read-only remount then: Redis needs durability rdb)"
    )

    def _make_record(self) -> dict[str, Any]:
        return {"mountpoints": [d.mountpoint for d in self._disks()]}

    def apply(self) -> None:
        for mountpoint in self.revert_record()["mountpoints"]:
            disk.remount(mountpoint, "ro", FaultError)

    @classmethod
    def revert_from(cls, record: dict[str, Any], lab: Lab | None) -> None:
        for mountpoint in record["mountpoints"]:
            entry = disk.mount_at(mountpoint)
            if entry is not None and entry.read_only:  # unmounted: nothing to undo
                disk.remount(mountpoint, "rw", FaultError)

    @classmethod
    def target_problem(cls, name: str, service: ServiceSpec) -> str | None:
        if (
            isinstance(service, RedisServiceSpec)
            and service.durability in _AOF_OPEN
            and service.disk is not None
        ):
            return (
                f"with durability {service.durability} Redis keeps its AOF file open for "
                "writing, and Linux refuses to remount a filesystem read-only while a file "
                f"on it is open for writing (EBUSY): set lab.services.{name}.durability: rdb"
            )
        return super().target_problem(name, service)


class IoErrorParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    errno: str = Field("EIO", description="what failing calls set errno to: EIO, ENOSPC, EROFS...")
    probability: float = Field(1.0, gt=0, le=1, description="share of calls that fail")
    ops: Literal["sync", "open", "write", "read", "all"] = Field(
        "sync",
        description="which calls fail: sync (fsync, fdatasync), open, write, read (write "
        "and read also fail on sockets and pipes: libfiu's points are per function), all",
    )

    @field_validator("errno")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in _ERRNO:
            raise ValueError(f"expected an errno name such as EIO, ENOSPC or EROFS, got {name!r}")
        return name


@register
class IoError(_DiskFault):
    kind = "disk.io_error"
    summary = "make the service's I/O calls fail with an errno, through libfiu's failure points"
    client_sees = (
        "what the service does with a failed call: Redis (everysec) refuses writes with "
        "MISCONF ... Input/output error; Redis 7.0 keeps refusing after revert until "
        "restarted (a failed fsync stays failed); with rdb it recovers at its next snapshot"
    )
    needs = "libfiu (Debian: fiu-utils); a service started under it (disk: {io_errors: true})"
    backends = ("local",)  # a container's process cannot be started under fiu-run
    params_model = IoErrorParams

    def _make_record(self) -> dict[str, Any]:
        assert isinstance(self.params, IoErrorParams)
        targets = []
        for lab_disk in self._disks():
            pid = self.target.lab.service_pid(lab_disk.service)
            fifo = None
            if lab_disk.fiu_prefix is not None and pid is not None:
                fifo = fiu.fifo(lab_disk.fiu_prefix, pid)
            # The start time tells the process from a later one that reuses its pid.
            started = _start_time(pid)
            targets.append(
                {"service": lab_disk.service, "fifo": fifo, "pid": pid, "started": started}
            )
        return {"targets": targets, "points": list(fiu.POINTS[self.params.ops])}

    def apply(self) -> None:
        assert isinstance(self.params, IoErrorParams)
        code, probability = _ERRNO[self.params.errno], self.params.probability
        record = self.revert_record()
        commands = [fiu.enable_command(p, code, probability) for p in record["points"]]
        for target in record["targets"]:
            if target["fifo"] is None:
                raise FaultError(
                    f"service '{target['service']}' is not running under fiu-run "
                    "(give it disk: {io_errors: true})"
                )
            refused = fiu.control(target["fifo"], commands)
            if refused:
                raise FaultError(f"libfiu refused: {'; '.join(refused)}")

    @classmethod
    def revert_from(cls, record: dict[str, Any], lab: Lab | None) -> None:
        commands = [f"disable name={point}" for point in record["points"]]
        for target in record["targets"]:
            if target["fifo"] is None or _start_time(target["pid"]) != target["started"]:
                continue  # a process that is gone has no failure points left
            # A refused disable is a point that is not enabled: nothing to undo.
            fiu.control(target["fifo"], commands)

    @classmethod
    def target_problem(cls, name: str, service: ServiceSpec) -> str | None:
        if service.disk is not None and not service.disk.io_errors:
            return f"it does not run under libfiu: set lab.services.{name}.disk.io_errors: true"
        return super().target_problem(name, service)


def _start_time(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


class SlowParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    write_iops: int = Field(10, ge=0, le=10_000_000, description="writes per second, 0: no cap")
    write_bytes_s: ByteSize = Field(0, description="write bytes per second (1MiB...), 0: no cap")
    read_iops: int = Field(0, ge=0, le=10_000_000, description="reads per second, 0: no cap")
    read_bytes_s: ByteSize = Field(0, description="read bytes per second, 0: no cap")

    @model_validator(mode="after")
    def _some_limit(self) -> SlowParams:
        if not (self.write_iops or self.write_bytes_s or self.read_iops or self.read_bytes_s):
            raise ValueError("expected at least one limit above 0")
        return self

    def limits(self) -> dict[str, int]:
        return {
            "write_iops": self.write_iops,
            "write_bps": self.write_bytes_s,
            "read_iops": self.read_iops,
            "read_bps": self.read_bytes_s,
        }


@register
class Slow(_DiskFault):
    kind = "disk.slow"
    summary = (
        "throttle the block I/O the service's process submits to its filesystem "
        "(cgroup v1 blkio): its fsyncs, direct I/O and uncached reads"
    )
    client_sees = (
        "slowness where the service waits for its disk: Redis with appendfsync always "
        "acknowledges at most ~write_iops writes per second (each waits for its fsync), in "
        "bursts: blk-throttle lets I/O through in time slices"
    )
    needs = "root; an ext4 lab filesystem (a loop device); the cgroup v1 blkio controller"
    backends = ("local",)  # a container's process belongs to the cgroup docker made for it
    params_model = SlowParams

    def _make_record(self) -> dict[str, Any]:
        root = blkio.hierarchy()
        groups = []
        for lab_disk in self._disks():
            pid = self.target.lab.service_pid(lab_disk.service)
            if root is None or pid is None:
                groups.append({"service": lab_disk.service, "group": None, "pid": pid})
                continue
            home = root
            with contextlib.suppress(OSError):
                home = blkio.cgroup_of(pid, root)
            # Named after the lab, so that stopping the lab removes what a fault left.
            group = (
                root / f"{blkio.group_prefix(self.target.lab.lab_id)}{self.tag}-{lab_disk.service}"
            )
            groups.append(
                {
                    "service": lab_disk.service,
                    "group": str(group),
                    "home": str(home),
                    "pid": pid,
                    "mountpoint": lab_disk.mountpoint,
                }
            )
        return {"groups": groups}

    def apply(self) -> None:
        assert isinstance(self.params, SlowParams)
        for entry in self.revert_record()["groups"]:
            if entry["group"] is None:
                raise FaultError(
                    f"cannot throttle '{entry['service']}': "
                    + ("it is not running" if entry["pid"] is None else blkio.missing()[0])
                )
            device = blkio.device_of(entry["mountpoint"])
            try:
                blkio.throttle(Path(entry["group"]), device, self.params.limits(), entry["pid"])
            except OSError as exc:
                raise FaultError(f"cannot throttle '{entry['service']}': {exc}") from None

    @classmethod
    def revert_from(cls, record: dict[str, Any], lab: Lab | None) -> None:
        for entry in record["groups"]:
            if entry["group"] is not None:
                blkio.release(Path(entry["group"]), Path(entry["home"]))

    @classmethod
    def target_problem(cls, name: str, service: ServiceSpec) -> str | None:
        if service.disk is not None and service.disk.fs != "ext4":
            return (
                f"a {service.disk.fs} filesystem has no block device to throttle: "
                f"set lab.services.{name}.disk.fs: ext4"
            )
        return super().target_problem(name, service)

    @classmethod
    def unmet_needs(cls) -> list[str]:
        return blkio.missing()
