"""Lab filesystems and disk faults against real redis-server processes: each fault shows
the errno Redis really gets, and every revert (in process, or from the journal after the
harness died) leaves no ballast, no read-only filesystem, no failure point, no mount and
no loop device behind."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from faults.base import Fault, FaultTarget, get_kind
from harness.errors import FaultError
from harness.journal import Journal
from harness.lab import blkio, disk, fiu
from harness.lab.local import LocalLab
from harness.scenario import DiskSpec, RedisServiceSpec

from .support import REPO, alive, harness, history, run_record, wait_for

pytestmark = pytest.mark.services

SMALL = 16 << 20


@contextmanager
def running_lab(
    root: Path, services: dict[str, RedisServiceSpec], journal: Journal | None = None
) -> Iterator[LocalLab]:
    lab = LocalLab(root, services, journal or Journal(root.parent / "journal.jsonl"))
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def assert_gone(lab_disk: disk.LabDisk) -> None:
    """Nothing of the filesystem is left: no mount, no loop device, no image."""
    assert disk.mount_at(lab_disk.mountpoint) is None, f"{lab_disk.mountpoint} still mounted"
    if lab_disk.image is not None:
        assert not disk.loops_backed_by(lab_disk.image), "loop device left attached"
        assert not Path(lab_disk.image).exists(), "image left behind"


# -- the lab's filesystems ------------------------------------------------------------------


def test_services_get_size_limited_filesystems_that_down_removes(tmp_path: Path) -> None:
    services = {
        "ext": RedisServiceSpec(disk=DiskSpec(size=SMALL)),
        "mem": RedisServiceSpec(disk=DiskSpec(size=8 << 20, fs="tmpfs")),
        "plain": RedisServiceSpec(),
    }
    with running_lab(tmp_path / "lab", services) as lab:
        ext, mem = lab.disk("ext"), lab.disk("mem")
        ext_mount, mem_mount = disk.mount_at(ext.mountpoint), disk.mount_at(mem.mountpoint)
        assert ext_mount is not None and ext_mount.fstype == "ext4"
        assert ext.loop is not None and ext_mount.source == ext.loop
        assert disk.loops_backed_by(str(ext.image)) == [ext.loop]
        assert mem_mount is not None and mem_mount.fstype == "tmpfs"
        # The size is the size (less the filesystem's metadata and Redis's first files).
        assert 12 << 20 < disk.free_bytes(ext.mountpoint) <= SMALL
        assert 7 << 20 < disk.free_bytes(mem.mountpoint) <= 8 << 20
        # Redis keeps its data there.
        assert (Path(ext.mountpoint) / "appendonlydir").is_dir()
        assert "plain" not in lab.disks
        record = lab.to_record()
    assert LocalLab.from_record(record).disks == {"ext": ext, "mem": mem}
    assert_gone(ext)
    assert_gone(mem)


CRASHING_LAB = """
import sys, time
from pathlib import Path
from typing import Any
from harness.journal import Journal
from harness.lab.local import LocalLab
from harness.scenario import DiskSpec, RedisServiceSpec

