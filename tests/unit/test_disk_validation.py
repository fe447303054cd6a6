"""The ``disk:`` block of a service, sizes, and the checks disk faults make on their
targets: each problem as ``file:LINE: path: message`` naming what was expected."""

from __future__ import annotations

import pytest

from harness.errors import ScenarioError
from harness.scenario import DiskSpec, parse_scenario
from harness.units import format_size, parse_size


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
