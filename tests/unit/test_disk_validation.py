"""The ``disk:`` block of a service, sizes, and the checks disk faults make on their
targets: each problem as ``file:LINE: path: message`` naming what was expected; and what
a machine lacks for them, reported by validate and the dry run before anything starts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import EXIT_ENVIRONMENT, ScenarioError
from harness.lab import blkio, disk, fiu
from harness.scenario import DiskSpec, parse_scenario
from harness.units import format_size, parse_size

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def lab(service: str, timeline: str = "", duration: str = "20s") -> str:
    """A scenario whose lab has the service ``redis`` described by ``service`` (indented
    six spaces, starting on line 5) and the ``timeline`` entries after it."""
    text = f"name: t\nduration: {duration}\nlab:\n  services:\n    redis:\n{service}"
    text += "load:\n  workload: redis.kv\n"
    if timeline:
        text += "timeline:\n" + timeline
    return text


def problems_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    return info.value.problems


def only_problem(text: str) -> str:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


# -- sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [(65536, 65536), ("64MiB", 64 << 20), ("512KiB", 512 << 10), ("1GB", 10**9), ("2 kib", 2048)],
)
def test_sizes_in_bytes_or_with_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["64 megs", "-1", "MiB", "1.2.3MiB", True])
def test_a_malformed_size_names_the_accepted_forms(text):
    with pytest.raises(ValueError, match=r"512KiB, 64MiB or 1GiB"):
        parse_size(text)


def test_sizes_are_written_in_the_largest_exact_binary_unit():
    assert [format_size(n) for n in (64 << 20, 1536 << 10, 100, 0)] == [
        "64MiB",
        "1536KiB",
        "100B",
        "0B",
    ]


# -- the disk block -----------------------------------------------------------------------


def test_a_disk_block_with_units_and_the_rdb_durability():
    text = lab("      durability: rdb\n      disk: {size: 32MiB, fs: tmpfs, io_errors: true}\n")
    service = parse_scenario(text, "s.yaml").lab.services["redis"]
    assert service.durability == "rdb"
    assert service.disk == DiskSpec(size=32 << 20, fs="tmpfs", io_errors=True)


def test_an_empty_disk_block_is_a_64mib_ext4_filesystem():
    service = parse_scenario(lab("      disk: {}\n"), "s.yaml").lab.services["redis"]
    assert service.disk == DiskSpec(size=64 << 20, fs="ext4", io_errors=False)


def test_no_disk_block_means_no_lab_filesystem():
    assert parse_scenario(lab("      kind: redis\n"), "s.yaml").lab.services["redis"].disk is None


def test_a_disk_too_small_says_the_range_in_units():
    problem = only_problem(lab("      disk:\n        size: 1MiB\n"))
    assert problem == (
        "s.yaml:7: lab.services.redis.disk.size: expected between 4MiB and 64GiB, got '1MiB'"
    )


def test_a_malformed_disk_size_points_at_its_line():
    problem = only_problem(lab("      disk:\n        size: big\n"))
    assert problem.startswith("s.yaml:7: lab.services.redis.disk.size: expected a size such as")


def test_an_unknown_filesystem_lists_the_known_ones():
    problem = only_problem(lab("      disk: {fs: xfs}\n"))
    assert problem.startswith("s.yaml:6: lab.services.redis.disk.fs: ")
    assert "'ext4' or 'tmpfs'" in problem


def test_an_unknown_disk_field_lists_the_disk_fields():
    problem = only_problem(lab("      disk: {sise: 8MiB}\n"))
    assert problem == (
        "s.yaml:6: lab.services.redis.disk.sise: unknown field 'sise' "
        "(expected one of: size, fs, io_errors)"
    )


def test_an_unknown_durability_lists_rdb_among_the_known_ones():
    problem = only_problem(lab("      durability: sometimes\n"))
    assert "'rdb'" in problem and problem.startswith("s.yaml:6: lab.services.redis.durability:")


# -- disk faults and their targets ---------------------------------------------------------


def entry(fault: str, params: str = "", at: str = "2s") -> str:
    text = f"  - at: {at}\n    for: 5s\n    fault: {fault}\n"
    return text + (f"    params: {params}\n" if params else "")


EVERYSEC_EXT4 = "      durability: everysec\n      disk: {size: 16MiB}\n"
RDB_EXT4 = "      durability: rdb\n      disk: {size: 16MiB}\n"


def test_every_disk_fault_needs_a_lab_filesystem_on_its_target():
    for kind in ("disk.fill", "disk.readonly", "disk.io_error", "disk.slow"):
        problem = only_problem(lab("      durability: rdb\n", entry(kind)))
        assert problem == (
            f"s.yaml:10: timeline.0.target: {kind} cannot act on service 'redis': it has no "
            "lab filesystem: add a disk: block to lab.services.redis (e.g. disk: {})"
        )


def test_readonly_on_a_redis_that_keeps_its_aof_open_suggests_rdb():
    problem = only_problem(lab(EVERYSEC_EXT4, entry("disk.readonly")))
    assert problem.startswith("s.yaml:11: timeline.0.target: disk.readonly cannot act on ")
    assert "keeps its AOF file open for writing" in problem
    assert "(EBUSY)" in problem
    assert problem.endswith("set lab.services.redis.durability: rdb")


def test_readonly_on_a_redis_with_rdb_is_fine():
    scenario = parse_scenario(lab(RDB_EXT4, entry("disk.readonly")), "s.yaml")
    assert scenario.plan()[0].kind == "disk.readonly"


def test_a_disk_fault_on_a_redis_that_never_writes_is_pointless():
    service = "      durability: 'off'\n      disk: {}\n"
    problem = only_problem(lab(service, entry("disk.fill")))
    assert "with durability off Redis never writes to its disk" in problem
    assert problem.endswith("set lab.services.redis.durability to rdb or everysec")


def test_io_error_needs_the_service_under_libfiu():
    problem = only_problem(lab(EVERYSEC_EXT4, entry("disk.io_error")))
    assert problem.endswith(
        "it does not run under libfiu: set lab.services.redis.disk.io_errors: true"
    )


def test_slow_needs_a_block_device():
    service = "      disk: {fs: tmpfs}\n"
    problem = only_problem(lab(service, entry("disk.slow")))
    assert "a tmpfs filesystem has no block device to throttle" in problem
    assert problem.endswith("set lab.services.redis.disk.fs: ext4")


def test_fill_takes_a_size_with_units():
    (planned,) = parse_scenario(
        lab(EVERYSEC_EXT4, entry("disk.fill", "{free_bytes: 1MiB}")), "s.yaml"
    ).plan()
    assert planned.params.free_bytes == 1 << 20


def test_io_error_params_name_what_is_expected():
    fiu_service = "      disk: {io_errors: true}\n"
    problems = problems_of(
        lab(fiu_service, entry("disk.io_error", "{errno: EWHAT, probability: 2, ops: fsync}"))
    )
    assert len(problems) == 3, problems
    by_field = {p.split(": ")[1]: p for p in problems}
    assert (
        "expected an errno name such as EIO, ENOSPC or EROFS, got 'EWHAT'"
        in (by_field["timeline.0.params.errno"])
    )
    assert "less than or equal to 1" in by_field["timeline.0.params.probability"]
    assert "'sync', 'open', 'write', 'read' or 'all'" in by_field["timeline.0.params.ops"]


def test_io_error_accepts_any_errno_name():
    fiu_service = "      disk: {io_errors: true}\n"
    text = lab(fiu_service, entry("disk.io_error", "{errno: ENOSPC, probability: 0.5, ops: all}"))
    (planned,) = parse_scenario(text, "s.yaml").plan()
    assert (planned.params.errno, planned.params.ops) == ("ENOSPC", "all")


def test_slow_needs_at_least_one_limit():
    problem = only_problem(lab(EVERYSEC_EXT4, entry("disk.slow", "{write_iops: 0}")))
    assert problem.startswith("s.yaml:14: timeline.0.params: expected at least one limit above 0")


def test_two_fills_of_one_filesystem_may_not_overlap_nor_a_fill_and_a_readonly():
    text = lab(RDB_EXT4, entry("disk.fill") + entry("disk.readonly", at="4s"))
    assert only_problem(text) == (
        "s.yaml:14: timeline.1.at: disk.readonly overlaps disk.fill (timeline item 1) "
        "on the same service"
    )


# -- what the machine lacks: validate and the dry run say so before anything starts ---------

DISK_SCENARIO = """\
name: disky
duration: 20s
lab:
  services:
    redis:
      durability: everysec
      disk: {size: 32MiB, io_errors: true}