spec = RedisServiceSpec(disk=DiskSpec(size=16 << 20))
lab = LocalLab(Path(sys.argv[1]), {"redis": spec}, Journal())
lab.up()
print(lab.lab_id, flush=True)
time.sleep(120)
"""


def test_heal_unmounts_the_filesystem_of_a_lab_whose_harness_was_killed(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    journal = Journal(Path(harness_env["HARNESS_STATE_DIR"]) / "journal.jsonl")
    record: dict[str, Any] = {}
    argv = [sys.executable, "-c", CRASHING_LAB, str(tmp_path / "lab")]
    try:
        with subprocess.Popen(argv, cwd=REPO, env=harness_env, stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            lab_id = proc.stdout.readline().decode().strip()
            record = journal.state().labs[lab_id]["lab"]
            proc.send_signal(signal.SIGKILL)
        lab = LocalLab.from_record(record)
        left = lab.disk("redis")
        assert disk.mount_at(left.mountpoint) is not None  # the crash left it mounted
        healed = harness(["heal"], harness_env)
        assert healed.returncode == 0, healed.stderr
        assert f"stopped orphaned lab {lab_id}" in healed.stdout
        assert_gone(left)
        assert not alive(lab.processes["redis"].pid or 0)
        assert not journal.state().labs
    finally:
        if record:
            with contextlib.suppress(Exception):
                LocalLab.from_record(record).down()


# -- helpers for the faults ---------------------------------------------------------------


def client(lab: LocalLab, name: str, timeout_s: float = 2.0) -> redis.Redis:
    svc = lab.services[name]
    return redis.Redis(
        host=svc.client.host,
        port=svc.client.port,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),  # the test must see the first failure
    )


def fault(lab: LocalLab, kind: str, target: str, **params: Any) -> Fault:
    fault_cls = get_kind(kind)
    assert fault_cls is not None
    services = [lab.services[target]]
    tag = f"test{time.monotonic_ns()}"
    return fault_cls("t", FaultTarget(lab, services), fault_cls.params_model(**params), tag=tag)


@contextmanager
def applied(lab: LocalLab, kind: str, target: str, **params: Any) -> Iterator[Fault]:
    f = fault(lab, kind, target, **params)
    f.apply()
    try:
        yield f
    finally:
        f.revert()


def first_write_error(c: redis.Redis, within_s: float) -> str:
    """Write until Redis refuses a write; its error message."""
    end = time.monotonic() + within_s
    n = 0
    while time.monotonic() < end:
        n += 1
        try:
            c.set(f"probe-{n}", b"v" * 4096)
        except redis.ResponseError as exc:
            return str(exc)
        time.sleep(0.02)
    raise AssertionError(f"every write was accepted for {within_s} s")


def writes_accepted_within(c: redis.Redis, within_s: float) -> float:
    """Seconds until Redis accepts a write again."""
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < within_s:
        try:
            c.set("after", b"ok")
            return time.monotonic() - start
        except redis.ResponseError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise AssertionError(f"writes still refused {within_s} s after the revert: {last}")


def log_of(lab: LocalLab, name: str) -> str:
    return Path(lab.processes[name].log_path).read_text(errors="replace")


def fiu_points_enabled(fifo: str, points: list[str]) -> list[str]:
    """The points that were enabled (the probe disables them: libfiu refuses to disable a
    point that is not enabled, and that is how to tell)."""
    refused = fiu.control(fifo, [f"disable name={p}" for p in points])
    return [p for p in points if f"disable name={p}" not in refused]


def ext4(**kwargs: Any) -> DiskSpec:
    return DiskSpec(size=SMALL, **kwargs)


# -- disk.fill ------------------------------------------------------------------------------


@pytest.mark.parametrize("fs", ["ext4", "tmpfs"])
def test_fill_gives_redis_enospc_and_the_revert_gives_the_space_back(
    tmp_path: Path, fs: str
) -> None:
    spec = RedisServiceSpec(durability="everysec", disk=DiskSpec(size=SMALL, fs=fs))
    with running_lab(tmp_path / "lab", {"redis": spec}) as lab, client(lab, "redis") as c:
        mountpoint = lab.disk("redis").mountpoint
        c.set("before", b"x")
        with applied(lab, "disk.fill", "redis") as f:
            (ballast,) = f.revert_record()["ballasts"]
            assert Path(ballast).parent == Path(mountpoint)
            assert disk.free_bytes(mountpoint) < 64 << 10
            error = first_write_error(c, within_s=3)
        assert error.startswith("MISCONF") and "No space left on device" in error, error
        # The first failed write may be short (the last free bytes); ENOSPC follows.
        assert "writing to the AOF file" in log_of(lab, "redis")
        assert not Path(ballast).exists()
        assert disk.free_bytes(mountpoint) > 12 << 20
        # Redis retries the AOF write in its cron: no restart needed.
        assert writes_accepted_within(c, 5) < 5
        assert c.get("before") == b"x"


def test_fill_leaves_the_requested_free_space(tmp_path: Path) -> None:
    with running_lab(tmp_path / "lab", {"redis": RedisServiceSpec(disk=ext4())}) as lab:
        mountpoint = lab.disk("redis").mountpoint
        with applied(lab, "disk.fill", "redis", free_bytes="4MiB"):
            assert (4 << 20) - (64 << 10) <= disk.free_bytes(mountpoint) <= 4 << 20
        assert disk.free_bytes(mountpoint) > 12 << 20


# -- disk.readonly --------------------------------------------------------------------------


def test_readonly_fails_the_snapshot_with_erofs_and_redis_refuses_writes(tmp_path: Path) -> None:
    spec = RedisServiceSpec(durability="rdb", disk=ext4())
    with running_lab(tmp_path / "lab", {"redis": spec}) as lab, client(lab, "redis") as c:
        mountpoint = lab.disk("redis").mountpoint
        c.set("before", b"x")
        wait_for(lambda: c.info("persistence")["rdb_changes_since_last_save"] == 0, 5, "a save")
        saved_at = c.lastsave()
        with applied(lab, "disk.readonly", "redis"):
            entry = disk.mount_at(mountpoint)
            assert entry is not None and entry.read_only
            c.set("during", b"y")  # accepted: the snapshot a second later fails
            wait_for(
                lambda: c.info("persistence")["rdb_last_bgsave_status"] == "err",
                5,
                "the snapshot to fail",
            )
            assert "Read-only file system" in log_of(lab, "redis")
            assert c.lastsave() == saved_at
            error = first_write_error(c, within_s=1)
            assert error.startswith("MISCONF") and "unable to persist to disk" in error
        entry = disk.mount_at(mountpoint)
        assert entry is not None and not entry.read_only
        # Redis retries a failed snapshot 5 s later.
        assert writes_accepted_within(c, 8) < 8
        wait_for(lambda: c.lastsave() > saved_at, 8, "a snapshot after the revert")


def test_readonly_refused_while_the_aof_is_open_names_the_process_and_file(
    tmp_path: Path,
) -> None:
    spec = RedisServiceSpec(durability="everysec", disk=ext4())
    with running_lab(tmp_path / "lab", {"redis": spec}) as lab:
        mountpoint = lab.disk("redis").mountpoint
        f = fault(lab, "disk.readonly", "redis")
        with pytest.raises(FaultError) as info:
            f.apply()
        f.revert()
        message = str(info.value)
        pid = lab.service_pid("redis")
        assert f"redis-server (pid {pid}) has {mountpoint}/appendonlydir/" in message
        assert "open for writing" in message
        entry = disk.mount_at(mountpoint)
        assert entry is not None and not entry.read_only


# -- disk.io_error --------------------------------------------------------------------------


def test_io_error_fails_the_aof_fsync_with_eio_until_a_restart(tmp_path: Path) -> None:
    spec = RedisServiceSpec(durability="everysec", disk=ext4(io_errors=True))
    with running_lab(tmp_path / "lab", {"redis": spec}) as lab:
        with client(lab, "redis") as c:
            c.set("before", b"x")
            with applied(lab, "disk.io_error", "redis") as f:
                (target,) = f.revert_record()["targets"]
                error = first_write_error(c, within_s=3)
            assert error == "MISCONF Errors writing to the AOF file: Input/output error"
            # Redis sets the failed state before it logs the failure.
            logged = "Fail to fsync the AOF file: Input/output error"
            wait_for(lambda: logged in log_of(lab, "redis"), 3, "the fsync failure in the log")
            # The revert switched every failure point off...
            assert fiu_points_enabled(target["fifo"], list(fiu.POINTS["sync"])) == []
            # ...but Redis 7.0 keeps a failed fsync failed: it refuses writes until restarted.
            assert first_write_error(c, within_s=1) == error
        lab.stop_service("redis", grace_s=5)
        lab.start_service("redis")
        with client(lab, "redis") as c:
            assert writes_accepted_within(c, 2) < 2
            assert c.get("before") == b"x"


def test_io_error_with_another_errno_on_open_and_redis_recovering_by_itself(
    tmp_path: Path,
) -> None:
    spec = RedisServiceSpec(durability="rdb", disk=ext4(io_errors=True))
    with running_lab(tmp_path / "lab", {"redis": spec}) as lab, client(lab, "redis") as c:
        with applied(lab, "disk.io_error", "redis", ops="open", errno="EACCES"):
            c.set("during", b"y")  # accepted: the snapshot a second later fails
            wait_for(
                lambda: c.info("persistence")["rdb_last_bgsave_status"] == "err",
                5,
                "the snapshot to fail",
            )
            assert "for saving: Permission denied" in log_of(lab, "redis")
            assert first_write_error(c, within_s=1).startswith("MISCONF")
        # The next snapshot (Redis retries after 5 s) works: failure points are off.
        assert writes_accepted_within(c, 8) < 8


def test_io_error_on_a_service_not_under_libfiu_fails_with_a_reason(tmp_path: Path) -> None:
    with running_lab(tmp_path / "lab", {"redis": RedisServiceSpec(disk=ext4())}) as lab:
        f = fault(lab, "disk.io_error", "redis")
        with pytest.raises(FaultError, match="not running under fiu-run"):
            f.apply()
        f.revert()


# -- disk.slow ------------------------------------------------------------------------------


def writes_per_s(c: redis.Redis, times: int) -> float:
    start = time.perf_counter()
    for n in range(times):
        c.set(f"slow-{n}", b"s" * 100)
    return times / (time.perf_counter() - start)


def test_slow_caps_the_fsynced_writes_of_appendfsync_always(tmp_path: Path) -> None:
    spec = RedisServiceSpec(durability="always", disk=ext4())
    with running_lab(tmp_path / "lab", {"redis": spec}) as lab, client(lab, "redis") as c:
        pid = lab.service_pid("redis")
        root = blkio.hierarchy()
        assert pid is not None and root is not None
        home = blkio.cgroup_of(pid, root)
        # Unthrottled, an fsync on the loop device takes a few ms (more while the disk is
        # busy): well over three times the 10 writes/s cap below, either way.
        assert writes_per_s(c, 50) > 35
        with applied(lab, "disk.slow", "redis", write_iops=10) as f:
            (entry,) = f.revert_record()["groups"]
            assert blkio.cgroup_of(pid, root) == Path(entry["group"])
            # Each write is acknowledged after its own fdatasync: one write I/O each.
            assert writes_per_s(c, 15) < 13
        assert not Path(entry["group"]).exists()
        assert blkio.cgroup_of(pid, root) == home
        assert writes_per_s(c, 50) > 35


def test_stopping_the_lab_removes_a_cgroup_a_slow_fault_left(tmp_path: Path) -> None:
    # As when heal finds the lab of a fault gone and only stops what is left of it.
    spec = RedisServiceSpec(durability="always", disk=ext4())
    root = blkio.hierarchy()
    assert root is not None
    group = root
    try:
        with running_lab(tmp_path / "lab", {"redis": spec}) as lab:
            f = fault(lab, "disk.slow", "redis", write_iops=10)
            f.apply()
            group = Path(f.revert_record()["groups"][0]["group"])
            assert group.is_dir() and group.name.startswith(f"chaos-{lab.lab_id}-")
        assert not group.exists()
    finally:
        if group != root:
            blkio.release(group, root)


# -- the harness killed mid-fault ----------------------------------------------------------

HELD = """
name: disk-held
duration: 60s
lab:
  services:
    redis: {durability: everysec, disk: {size: 16MiB}}
    snap: {durability: rdb, disk: {size: 16MiB}}
    eio: {durability: everysec, disk: {size: 16MiB, io_errors: true}}
    slow: {durability: always, disk: {size: 16MiB}}
