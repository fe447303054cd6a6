"""Scenario validation of the HTTP service kind and the HTTP workloads: every problem
is ``file:LINE: path: message``, and the CLI exits 2 without a traceback."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import EXIT_INVALID_INPUT, ScenarioError
from harness.scenario import parse_scenario
from harness.workloads.http_params import RequestContext, compile_template

HTTP = """\
name: h
duration: 5s
lab:
  services:
    redis: {{kind: redis}}
    app: {{kind: http, redis: {backend}}}
load:
  workload: http.users
  target: app
  params:
    classes:
      guest:
        weight: 3
        wait_time: {wait}
        tasks:
          - {task}
"""
GOOD_TASK = "{method: GET, path: /health}"


def problems(
    backend: str = "redis", wait: str = "{constant: 1s}", task: str = GOOD_TASK
) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(HTTP.format(backend=backend, wait=wait, task=task), "h.yaml")
    return info.value.problems


def test_a_valid_http_scenario_parses() -> None:
    text = HTTP.format(backend="redis", wait="{between: [100ms, 1s]}", task=GOOD_TASK)
    scenario = parse_scenario(text, "h.yaml")
    (guest,) = scenario.workload_params().classes.values()  # type: ignore[attr-defined]
    assert guest.wait_time.between == (0.1, 1.0) and guest.tasks[0].label == "GET /health"


def test_the_app_must_name_a_redis_service_of_the_lab() -> None:
    (problem,) = problems(backend="nowhere")
    assert problem.startswith("h.yaml:6: lab.services.app.redis: expected the name of a kind")
    assert "redis services: redis" in problem and "'nowhere'" in problem


def test_wait_time_needs_exactly_one_kind() -> None:
    (problem,) = problems(wait="{constant: 1s, constant_throughput: 2}")
    assert problem.startswith("h.yaml:14: load.params.classes.guest.wait_time: ")
    assert "exactly one of constant, between, constant_throughput" in problem


def test_between_must_be_ordered() -> None:
    (problem,) = problems(wait="{between: [2s, 1s]}")
    assert problem.startswith("h.yaml:14: load.params.classes.guest.wait_time")
    assert "low <= high" in problem


@pytest.mark.parametrize(
    ("task", "field", "expected"),
    [
        ("{method: GET, path: health}", "path", "a path starting with /"),
        ("{method: BREW, path: /}", "method", "'GET', 'POST'"),
        ("{path: /, expect: 700}", "expect", "less than or equal to 599"),
        ("{path: '/x?n={{nope}}'}", "path", "unknown generator 'nope'"),
        ("{path: /, method: POST, body: {n: '{{random_int(5,1)}}'}}", "", "two integers A <= B"),
        ("{path: /, weight: 0}", "weight", "greater than 0"),
        ("{path: /, colour: red}", "colour", "unknown field 'colour'"),
    ],
)
def test_bad_tasks_are_named_with_their_line(task: str, field: str, expected: str) -> None:
    found = problems(task=task)
    where = "h.yaml:16: load.params.classes.guest.tasks.0" + (f".{field}" if field else "")
    assert any(p.startswith(where) and expected in p for p in found), found


def test_a_class_needs_a_weight_and_tasks() -> None:
    text = HTTP.format(backend="redis", wait="{constant: 1s}", task=GOOD_TASK)
    text = text.replace("        weight: 3\n", "").replace(
        "          - {method: GET, path: /health}\n", ""
    )
    text = text.replace("        tasks:\n", "        tasks: []\n")
    found = parse_problems(text)
    assert any(
        "h.yaml:12: load.params.classes.guest: missing required field 'weight'" in p for p in found
    )
    assert any(p.startswith("h.yaml:14: load.params.classes.guest.tasks") for p in found), found


def parse_problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "h.yaml")
    return info.value.problems


def test_the_cli_exits_2_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "h.yaml"
    path.write_text(HTTP.format(backend="redis", wait="{constant: 1s}", task="{path: nope}"))
    result = CliRunner().invoke(app, ["scenario", "validate", str(path)])
    assert result.exit_code == EXIT_INVALID_INPUT
    assert f"{path}:16: load.params.classes.guest.tasks.0.path" in result.output
    assert "Traceback" not in result.output


def test_templates_fill_every_generator() -> None:
    fill = compile_template(
        "{{seq}}|{{uuid}}|{{random_int(3,3)}}|{{random_string(5)}}|{{user_class}}|{{user}}"
    )
    ctx = RequestContext(random.Random(1), "guest", "guest0", seq=4)
    seq, uid, number, text, user_class, user = fill(ctx).split("|")
    assert (seq, number, user_class, user) == ("4", "3", "guest", "guest0")
    assert len(uid) == 36 and len(text) == 5 and text.isalnum()
