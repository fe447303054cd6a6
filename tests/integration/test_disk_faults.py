"""Lab filesystems and disk faults against real redis-server processes: each fault shows
the errno Redis really gets, and every revert (in process, or from the journal after the
harness died) leaves no ballast, no read-only filesystem, no failure point, no mount and
no loop device behind."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.journal import Journal
from harness.lab import disk
from harness.lab.local import LocalLab
from harness.scenario import DiskSpec, RedisServiceSpec

from .support import REPO, alive, harness

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