load:
  workload: redis.kv
  users: 2
  spawn_rate: 50
timeline:
  - {id: full, at: 1s, for: 50s, fault: disk.fill, target: redis}
  - {id: ro, at: 1s, for: 50s, fault: disk.readonly, target: snap}
  - {id: eio, at: 1s, for: 50s, fault: disk.io_error, target: eio}
  - {id: slow, at: 1s, for: 50s, fault: disk.slow, target: slow}
"""


def test_after_sigkill_of_the_harness_nothing_of_its_disk_faults_is_left_within_5_s(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    # The watchdog reverts the faults of the dead harness and stops its lab; the revert
    # of each kind with the lab left up is in test_watchdog_families.py.
    scenario = tmp_path / "held.yaml"
    scenario.write_text(HELD)
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "harness", "chaos", "run", str(scenario), "--out", str(out)]
    journal = Journal(Path(harness_env["HARNESS_STATE_DIR"]) / "journal.jsonl")
    record: dict[str, Any] = {}
    try:
        with subprocess.Popen(argv, cwd=REPO, env=harness_env, stderr=subprocess.DEVNULL) as proc:

            def all_applied() -> bool:
                with contextlib.suppress(FileNotFoundError):
                    done = [r for r in history(out) if r.get("action") == "apply"]
                    return len(done) == 4 and all(r["type"] == "ok" for r in done)
                return False

            wait_for(all_applied, 30, "the four disk faults to be applied")
            record = run_record(out)["lab"]
            lab = LocalLab.from_record(record)
            assert list(Path(lab.disk("redis").mountpoint).glob(".chaos-ballast-*"))
            assert (entry := disk.mount_at(lab.disk("snap").mountpoint)) and entry.read_only
            root = blkio.hierarchy()
            assert root is not None
            assert list(root.glob(f"{blkio.group_prefix(lab.lab_id)}*"))
            proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()

        wait_for(lambda: not journal.state().faults, 5, "the watchdog to revert the faults")
        assert time.monotonic() - killed < 5
        # Then it stops the lab: four Redis servers one after another, four unmounts.
        wait_for(lambda: not journal.state().labs, 15, "the watchdog to stop the lab")
        for lab_disk in lab.disks.values():
            assert_gone(lab_disk)
        assert not list(root.glob(f"{blkio.group_prefix(lab.lab_id)}*"))
        for proc_record in record["processes"].values():
            assert not alive(proc_record["pid"])
    finally:
        harness(["heal"], harness_env)
        if record:
            with contextlib.suppress(Exception):
                LocalLab.from_record(record).down()


# -- faults applied by hand to the persistent lab -------------------------------------------

LAB_WITH_A_DISK = """
name: lab
duration: 10s
lab: {services: {redis: {durability: everysec, disk: {size: 16MiB}}, bare: {}}}
load: {workload: redis.kv}
"""


def test_disk_faults_by_hand_on_the_persistent_lab(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    scenario = tmp_path / "lab.yaml"
    scenario.write_text(LAB_WITH_A_DISK)
    up = harness(["lab", "up", "--scenario", str(scenario)], harness_env)
    assert up.returncode == 0, up.stdout + up.stderr
    journal = Journal(Path(harness_env["HARNESS_STATE_DIR"]) / "journal.jsonl")
    record = next(iter(journal.state().labs.values()))["lab"]
    try:
        lab = LocalLab.from_record(record)
        mountpoint = lab.disk("redis").mountpoint
        refused = harness(["fault", "apply", "disk.fill", "--target", "bare"], harness_env)
        assert refused.returncode == 2
        assert "disk.fill cannot act on service 'bare': it has no lab filesystem" in (
            refused.stderr
        )
        refused = harness(["fault", "apply", "disk.readonly", "--target", "redis"], harness_env)
        assert refused.returncode == 2 and "durability: rdb" in refused.stderr
        applied = harness(
            ["fault", "apply", "disk.fill", "--target", "redis", "free_bytes=1MiB"], harness_env
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert disk.free_bytes(mountpoint) <= 1 << 20
        reverted = harness(["fault", "revert", "--all"], harness_env)
        assert reverted.returncode == 0, reverted.stdout + reverted.stderr
        assert disk.free_bytes(mountpoint) > 12 << 20
        assert not list(Path(mountpoint).glob(".chaos-ballast-*"))
    finally:
        down = harness(["lab", "down"], harness_env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert_gone(lab.disk("redis"))
