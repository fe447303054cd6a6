"""``load.processes``: the split of users, spawn rate and profile stages across load
generators, its validation, and the accounting of each generator's records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.loadgroup import LoadGroup
from harness.loadproc import LoadGenerator
from harness.loadsplit import generator_rows, shares, split_evenly
from harness.profiles import Stage, stages
from harness.scenario import parse_scenario
from harness.windows import users_per_window


def scenario_text(load_extra: str, workload: str = "redis.kv", duration: str = "10s") -> str:
    return f"name: s\nduration: {duration}\nload:\n  workload: {workload}\n{load_extra}"


def only_problem(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


@pytest.mark.parametrize(
    ("total", "parts", "expected"),
    [(10, 2, [5, 5]), (7, 3, [3, 2, 2]), (1, 3, [1, 0, 0]), (0, 2, [0, 0])],
)
def test_users_are_split_as_evenly_as_possible(total: int, parts: int, expected: list[int]) -> None:
    assert split_evenly(total, parts) == expected


def test_a_sustained_load_is_split_and_the_shares_add_up_to_the_scenario() -> None:
    split = shares(7, 14.0, 2, None)
    assert [(s.name, s.prefix, s.users) for s in split] == [("g1", "g1/", 4), ("g2", "g2/", 3)]
    assert sum(s.spawn_rate for s in split) == pytest.approx(14.0)
    assert split[0].spawn_rate == pytest.approx(8.0)


def test_one_process_keeps_its_records_unprefixed() -> None:
    (only,) = shares(5, 10.0, 1, None)
    assert (only.prefix, only.users, only.spawn_rate) == ("", 5, 10.0)


def test_a_process_with_no_users_is_not_started() -> None:
    split = shares(2, 10.0, 4, None)
    assert [s.name for s in split] == ["g1", "g2"]
    assert [s.users for s in split] == [1, 1]


def test_every_stage_of_a_profile_is_split_and_adds_up() -> None:
    text = scenario_text(
        "  users: 9\n  processes: 2\n"
        "  profile: {shape: capacity, steps: [1, 5, 9], step_duration: 2s, cooldown: 1s}\n",
        duration="8s",
    )
    text += "thresholds: {p95_ms: {warning: 50}}\n"
    load = parse_scenario(text, "s.yaml").load
    whole = stages(load.profile, load.users, load.spawn_rate)
    split = shares(load.users, load.spawn_rate, load.processes, whole)
    assert len(split) == 2
    for index, stage in enumerate(whole):
        parts = [s.stages[index] for s in split if s.stages is not None]
        assert [p.start_s for p in parts] == [stage.start_s] * 2
        assert sum(p.users for p in parts) == stage.users
        assert sum(p.spawn_rate for p in parts) == pytest.approx(stage.spawn_rate)


def test_a_throughput_sweeps_rate_is_split_in_proportion_to_the_users() -> None:
    whole = [Stage(0.0, 3, 10.0, 300.0), Stage(5.0, 3, 10.0, 0.0)]
    split = shares(3, 10.0, 2, whole)
    rates = [[st.rate for st in s.stages or []] for s in split]
    assert rates == [[pytest.approx(200.0), 0.0], [pytest.approx(100.0), 0.0]]


def test_a_process_idle_in_every_stage_is_not_started() -> None:
    split = shares(1, 10.0, 3, [Stage(0.0, 1, 10.0), Stage(2.0, 0, 10.0)])
    assert [s.name for s in split] == ["g1"]


def test_processes_default_to_one() -> None:
    assert parse_scenario(scenario_text(""), "s.yaml").load.processes == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", "greater than or equal to 1"), ("65", "less than or equal to 64"), ("two", "integer")],
)
def test_processes_out_of_range_name_the_line_and_field(value: str, expected: str) -> None:
    problem = only_problem(scenario_text(f"  processes: {value}\n"))
    assert problem.startswith("s.yaml:5: load.processes:"), problem
    assert expected in problem


def test_a_workload_that_cannot_be_split_is_refused_with_its_reason() -> None:
    text = (
        "name: s\nduration: 10s\nlab:\n  services:\n    store: {kind: s3}\n"
        "load:\n  workload: s3.concurrent_access\n  target: store\n  processes: 2\n"
    )
    problem = only_problem(text)
    assert problem.startswith("s.yaml:9: load.processes:"), problem
    assert "s3.concurrent_access runs in one process" in problem
    assert "expected 1, got 2" in problem


def test_the_cli_exits_2_naming_the_field(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    path = tmp_path / "s.yaml"
    path.write_text(scenario_text("  processes: 100\n"))
    result = CliRunner().invoke(app, ["scenario", "validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "load.processes" in result.output and "Traceback" not in result.output


def op(process: str, type_: str = "ok") -> dict[str, Any]:
    return {"t_start": 1, "t_end": 2, "process": process, "op": "set", "type": type_}


def done(name: str, records: int | None, users: int = 1) -> dict[str, Any]:
    return {
        "op": "loadgen-done",
        "generator": name,
        "prefix": f"{name}/",
        "users": users,
        "ok": 2,
        "fail": 0,
        "info": 0,
        "records": records,
    }


def history_of_two() -> list[dict[str, Any]]:
    return [
        {"op": "users", "t": 1, "count": 1, "generator": "g1"},
        op("g1/u0"),
        op("g1/u0"),
        {"op": "users", "t": 1, "count": 1, "generator": "g2"},
        op("g2/u0"),
        op("g2/u0"),
        {"op": "final-read", "type": "ok", "values": {}},
        done("g1", 3),
        done("g2", 3),
    ]


def test_every_record_of_every_generator_is_accounted_for() -> None:
    rows, errors = generator_rows(history_of_two())
    assert errors == []
    assert [(r["generator"], r["records"], r["peak_users"]) for r in rows] == [
        ("g1", 3, 1),
        ("g2", 3, 1),
    ]


def test_records_missing_from_one_generator_are_an_error() -> None:
    records = [r for r in history_of_two() if not str(r.get("process", "")).startswith("g2/")]
    _, errors = generator_rows(records)
    assert errors == ["load generator g2 wrote 3 history records, the history holds 1"]


def test_a_single_unprefixed_generator_has_no_rows() -> None:
    records = [op("u0"), {**done("g1", 1), "prefix": ""}]
    assert generator_rows(records) == ([], [])


def test_the_users_column_sums_the_generators() -> None:
    records = [
        {"op": "users", "t": 100, "count": 2, "generator": "g1"},
        {"op": "users", "t": 200, "count": 3, "generator": "g2"},
        {"op": "users", "t": 1_100, "count": 1, "generator": "g1"},
    ]
    assert users_per_window(records, 0, 1e-6, 2) == [5, 4]


def test_the_live_tick_sums_counts_and_users_and_keeps_the_worst_p95(tmp_path: Path) -> None:
    gens = [LoadGenerator(tmp_path, {}, name=n) for n in ("g1", "g2")]
    gens[0].last_tick = {"ok": 10, "fail": 1, "info": 0, "users": 3, "p95_ms": 2.0}
    gens[1].last_tick = {"ok": 5, "fail": 0, "info": 2, "users": 2, "p95_ms": 7.5}
    group = LoadGroup([(s, g) for s, g in zip(shares(5, 5.0, 2, None), gens, strict=True)])
    gens[0].ticked = {"ok": 100, "fail": 1, "info": 0}
    gens[1].ticked = {"ok": 50, "fail": 0, "info": 2}
    tick = group.last_tick()
    assert {k: tick[k] for k in ("ok", "fail", "info", "users", "p95_ms", "p50_ms")} == {
        "ok": 15,
        "fail": 1,
        "info": 2,
        "users": 5,
        "p95_ms": 7.5,
        "p50_ms": None,
    }
    # Running totals for the live metrics' counters, summed over the generators.
    assert tick["totals"] == {"ok": 150, "fail": 1, "info": 2}
