"""Scenario parsing and validation: every problem is reported as ``file:LINE: path: message``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import EXIT_INVALID_INPUT, InvalidInput, ScenarioError
from harness.scenario import Scenario, load_scenario, parse_scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"

MINIMAL = """\
name: minimal
duration: 10s
load:
  workload: redis.kv
"""


def problems_of(text: str, filename: str = "s.yaml") -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, filename)
    assert info.value.problems, "a ScenarioError must list at least one problem"
    return info.value.problems


def only_problem(text: str, filename: str = "s.yaml") -> str:
    problems = problems_of(text, filename)
    assert len(problems) == 1, problems
    return problems[0]


def with_timeline(*entries: str, duration: str = "10s") -> str:
    """The minimal scenario plus a timeline; line 5 is ``timeline:``, entries follow."""
    head = f"name: t\nduration: {duration}\nload:\n  workload: redis.kv\ntimeline:\n"
    return head + "".join(entries)


# -- valid input --------------------------------------------------------------------------


def test_minimal_scenario_parses_with_defaults():
    scenario = parse_scenario(MINIMAL, "minimal.yaml")
    assert isinstance(scenario, Scenario)
    assert scenario.name == "minimal"
    assert scenario.duration == 10.0
    assert scenario.load.workload == "redis.kv"
    assert scenario.load.target == "redis"
    assert scenario.timeline == []
    assert list(scenario.lab.services) == ["redis"]


def test_durations_in_a_timeline_are_parsed_to_seconds_and_ids_assigned():
    text = with_timeline(
        "  - at: 1500ms\n    for: 2s\n    fault: network.down\n",
        "  - id: lag\n    at: 4s\n    for: 1s\n    fault: network.latency\n"
        "    params: {latency_ms: 20}\n",
    )
    plan = parse_scenario(text, "s.yaml").plan()
    assert [(p.fault_id, p.kind, p.at_s, p.revert_at_s) for p in plan] == [
        ("f1", "network.down", 1.5, 3.5),
        ("lag", "network.latency", 4.0, 5.0),
    ]
    assert plan[1].params.latency_ms == 20.0


def test_process_restart_may_omit_for():
    text = with_timeline("  - at: 2s\n    fault: process.restart\n")
    (planned,) = parse_scenario(text, "s.yaml").plan()
    assert planned.kind == "process.restart"
    assert planned.for_s == 0.0


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_shipped_scenarios_validate(name):
    scenario = load_scenario(SCENARIOS / name)
    assert scenario.name == name.removesuffix(".yaml")
    assert scenario.timeline, "the shipped scenarios are meant to inject faults"
    for planned in scenario.plan():
        assert planned.revert_at_s <= scenario.duration


# -- problems point at the right line ------------------------------------------------------


def test_unknown_top_level_field_gives_its_line_and_the_expected_fields():
    text = MINIMAL + "seed: 3\ncolour: blue\n"
    problem = only_problem(text)
    assert problem.startswith("s.yaml:6: colour: unknown field 'colour'")
    expected = re.search(r"expected one of: (.*)\)", problem)
    assert expected is not None, problem
    assert {"name", "duration", "load", "timeline", "slo"} <= set(expected.group(1).split(", "))


def test_wrong_type_points_at_the_line_of_the_field():
    text = "name: t\nduration: 10s\nload:\n  workload: redis.kv\n  users: ten\n"
    problem = only_problem(text)
    assert problem.startswith("s.yaml:5: load.users: ")
    assert "integer" in problem
    assert "'ten'" in problem


def test_wrong_type_on_a_block_value_points_at_the_key_line():
    text = "name: t\nduration: 10s\nload:\n  workload: redis.kv\n  users:\n    - 1\n"
    assert only_problem(text).startswith("s.yaml:5: load.users: ")


def test_missing_required_top_level_field():
    problem = only_problem("name: t\nload:\n  workload: redis.kv\n")
    assert problem == "s.yaml:1: (top level): missing required field 'duration'"


def test_missing_required_nested_field_points_at_its_parent():
    text = "name: t\nduration: 10s\nload:\n  users: 3\n"
    assert only_problem(text) == "s.yaml:3: load: missing required field 'workload'"


def test_unknown_fault_kind_with_its_line_and_the_known_kinds():
    text = with_timeline("  - at: 1s\n    for: 1s\n    fault: network.explode\n")
    problem = only_problem(text)
    assert problem.startswith("s.yaml:8: timeline.0.fault: unknown fault kind 'network.explode'")
    assert "network.down" in problem
    assert "process.kill" in problem


def test_fault_target_must_be_a_lab_service():
    text = with_timeline("  - at: 1s\n    for: 1s\n    fault: network.down\n    target: postgres\n")
    problem = only_problem(text)
    assert problem.startswith("s.yaml:9: timeline.0.target: no lab service named 'postgres'")
    assert "(services: redis)" in problem


def test_load_target_must_be_a_lab_service():
    text = "name: t\nduration: 10s\nload:\n  workload: redis.kv\n  target: nope\n"
    assert only_problem(text).startswith("s.yaml:5: load.target: no lab service named 'nope'")


def test_unknown_fault_param_gives_its_line_and_the_known_params():
    text = with_timeline(
        "  - at: 1s\n    for: 1s\n    fault: network.latency\n    params: {latency: 10}\n"
    )
    problem = only_problem(text)
    assert problem.startswith("s.yaml:9: timeline.0.params.latency: unknown field 'latency'")
    assert "latency_ms" in problem


def test_unknown_field_in_a_timeline_entry_lists_the_entry_fields():
    text = with_timeline("  - at: 1s\n    for: 1s\n    fault: network.down\n    bogus: 1\n")
    problem = only_problem(text)
    assert problem.startswith("s.yaml:9: timeline.0.bogus: unknown field 'bogus'")
    for field in ("id", "at", "for", "fault", "target", "params"):
        assert field in problem.split("expected one of:")[1]


def test_fault_ending_after_the_duration_is_rejected():
    text = with_timeline("  - at: 8s\n    for: 5s\n    fault: network.down\n")
    problem = only_problem(text)
    assert problem.startswith("s.yaml:6: timeline.0.at: fault ends at 13s")
    assert "duration 10s" in problem


def test_fault_ending_exactly_at_the_duration_is_accepted():
    text = with_timeline("  - at: 8s\n    for: 2s\n    fault: network.down\n")
    assert parse_scenario(text, "s.yaml").plan()[0].revert_at_s == 10.0


def test_network_down_without_for_is_rejected_but_process_restart_is_not():
    text = with_timeline(
        "  - at: 1s\n    fault: process.restart\n",
        "  - at: 3s\n    fault: network.down\n",
    )
    problem = only_problem(text)
    # The second entry starts on line 8.
    assert problem.startswith("s.yaml:8: timeline.1: missing required field 'for'")
    assert "network.down" in problem


def test_duplicate_yaml_keys_report_both_lines():
    text = MINIMAL + "seed: 1\nduration: 20s\n"
    problem = only_problem(text)
    assert problem == "s.yaml:6: duplicate key 'duration' (first defined on line 2)"


def test_duplicate_nested_yaml_keys_report_both_lines():
    text = "name: t\nduration: 10s\nload:\n  workload: redis.kv\n  users: 1\n  users: 2\n"
    assert only_problem(text) == "s.yaml:6: duplicate key 'users' (first defined on line 5)"


def test_yaml_syntax_error_gives_a_line():
    text = "name: t\nduration: 10s\nload: {workload: redis.kv\nseed: 1\ntimeline: []\n"
    problem = only_problem(text)
    assert problem.startswith("s.yaml:4: YAML syntax error")


def test_tab_indentation_is_a_syntax_error_on_its_line():
    problem = only_problem("name: t\nduration: 10s\n\tload: 1\n")
    assert problem.startswith("s.yaml:3: YAML syntax error")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_a_document_that_is_not_a_mapping_is_rejected(text):
    assert only_problem(text).startswith("s.yaml:1: expected a mapping")


def test_duplicate_fault_ids():
    text = with_timeline(
        "  - id: cut\n    at: 1s\n    for: 1s\n    fault: network.down\n",
        "  - id: cut\n    at: 3s\n    for: 1s\n    fault: network.down\n",
    )
    assert only_problem(text) == "s.yaml:10: timeline.1.id: duplicate fault id 'cut'"


def test_explicit_id_colliding_with_an_assigned_id_is_a_duplicate():
    text = with_timeline(
        "  - id: f2\n    at: 1s\n    for: 1s\n    fault: network.down\n",
        "  - at: 3s\n    for: 1s\n    fault: network.down\n",
    )
    assert "duplicate fault id 'f2'" in only_problem(text)


def test_load_params_out_of_range():
    text = "name: t\nduration: 10s\nload:\n  workload: redis.kv\n  params:\n    write_ratio: 2\n"
    problem = only_problem(text)
    assert problem.startswith("s.yaml:6: load.params.write_ratio: ")
    assert "less than or equal to 1" in problem


def test_unknown_load_param_lists_the_workload_params():
    text = "name: t\nduration: 10s\nload:\n  workload: redis.kv\n  params: {ratio: 1}\n"
    problem = only_problem(text)
    assert problem.startswith("s.yaml:5: load.params.ratio: unknown field 'ratio'")
    assert "write_ratio" in problem


def test_every_problem_is_reported_not_just_the_first():
    text = "name: t\nduration: 10s\ncolour: 1\nload:\n  workload: redis.kv\n  users: ten\n"
    problems = problems_of(text)
    assert sorted(p.split(":")[1] for p in problems) == ["3", "6"]


def test_problems_match_the_documented_format():
    text = with_timeline(
        "  - at: 1s\n    for: 20s\n    fault: network.down\n    target: [redis, db]\n"
    )
    problems = problems_of(text, "dir/my file.yaml")
    assert len(problems) == 2
    for problem in problems:
        assert re.match(r"^dir/my file\.yaml:\d+: [\w.]+: \S", problem), problem


def test_scenario_error_is_invalid_input_with_exit_code_2():
    with pytest.raises(InvalidInput) as info:
        parse_scenario("name: t\n", "s.yaml")
    assert info.value.exit_code == EXIT_INVALID_INPUT
    assert info.value.path == "s.yaml"


def test_load_scenario_reports_an_unreadable_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(missing)
    assert info.value.problems == [f"{missing}: cannot read the file: No such file or directory"]


def test_load_scenario_uses_the_path_in_problems(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\nduration: 10s\nload:\n  workload: redis.kv\n  users: 0\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems[0].startswith(f"{path}:5: load.users: ")


# -- the CLI -------------------------------------------------------------------------------

BAD = "name: t\nduration: 10s\nload:\n  workload: redis.kv\n  users: ten\n"


@pytest.fixture
def bad_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


@pytest.fixture
def lab_binaries(monkeypatch):
    """The dry-run preflight only checks that the binaries exist and are executable."""
    monkeypatch.setenv("HARNESS_TOXIPROXY_BIN", sys.executable)
    monkeypatch.setenv("HARNESS_REDIS_SERVER_BIN", sys.executable)


def test_cli_validate_bad_file_exits_2_with_file_and_line(bad_file):
    result = CliRunner().invoke(app, ["scenario", "validate", str(bad_file)])
    assert result.exit_code == EXIT_INVALID_INPUT
    assert f"{bad_file}:5: load.users:" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_validate_good_file_exits_0(lab_binaries):
    result = CliRunner().invoke(
        app, ["scenario", "validate", str(SCENARIOS / "redis-partition.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "ok (redis-partition, 3 faults, 45s)" in result.output


def test_cli_dry_run_of_a_bad_file_exits_2(bad_file, lab_binaries):
    result = CliRunner().invoke(app, ["chaos", "run", str(bad_file), "--dry-run"])
    assert result.exit_code == EXIT_INVALID_INPUT
    assert f"{bad_file}:5:" in result.output
    assert "Traceback" not in result.output


def test_cli_dry_run_prints_the_plan_with_apply_and_revert_times(lab_binaries):
    result = CliRunner().invoke(
        app, ["chaos", "run", str(SCENARIOS / "redis-partition.yaml"), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    for line in (
        "0.00s  load starts",
        "8.00s  apply  network.down -> redis [partition]",
        "13.00s  revert network.down -> redis [partition]",
        "20.00s  apply  network.latency -> redis [slow]",
        "26.00s  revert network.latency -> redis [slow]",
        "32.00s  apply  network.blackhole -> redis [blackhole]",
        "37.00s  revert network.blackhole -> redis [blackhole]",
        "45.00s  load stops",
    ):
        assert line in out, f"{line!r} not in plan:\n{out}"
    assert "checks: integrity" in out
    # Events come out in time order.
    times = [float(m) for m in re.findall(r"^\s+(\d+\.\d\d)s  ", out, re.MULTILINE)]
    assert times == sorted(times)
    assert len(times) == 8


def test_cli_dry_run_without_redis_server_exits_3_without_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_TOXIPROXY_BIN", sys.executable)
    monkeypatch.setenv("HARNESS_REDIS_SERVER_BIN", str(tmp_path / "no-such-redis-server"))
    result = CliRunner().invoke(
        app, ["chaos", "run", str(SCENARIOS / "redis-partition.yaml"), "--dry-run"]
    )
    assert result.exit_code == 3
    assert "redis-server was not found" in result.output
    assert "Traceback" not in result.output


def test_cli_dry_run_applies_an_instantaneous_fault_before_reverting_it(lab_binaries):
    result = CliRunner().invoke(
        app, ["chaos", "run", str(SCENARIOS / "redis-crash.yaml"), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "[restart]" in line]
    assert [line.split()[1] for line in lines] == ["apply", "revert"], lines


def test_an_unparseable_duration_names_the_accepted_forms():
    text = with_timeline("  - at: soon\n    for: 1s\n    fault: network.down\n")
    problem = only_problem(text)
    assert problem.startswith("s.yaml:6: timeline.0.at: ")
    assert "500ms, 30s or 2m" in problem
    assert "'soon'" in problem


# -- checks added after review ------------------------------------------------------------


def test_two_partitions_of_one_service_may_not_overlap():
    text = with_timeline(
        "  - {at: 1s, for: 3s, fault: network.down}\n",
        "  - {at: 2s, for: 3s, fault: network.down}\n",
    )
    assert only_problem(text) == (
        "s.yaml:7: timeline.1.at: network.down overlaps network.down (timeline item 1) "
        "on the same service"
    )


def test_a_kill_and_a_restart_of_one_service_may_not_overlap_but_a_partition_may():
    text = with_timeline(
        "  - {at: 1s, for: 3s, fault: process.kill}\n",
        "  - {at: 2s, fault: process.restart}\n",
        "  - {at: 2s, for: 3s, fault: network.down}\n",
    )
    (problem,) = problems_of(text)
    assert problem.startswith("s.yaml:7: timeline.1.at: process.restart overlaps process.kill")


def test_non_finite_and_empty_values_are_rejected():
    problems = problems_of(
        with_timeline("  - {at: .nan, for: .inf, fault: network.down, target: []}\n")
    )
    assert any("timeline.0.at: expected a finite, non-negative duration" in p for p in problems)
    assert any("timeline.0.for: expected a finite" in p for p in problems)
    assert any("timeline.0.target" in p and "at least 1 item" in p for p in problems)


def test_a_service_listed_twice_in_one_fault_is_rejected():
    text = with_timeline("  - {at: 1s, for: 1s, fault: network.latency, target: [redis, redis]}\n")
    assert only_problem(text) == "s.yaml:6: timeline.0.target: a service is listed twice"


def test_service_names_must_be_plain_names():
    text = MINIMAL + "lab:\n  services:\n    '../x y': {kind: redis}\n"
    problems = problems_of(text)
    assert any(
        p.startswith("s.yaml:7: lab.services.../x y: expected a name of lowercase")
        for p in problems
    ), problems


def test_a_window_too_small_for_the_duration_is_rejected():
    text = MINIMAL.replace("10s", "100h") + "recovery: {window: 1ms}\n"
    (problem,) = problems_of(text)
    assert problem.startswith("s.yaml:5: recovery.window: 360000000 windows of 1ms over 360000s")


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: x\ndescription: caf\xe9\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems == [f"{path}:2: not UTF-8 text (byte 0xe9)"]


def test_chaos_run_refuses_an_out_directory_that_holds_files(tmp_path):
    (tmp_path / "old").write_text("x")
    result = CliRunner().invoke(
        app, ["chaos", "run", str(SCENARIOS / "redis-crash.yaml"), "--out", str(tmp_path)]
    )
    assert result.exit_code == EXIT_INVALID_INPUT
    assert "is not empty" in result.output


def test_process_kill_params_are_checked_with_clear_messages():
    problems = problems_of(
        with_timeline(
            "  - {at: 1s, for: 1s, fault: process.kill, params: {signal: HUP}}\n",
            "  - {at: 3s, for: 1s, fault: process.kill, params: {restart_after: 0s}}\n",
            "  - {at: 5s, for: 1s, fault: process.kill, params: {restart_after: soon}}\n",
        )
    )
    assert problems == [
        "s.yaml:6: timeline.0.params.signal: expected 'KILL', 'TERM' or 'INT', got 'HUP'",
        "s.yaml:7: timeline.1.params.restart_after: expected greater than 0, got '0s'",
        "s.yaml:8: timeline.2.params.restart_after: expected a duration such as 500ms, 30s "
        "or 2m, got 'soon'",
    ]


def test_a_pause_needs_a_duration_and_may_not_overlap_another_process_fault():
    assert only_problem(with_timeline("  - {at: 1s, fault: process.pause}\n")) == (
        "s.yaml:6: timeline.0: missing required field 'for' (how long process.pause stays "
        "applied, e.g. for: 5s)"
    )
    text = with_timeline(
        "  - {at: 1s, for: 3s, fault: process.pause}\n",
        "  - {at: 2s, for: 1s, fault: process.stop}\n",
    )
    assert only_problem(text).startswith(
        "s.yaml:7: timeline.1.at: process.stop overlaps process.pause"
    )


S3_LAB = """
name: s3
duration: 5s
lab:
  services:
    redis: {{}}
    store: {store}
