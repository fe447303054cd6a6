"""junit.xml: parsed back with junitparser and with xml.etree, one case per SLO, fault
recovery budget, checker and threshold; failures carry observed against the limit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import junitparser
from report_runs import HOSTILE_KEY, result, write_run

from harness.report import write_reports
from harness.report.junit import render_junit


def _cases(path: Path) -> dict[tuple[str, str], junitparser.TestCase]:
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    assert [s.name for s in suites] == ["synthetic"]
    return {(c.classname, c.name): c for c in suites[0]}


def _kind(case: junitparser.TestCase) -> str:
    if case.is_passed:
        return "pass"
    return type(case.result[0]).__name__.lower()


def test_failed_checker_censored_fault_and_critical_threshold_are_failures(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    write_reports(run, result())
    cases = _cases(run / "junit.xml")
    assert {k: _kind(c) for k, c in cases.items()} == {
        ("slo", "baseline_error_rate"): "pass",
        ("slo", "integrity"): "failure",
        ("recovery", "partition"): "pass",
        ("recovery", "stall"): "failure",
        ("checks", "integrity"): "failure",
        ("thresholds", "p99_ms"): "failure",
    }
    stall = cases[("recovery", "stall")].result[0].message
    assert "never recovered (censored)" in stall and "budget 2s" in stall
    lost = cases[("checks", "integrity")].result[0].message
    assert "lost 3" in lost and HOSTILE_KEY in lost
    assert (
        "observed 40, warning 10, critical 30" in cases[("thresholds", "p99_ms")].result[0].message
    )


def test_counts_agree_for_a_plain_xml_parser() -> None:
    root = ET.fromstring(render_junit(result()))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "synthetic"
    cases = suite.findall("testcase")
    assert suite.get("tests") == str(len(cases)) == "6"
    assert suite.get("failures") == str(len(suite.findall("testcase/failure"))) == "4"


def test_a_run_with_status_error_gets_an_error_case() -> None:
    res = result(status="error", errors=["fault stall: revert failed: <boom>"])
    root = ET.fromstring(render_junit(res))
    errors = root.findall("testsuite/testcase[@classname='run']/error")
    assert [e.get("message") for e in errors] == ["fault stall: revert failed: <boom>"]
    assert root.find("testsuite").get("errors") == "1"  # type: ignore[union-attr]


def test_a_fault_without_budget_is_skipped_and_a_passing_run_has_no_failures() -> None:
    res = result(status="pass", slo=[], thresholds=[])
    res["checks"]["integrity"] = {"verdict": "pass", "acked": 10, "lost": 0}
    res["faults"][1] |= {"censored": False, "time_to_recover_s": 0.3}
    root = ET.fromstring(render_junit(res))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "2")
    skipped = [s.get("message") for s in suite.findall("testcase[@classname='recovery']/skipped")]
    assert skipped == [
        "network.down: recovered 0.5s after the revert; no recovery budget",
        "process.pause: recovered 0.3s after the revert; no recovery budget",
    ]


COMPARISON = {
    "baseline": {"run_dir": "runs/earlier", "started_at": "2026-01-01T00:00:00.000Z"},
    "verdict": "regression",
    "regressions": ["p95_ms"],
    "tolerances": {},
    "metrics": [
        {"metric": "p95_ms", "old": 3.0, "new": 9.0, "change": "+6 (+200%)"}
        | {"tolerance": "<= 8", "verdict": "regression"},
        {"metric": "throughput_ops_s", "old": 90.0, "new": 91.0, "change": "+1 (+1%)"}
        | {"tolerance": ">= 76.5", "verdict": "ok"},
        {"metric": "p50_ms", "old": 1.0, "new": 1.1, "change": "+0.1"}
        | {"tolerance": "-", "verdict": "info"},
    ],
}


def test_a_regression_against_the_last_run_is_a_failed_case_in_every_report(
    tmp_path: Path,
) -> None:
    run = write_run(tmp_path / "run", result(comparison=COMPARISON))
    write_reports(run, result(comparison=COMPARISON))
    cases = _cases(run / "junit.xml")
    assert _kind(cases[("regression", "p95_ms")]) == "failure"
    assert "old 3, new 9" in cases[("regression", "p95_ms")].result[0].message
    assert _kind(cases[("regression", "throughput_ops_s")]) == "pass"
    summary = (run / "summary.md").read_text()
    assert "**Compared with** `runs/earlier`: **REGRESSION**" in summary
    assert "| p95_ms |" in summary and "| p50_ms |" not in summary  # not judged: left out
    html = (run / "report.html").read_text()
    assert 'data-table="comparison"' in html and "p50_ms" in html
    # Without a comparison, none of it.
    plain = render_junit(result())
    assert 'classname="regression"' not in plain
