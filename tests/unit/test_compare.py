"""Comparing two runs: each tolerance flags a real regression and lets noise through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.compare import RunMetrics, Tolerances, compare, metrics_of
from harness.errors import InvalidInput
from harness.regressions import scenario_tolerances, with_flags
from harness.scenario import parse_scenario


def result(
    p95: float = 2.0,
    throughput: float = 1000.0,
    fail: int = 0,
    faults: list[dict[str, Any]] | None = None,
    integrity: str = "pass",
) -> dict[str, Any]:
    return {
        "scenario": "s",
        "status": "pass",
        "started_at": "2026-01-01T00:00:00.000Z",
        "workload": {
            "ops": 10_000,
            "ok": 10_000 - fail,
            "fail": fail,
            "info": 0,
            "throughput_ops_s": throughput,
            "p50_ms": 1.0,
            "p95_ms": p95,
            "p99_ms": 5.0,
        },
        "faults": faults or [],
        "checks": {"integrity": {"verdict": integrity}},
        "slo": [],
    }


def fault(ttr: float | None, fid: str = "partition", kind: str = "network.down") -> dict[str, Any]:
    return {
        "id": fid,
        "kind": kind,
        "applied_at_s": 2.0,
        "reverted_at_s": 4.0,
        "time_to_recover_s": ttr,
        "censored": ttr is None,
    }


def judged(old: dict[str, Any], new: dict[str, Any], t: Tolerances | None = None) -> dict[str, str]:
    return {r.metric: r.verdict for r in compare(metrics_of(old), metrics_of(new), t).rows}


def test_identical_runs_have_no_regression():
    comparison = compare(
        metrics_of(result(faults=[fault(0.3)])), metrics_of(result(faults=[fault(0.3)]))
    )
    assert comparison.regressions == []
    assert comparison.verdict == "pass"


def test_p95_doubled_beyond_the_floor_is_a_regression():
    verdicts = judged(result(p95=20.0), result(p95=40.0))
    assert verdicts["p95_ms"] == "regression"


def test_p95_rise_within_the_floor_in_ms_is_not_a_regression():
    # 2 ms -> 6 ms is x3, but only 4 ms more: within the default +5 ms floor.
    assert judged(result(p95=2.0), result(p95=6.0))["p95_ms"] == "ok"
    assert judged(result(p95=2.0), result(p95=7.5))["p95_ms"] == "regression"


def test_throughput_drop_beyond_its_ratio_is_a_regression():
    assert judged(result(throughput=1000), result(throughput=900))["throughput_ops_s"] == "ok"
    assert judged(result(throughput=1000), result(throughput=800))["throughput_ops_s"] == (
        "regression"
    )


def test_time_to_recover_is_matched_by_fault_id_and_judged_with_its_floor():
    old = result(faults=[fault(1.0), fault(0.2, "slow", "network.latency")])
    new = result(faults=[fault(2.0), fault(0.6, "slow", "network.latency")])
    verdicts = judged(old, new)
    assert verdicts["time_to_recover_s[partition]"] == "regression"  # x2 and +1 s
    assert verdicts["time_to_recover_s[slow]"] == "ok"  # x3 but +0.4 s < 0.5 s floor


def test_a_fault_that_no_longer_recovers_is_a_regression():
    assert (
        judged(result(faults=[fault(0.5)]), result(faults=[fault(None)]))[
            "time_to_recover_s[partition]"
        ]
        == "regression"
    )
    assert (
        judged(result(faults=[fault(None)]), result(faults=[fault(0.5)]))[
            "time_to_recover_s[partition]"
        ]
        == "improved"
    )


def test_a_fault_in_one_run_only_is_reported_not_judged():
    verdicts = judged(result(faults=[fault(0.5)]), result(faults=[fault(0.5, "other")]))
    assert verdicts["time_to_recover_s[partition]"] == "info"
    assert verdicts["time_to_recover_s[other]"] == "info"


def test_error_rate_and_a_failed_check_are_regressions():
    verdicts = judged(result(), result(fail=500, integrity="fail"))
    assert verdicts["error_rate"] == "regression"
    assert verdicts["check[integrity]"] == "regression"


def test_tolerances_can_be_loosened():
    loose = Tolerances(p95_ratio=3, throughput_ratio=0.5)
    verdicts = judged(result(p95=20, throughput=1000), result(p95=40, throughput=600), loose)
    assert verdicts["p95_ms"] == "ok"
    assert verdicts["throughput_ops_s"] == "ok"


def test_metrics_survive_a_round_trip_through_json():
    m = metrics_of(result(faults=[fault(0.5), fault(None, "b")]))
    assert RunMetrics.from_json(json.loads(json.dumps(m.to_json()))) == m


def test_flags_override_the_scenario_block_and_bad_ones_name_the_flag():
    base = Tolerances(p95_ratio=2.0, ttr_ratio=3.0)
    merged = with_flags(base, {"--tolerance-p95": 1.5, "--tolerance-ttr": None})
    assert (merged.p95_ratio, merged.ttr_ratio) == (1.5, 3.0)
    with pytest.raises(InvalidInput, match=r"--tolerance-throughput: .*less than or equal to 1"):
        with_flags(base, {"--tolerance-throughput": 1.5})


def test_the_regressions_block_is_validated_with_file_and_line():
    text = "name: t\nduration: 5s\nload:\n  workload: redis.kv\nregressions:\n  p95_ratio: 0.5\n"
    from harness.errors import ScenarioError

    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    assert info.value.problems == [
        "s.yaml:6: regressions.p95_ratio: expected greater than or equal to 1, got 0.5"
    ]
    ok = parse_scenario(text.replace("0.5", "1.3"), "s.yaml")
    assert ok.regressions.p95_ratio == 1.3


def write_run(path: Path, res: dict[str, Any], regressions: dict[str, Any] | None = None) -> Path:
    path.mkdir()
    (path / "result.json").write_text(json.dumps(res))
    if regressions is not None:
        (path / "scenario.json").write_text(json.dumps({"regressions": regressions}))
    return path


def test_report_compare_exits_1_naming_the_metric_and_0_for_identical(tmp_path: Path):
    a = write_run(tmp_path / "a", result(p95=20.0))
    b = write_run(tmp_path / "b", result(p95=20.0))
    c = write_run(tmp_path / "c", result(p95=40.0))
    runner = CliRunner()
    same = runner.invoke(app, ["report", "compare", str(a), str(b)])
    assert same.exit_code == 0, same.output
    assert "no regression" in same.output
    worse = runner.invoke(app, ["report", "compare", str(a), str(c)])
    assert worse.exit_code == 1, worse.output
    assert "REGRESSION: p95_ms" in worse.output
    loosened = runner.invoke(app, ["report", "compare", str(a), str(c), "--tolerance-p95", "3"])
    assert loosened.exit_code == 0, loosened.output


def test_report_compare_takes_the_newer_runs_scenario_block(tmp_path: Path):
    a = write_run(tmp_path / "a", result(p95=20.0))
    c = write_run(tmp_path / "c", result(p95=40.0), regressions={"p95_ratio": 2.5})
    assert scenario_tolerances(c).p95_ratio == 2.5
    assert CliRunner().invoke(app, ["report", "compare", str(a), str(c)]).exit_code == 0


def test_report_compare_bad_input_is_exit_2_without_traceback(tmp_path: Path):
    a = write_run(tmp_path / "a", result())
    runner = CliRunner()
    missing = runner.invoke(app, ["report", "compare", str(a), str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "result.json: no such file" in missing.output
    bad_flag = runner.invoke(app, ["report", "compare", str(a), str(a), "--tolerance-p95", "0.5"])
    assert bad_flag.exit_code == 2
    assert "--tolerance-p95" in bad_flag.output
    assert "Traceback" not in missing.output + bad_flag.output


def test_chaos_run_refuses_a_bad_tolerance_before_anything_starts(tmp_path: Path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nduration: 5s\nload:\n  workload: redis.kv\n")
    args = ["chaos", "run", str(scenario), "--dry-run", "--tolerance-ttr", "0.9"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 2, out.output
    assert "--tolerance-ttr: input should be greater than or equal to 1, got 0.9" in out.output
    assert "plan" not in out.output.lower()


def test_the_summary_shows_the_comparison_and_the_ci_summary_names_failures(tmp_path: Path):
    from harness.summary import render_ci, render_summary

    new = {
        **result(p95=40.0, faults=[fault(3.0)]),
        "baseline": {},
        "slo": [{"name": "integrity", "threshold": "pass", "observed": "fail", "verdict": "fail"}],
    }
    new["faults"][0].update(target="redis", time_to_impact_s=0.1, availability=0.0)
    comparison = compare(metrics_of(result(p95=20.0, faults=[fault(0.5)])), metrics_of(new))
    new["comparison"] = comparison.to_json({"run_dir": "runs/old", "started_at": "x"})
    new["workload"]["name"] = "redis.kv"
    text = render_summary(new)
    assert "compared with runs/old" in text
    assert "comparison: REGRESSION: p95_ms, time_to_recover_s[partition]" in text
    ci = render_ci(new, tmp_path, 1)
    assert "FAILED slo integrity: observed fail" in ci
    assert "comparison with runs/old: REGRESSION p95_ms, time_to_recover_s[partition]" in ci
    assert f"junit.xml: {tmp_path / 'junit.xml'} (not written)" in ci