load: {{workload: redis.kv}}
"""


def test_an_s3_service_takes_its_kind_and_a_bucket():
    scenario = parse_scenario(S3_LAB.format(store="{kind: s3, bucket: my-bucket}"), "s.yaml")
    store = scenario.lab.services["store"]
    assert (store.kind, store.bucket) == ("s3", "my-bucket")  # type: ignore[union-attr]
    assert scenario.lab.services["redis"].kind == "redis"


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("{kind: mysql}", "s.yaml:7: lab.services.store: expected kind: redis or s3"),
        (
            "{kind: s3, durability: always}",
            "s.yaml:7: lab.services.store.durability: unknown field 'durability' "
            "(expected one of: kind, bucket, disk)",
        ),
        ("{kind: s3, bucket: Bad_Name}", "lab.services.store.bucket: expected an S3 bucket name"),
        ("{kind: s3, disk: {io_errors: true}}", "libfiu's preload cannot intercept"),
    ],
)
def test_s3_service_mistakes_are_explained(store, expected):
    assert expected in only_problem(S3_LAB.format(store=store))


S3_LOAD = """\
name: s3
duration: 5s
lab:
  services:
    store: {{kind: s3}}
load:
  workload: {workload}
  target: store
  params: {params}
"""


@pytest.mark.parametrize(
    ("workload", "users", "spawn_rate"),
    [("s3.small_objects", 20, 5), ("s3.mixed", 15, 3), ("s3.concurrent_access", 50, 10)],
)
def test_each_s3_workload_has_its_own_default_users_and_spawn_rate(workload, users, spawn_rate):
    scenario = parse_scenario(S3_LOAD.format(workload=workload, params="{}"), "s.yaml")
    assert (scenario.load.users, scenario.load.spawn_rate) == (users, spawn_rate)
    assert scenario.workload_params().record


def test_s3_workload_defaults_follow_the_usual_s3_stress_mixes():
    mixed = parse_scenario(S3_LOAD.format(workload="s3.mixed", params="{}"), "s.yaml")
    params = mixed.workload_params()
    assert [(c.name, c.min, c.max, c.weight) for c in params.sizes] == [
        ("small", 1000, 100_000, 60),
        ("medium", 100_000, 10_000_000, 30),
        ("large", 10_000_000, 100_000_000, 10),
    ]
    assert params.mix.weights() == {"put": 50, "get": 35, "list": 10, "delete": 5}
    assert (params.multipart_threshold, params.part_size) == (8 << 20, 8 << 20)
    text = S3_LOAD.format(
        workload="s3.small_objects", params="{sizes: [{name: one, min: 1MiB, max: 1MiB}]}"
    )
    small = parse_scenario(text, "s.yaml").workload_params()
    assert [(c.min, c.max) for c in small.sizes] == [(1 << 20, 1 << 20)]
    assert small.mix.weights() == {"put": 70, "get": 20, "delete": 10}


@pytest.mark.parametrize(
    ("workload", "params", "expected"),
    [
        (
            "s3.mixed",
            "{sizes: [{name: big, min: 10MiB, max: 1MiB}]}",
            "s.yaml:9: load.params.sizes.0: size class big: min 10MiB is above max 1MiB",
        ),
        ("s3.mixed", "{part_size: 1MiB}", "load.params.part_size: expected between 5MiB and 5GiB"),
        ("s3.small_objects", "{mix: {get: 1}}", "the mix needs a put weight above 0"),
        ("s3.concurrent_access", "{mix: {delete: 1}}", "unknown field 'delete'"),
        (
            "s3.concurrent_access",
            "{mix: {get: 0, list: 0, put: 0}}",
            "at least one of get, list, put needs a weight above 0",
        ),
        ("s3.mixed", "{sizes: []}", "load.params.sizes: List should have at least 1 item"),
    ],
)
def test_s3_workload_parameter_mistakes_are_explained(workload, params, expected):
    assert expected in only_problem(S3_LOAD.format(workload=workload, params=params))


def test_an_s3_workload_needs_an_s3_service():
    text = S3_LOAD.format(workload="s3.mixed", params="{}").replace("target: store", "")
    text = text.replace("store: {kind: s3}", "redis: {}\n    store: {kind: s3}")
    assert "load.target: workload s3.mixed needs a service of kind s3" in only_problem(text)


STREAMS = """\
name: st
duration: 5s
load:
  workload: redis.streams
  params: {params}