load:
  workload: redis.kv
timeline:
  - {at: 2s, for: 5s, fault: disk.slow}
"""


@pytest.fixture
def lab_binaries(monkeypatch):
    """The preflight only checks that the lab's binaries exist and are executable."""
    monkeypatch.setenv("HARNESS_TOXIPROXY_BIN", sys.executable)
    monkeypatch.setenv("HARNESS_REDIS_SERVER_BIN", sys.executable)


@pytest.fixture
def bare_machine(monkeypatch, lab_binaries):
    """A machine without root, mkfs.ext4, losetup, libfiu and a blkio hierarchy."""
    absent = {"mkfs.ext4", "losetup", "fiu-run", "fiu-ctrl"}
    real_tool = disk.tool

    def tool(name: str) -> str | None:
        return None if name in absent else real_tool(name)

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(disk, "tool", tool)
    monkeypatch.setattr(fiu, "tool", tool)
    monkeypatch.setattr(blkio, "hierarchy", lambda: None)


@pytest.mark.parametrize(
    "command", [["scenario", "validate"], ["chaos", "run", "--dry-run"]], ids=["validate", "dry"]
)
def test_a_machine_lacking_what_disks_need_is_told_what_and_how_exit_3(
    bare_machine, tmp_path, command
):
    path = tmp_path / "disky.yaml"
    path.write_text(DISK_SCENARIO)
    result = CliRunner().invoke(app, [*command[:2], str(path), *command[2:]])
    assert result.exit_code == EXIT_ENVIRONMENT, result.output
    assert "Traceback" not in result.output
    needs = "error: this machine lacks what the scenario needs:\n"
    assert needs in result.output
    for line in (
        "service 'redis' (its disk: block) needs root (mounting a filesystem needs it)",
        "service 'redis' (its disk: block) needs mkfs.ext4 (Debian: apt-get install e2fsprogs)",
        "service 'redis' (its disk: block) needs losetup (Debian: apt-get install mount)",
        "service 'redis' (its disk: block) needs fiu-run and fiu-ctrl from libfiu "
        "(Debian: apt-get install fiu-utils)",
        "disk.slow needs the cgroup v1 blkio controller with throttling",
    ):
        assert f"\n  {line}" in result.output, line
    assert " ok (" not in result.output


def test_a_scenario_without_disks_needs_none_of_it(bare_machine):
    result = CliRunner().invoke(app, ["scenario", "validate", str(SCENARIOS / "redis-crash.yaml")])
    assert result.exit_code == 0, result.output


def test_the_plan_says_where_each_service_keeps_its_data():
    from harness.plan import render_plan

    plan = render_plan(parse_scenario(DISK_SCENARIO, "disky.yaml"))
    assert (
        "  redis: redis-server (durability everysec) on its own 32MiB loop-mounted ext4 "
        "under fiu-run -x, clients through Toxiproxy proxy 'redis'"
    ) in plan
    assert "2.00s  apply  disk.slow -> redis [f1] {'write_iops': 10" in plan
