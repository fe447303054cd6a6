"""Load profiles: the stages each shape promises, their validation, and the overrides of
duration and users from the command line and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import EXIT_INVALID_INPUT, ScenarioError
from harness.overrides import Override, gather
from harness.profiles import Stage, expected_users, stages
from harness.scenario import parse_scenario

HEAD = "name: p\nduration: {duration}\nload:\n  workload: redis.kv\n  users: 10\n"


def scenario(profile: str, duration: str = "20s", extra: str = "", overrides=()):
    text = HEAD.format(duration=duration) + f"  profile: {profile}\n" + extra
    return parse_scenario(text, "p.yaml", overrides)


def problems(profile: str, duration: str = "20s", extra: str = "", overrides=()) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        scenario(profile, duration, extra, overrides)
    return info.value.problems


SWEEP_WARNING = "thresholds: {p95_ms: {warning: 10}}\n"


# -- what each shape promises ---------------------------------------------------------------


def test_sustained_is_the_default_all_users_all_along():
    s = parse_scenario(HEAD.format(duration="5s"), "p.yaml")
    assert s.load.profile is None
    assert stages(None, 10, 10.0) == [Stage(0.0, 10, 10.0)]


def test_ramp_up_spawns_all_users_over_the_ramp():
    s = scenario("{shape: ramp_up, ramp: 5s}")
    assert stages(s.load.profile, 10, 10.0) == [Stage(0.0, 10, 2.0)]


def test_spike_goes_from_base_to_users_and_back():
    s = scenario("{shape: spike, base_users: 2, at: 5s, for: 3s}")
    plan = stages(s.load.profile, 10, 10.0)
    assert [expected_users(plan, t) for t in (0, 4.9, 5, 7.9, 8, 19)] == [2, 2, 10, 10, 2, 2]
    assert plan[1].spawn_rate == 100  # into the spike fast


def test_soak_ramps_then_holds():
    s = scenario("{shape: soak}", duration="10m")
    assert stages(s.load.profile, 10, 10.0) == [Stage(0.0, 10, 10 / 30)]


def test_capacity_steps_with_cooldowns_give_the_duration():
    s = scenario(
        "{shape: capacity, steps: [2, 4, 8], step_duration: 4s, cooldown: 1s}",
        duration="14s",
        extra=SWEEP_WARNING,
    )
    plan = stages(s.load.profile, 10, 10.0)
    assert [(st.start_s, st.users) for st in plan] == [(0, 2), (4, 0), (5, 4), (9, 0), (10, 8)]
    assert s.load.profile.step_spans() == [(0, 4), (5, 9), (10, 14)]


def test_a_sweep_without_duration_lasts_its_steps():
    text = "name: p\nload:\n  workload: redis.streams\n"
    text += "  profile: {shape: throughput, rates: [100, 200], step_duration: 3s}\n"
    s = parse_scenario(text + SWEEP_WARNING, "p.yaml")
    assert s.duration == 6
    plan = stages(s.load.profile, 8, 20.0)
    assert [(st.start_s, st.users, st.rate) for st in plan] == [(0, 8, 100), (3, 8, 200)]


# -- validation -------------------------------------------------------------------------------


def test_unknown_shape_and_fields_are_named_with_their_line():
    (problem,) = problems("{shape: wave}")
    assert problem.startswith("p.yaml:6: load.profile: expected shape: sustained, ramp_up")
    (problem,) = problems("{shape: ramp_up, rampe: 3s}")
    assert "p.yaml:6: load.profile.rampe: unknown field 'rampe' (expected one of: shape, ramp)" in (
        problem
    )


def test_ramp_and_spike_must_fit_the_duration_and_spike_above_base():
    (problem,) = problems("{shape: ramp_up, ramp: 30s}")
    assert "load.profile.ramp: the ramp (30s) is longer than the scenario's duration 20s" in problem
    found = problems("{shape: spike, base_users: 10, at: 15s, for: 10s}")
    assert any("load.profile.at: the spike ends at 25s, after" in p for p in found)
    assert any("load.profile.base_users: expected fewer than load.users (10" in p for p in found)


def test_sweep_steps_must_increase_and_settle_fit_a_step():
    (problem,) = problems("{shape: capacity, steps: [4, 2]}", extra=SWEEP_WARNING)
    assert "steps must increase from step to step, got [4, 2]" in problem
    (problem,) = problems("{shape: capacity, steps: [2], step_duration: 1s}", extra=SWEEP_WARNING)
    assert "settle (1s) must be shorter than step_duration (1s)" in problem


def test_a_sweep_needs_a_warning_threshold_and_its_own_duration():
    found = problems("{shape: capacity, steps: [2, 4], step_duration: 5s}")
    assert any("needs a warning threshold for p95_ms, p99_ms or error_rate" in p for p in found)
    assert any(
        "p.yaml:2: duration: a capacity sweep lasts its steps and cooldowns, 10s" in p
        for p in found
    )


def test_bad_threshold_bands_are_explained():
    found = problems(
        "{shape: sustained}",
        extra="thresholds:\n  p95_ms: {warning: 50, critical: 5}\n  error_rate: {}\n",
    )
    assert "p.yaml:8: thresholds.p95_ms: warning (50) must not be above critical (5)" in found[0]
    assert "thresholds.error_rate: expected warning, critical or both" in found[1]


def test_a_throughput_sweep_paces_only_redis_workloads():
    text = (
        "name: p\nlab:\n  services:\n    store: {kind: s3}\nload:\n  workload: s3.mixed\n"
        "  target: store\n  profile: {shape: throughput, rates: [10], step_duration: 3s}\n"
    )
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text + SWEEP_WARNING, "p.yaml")
    assert any(
        "a throughput sweep paces redis.kv or redis.streams" in p for p in info.value.problems
    )


# -- overrides --------------------------------------------------------------------------------


def test_flags_win_over_environment():
    env = {"HARNESS_DURATION": "1m", "HARNESS_USERS": "7"}
    assert gather("30s", None, env) == [
        Override("duration", "30s", "--duration"),
        Override("users", "7", "HARNESS_USERS"),
    ]
    assert gather(None, None, {"HARNESS_USERS": " "}) == []


def test_overrides_set_duration_and_users_and_rescale_a_capacity_sweep():
    s = scenario("{shape: ramp_up, ramp: 5s}", overrides=[Override("duration", "2m", "--duration")])
    assert s.duration == 120
    sweep = "{shape: capacity, steps: [5, 10, 20], step_duration: 4s, cooldown: 1s}"
    s = scenario(
        sweep,
        duration="14s",
        extra=SWEEP_WARNING,
        overrides=[
            Override("users", "40", "--users"),
            Override("duration", "32s", "HARNESS_DURATION"),
        ],
    )
    assert s.load.profile.steps == [10, 20, 40]
    assert s.load.profile.step_duration == 10 and s.duration == 32


def test_bad_overrides_name_themselves():
    (problem,) = problems(
        "{shape: sustained}", overrides=[Override("users", "many", "HARNESS_USERS")]
    )
    assert problem == "HARNESS_USERS=many: expected a whole number of users, got 'many'"
    (problem,) = problems("{shape: sustained}", overrides=[Override("users", "0", "--users")])
    assert (
        problem
        == "p.yaml: load.users: expected greater than or equal to 1, got 0 (set by --users 0)"
    )
    (problem,) = problems(
        "{shape: sustained}", overrides=[Override("duration", "soon", "--duration")]
    )
    assert "p.yaml: duration: expected a duration such as 500ms" in problem
    assert problem.endswith("(set by --duration soon)")


def test_a_fault_that_no_longer_fits_names_the_duration_override():
    timeline = "timeline:\n  - {at: 8s, for: 5s, fault: network.down}\n"
    (problem,) = problems(
        "{shape: sustained}", extra=timeline, overrides=[Override("duration", "10s", "--duration")]
    )
    assert problem.startswith("p.yaml:8: timeline.0.at: fault ends at 13s, after the scenario's")
    assert problem.endswith("(duration set by --duration 10s)")


def test_a_sweep_too_short_for_its_settle_times_is_refused():
    sweep = "{shape: capacity, steps: [2, 4], step_duration: 4s, cooldown: 1s}"
    (problem,) = problems(
        sweep,
        duration="9s",
        extra=SWEEP_WARNING,
        overrides=[Override("duration", "3s", "--duration")],
    )
    assert problem.startswith("--duration 3s: leaves each of the 2 steps 1s after the cooldowns")


def test_cli_overrides_exit_2_and_the_dry_run_shows_the_profile(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD.format(duration="10s") + "  profile: {shape: ramp_up, ramp: 4s}\n")
    runner = CliRunner()
    result = runner.invoke(app, ["chaos", "run", str(path), "--dry-run", "--users", "x"])
    assert result.exit_code == EXIT_INVALID_INPUT
    assert "--users x: expected a whole number of users" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(
        app, ["chaos", "run", str(path), "--dry-run"], env={"HARNESS_USERS": "6"}
    )
    assert "profile: ramp_up" in result.output and "6 users (at 1.5/s)" in result.output
    result = runner.invoke(
        app,
        ["scenario", "validate", str(path), "--duration", "2s"],
        env={"HARNESS_DURATION": "1h"},
    )
    assert result.exit_code == EXIT_INVALID_INPUT
    assert "the ramp (4s) is longer than the scenario's duration 2s" in result.output