checks: {checks}
"""


def test_a_streams_scenario_takes_its_defaults_and_the_delivery_check():
    scenario = parse_scenario(STREAMS.format(params="{}", checks="{delivery: {}}"), "s.yaml")
    assert (scenario.load.users, scenario.load.spawn_rate) == (8, 20)
    assert scenario.checks.delivery is not None
    assert scenario.checks.delivery.drain_deadline == 15.0


@pytest.mark.parametrize(
    ("params", "checks", "expected"),
    [
        (
            "{}",
            "{integrity: {}}",
            "s.yaml:6: checks.integrity: redis.streams is checked by delivery: {} instead",
        ),
        (
            "{op_timeout: 100ms, block: 200ms}",
            "{delivery: {}}",
            "load.params: op_timeout (0.1s) must be longer than block (0.2s)",
        ),
        ("{producer_share: 1}", "{}", "load.params.producer_share: expected less than 1"),
    ],
)
def test_streams_mistakes_are_explained(params, checks, expected):
    assert expected in only_problem(STREAMS.format(params=params, checks=checks))


def test_the_delivery_check_needs_a_messaging_workload():
    text = MINIMAL + "checks: {delivery: {}}\n"
    assert (
        "checks.delivery: needs a messaging workload (redis.streams, redis.pubsub)"
        in only_problem(text)
    )


PUBSUB = """name: p
duration: 5s
load: {{workload: redis.pubsub, params: {params}}}
checks: {checks}
"""


def test_a_pubsub_scenario_takes_its_defaults_and_a_loss_threshold():
    scenario = parse_scenario(
        PUBSUB.format(params="{channels: 3}", checks="{delivery: {max_loss_ratio: 0.01}}"), "p.yaml"
    )
    assert (scenario.load.users, scenario.load.spawn_rate) == (8, 20)
    assert scenario.checks.delivery is not None
    assert scenario.checks.delivery.max_loss_ratio == 0.01
    assert scenario.checks.delivery.stop_grace == 0.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            PUBSUB.format(params="{}", checks="{integrity: {}}"),
            "p.yaml:4: checks.integrity: redis.pubsub is checked by delivery: {} instead",
        ),
        (
            PUBSUB.format(params="{}", checks="{delivery: {max_loss_ratio: 2}}"),
            "checks.delivery.max_loss_ratio: expected less than or equal to 1, got 2",
        ),
        (
            PUBSUB.format(params="{channels: 0}", checks="{}"),
            "load.params.channels: expected greater than or equal to 1, got 0",
        ),
        (
            STREAMS.format(params="{}", checks="{delivery: {max_loss_ratio: 0.1}}"),
            "checks.delivery.max_loss_ratio: redis.streams delivers at least once: any loss "
            "fails; max_loss_ratio is for redis.pubsub",
        ),
    ],
)
def test_pubsub_mistakes_are_explained(text, expected):
    assert expected in only_problem(text, "p.yaml")
