"""``checks.trends`` in a scenario: defaults, and bad bands or services as file:line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import EXIT_INVALID_INPUT, ScenarioError
from harness.scenario import parse_scenario

HEAD = "name: t\nduration: 30s\nload:\n  workload: redis.kv\nchecks:\n  trends:\n"


def problems(body: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(HEAD + body, "s.yaml")
    return info.value.problems


def test_trends_default_bands_and_segment():
    spec = parse_scenario(HEAD.replace("trends:\n", "trends: {}\n"), "s.yaml").checks.trends
    assert spec is not None
    assert (spec.memory_slope_mb_per_hour.warning, spec.memory_slope_mb_per_hour.critical) == (
        50,
        200,
    )
    assert (spec.p95_drift_ratio.warning, spec.p95_drift_ratio.critical) == (1.5, 3.0)
    assert (spec.error_rate_increase.warning, spec.error_rate_increase.critical) == (0.01, 0.05)
    assert spec.segment == 0.25 and spec.warmup is None and spec.services is None
    assert spec.memory_growth_ratio is None


def test_trends_bands_and_warmup_are_read():
    spec = parse_scenario(
        HEAD + "    warmup: 5s\n    memory_slope_mb_per_hour: {warning: 1, critical: 2}\n",
        "s.yaml",
    ).checks.trends
    assert spec is not None and spec.warmup == 5.0
    assert spec.memory_slope_mb_per_hour.critical == 2


def test_a_critical_band_below_its_warning_is_named_with_its_line():
    assert problems("    memory_slope_mb_per_hour: {warning: 100, critical: 10}\n") == [
        "s.yaml:7: checks.trends.memory_slope_mb_per_hour: critical (10) is below warning (100)"
    ]


def test_a_band_needs_both_levels_and_no_other_field():
    assert problems("    p95_drift_ratio: {warning: 1.5, crit: 2}\n") == [
        "s.yaml:7: checks.trends.p95_drift_ratio: missing required field 'critical'",
        "s.yaml:7: checks.trends.p95_drift_ratio.crit: unknown field 'crit' "
        "(expected one of: warning, critical)",
    ]


def test_segment_is_at_most_half_the_run():
    assert problems("    segment: 0.9\n") == [
        "s.yaml:7: checks.trends.segment: expected less than or equal to 0.5, got 0.9"
    ]


def test_judged_services_must_be_lab_services_or_toxiproxy():
    assert problems("    services: [redis, toxiproxy, cache]\n") == [
        "s.yaml:7: checks.trends.services: no lab service named 'cache' "
        "(services: redis, toxiproxy)"
    ]


def test_cli_validate_of_bad_trends_exits_2_without_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + "    error_rate_increase: {warning: 0.5, critical: 0.1}\n")
    result = CliRunner().invoke(app, ["scenario", "validate", str(path)])
    assert result.exit_code == EXIT_INVALID_INPUT
    assert f"{path}:7: checks.trends.error_rate_increase: critical (0.1) is below" in result.output
    assert "Traceback" not in result.output
