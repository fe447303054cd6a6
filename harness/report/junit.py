"""``junit.xml``: the run as one JUnit test suite, for CI systems that show test results.

Test cases, by ``classname``: ``slo`` (one per SLO row other than recovery budgets),
``recovery`` (one per fault: failed when over its ``time_to_recover_s`` budget or never
recovered, skipped when it has no budget), ``checks`` (one per checker), ``thresholds``
(one per metric; a critical level fails), ``regression`` (with ``--compare-last``: one per
compared metric, failed when it regressed beyond its tolerance) and, for a run with
status ``error``, ``run`` (an ``<error>`` case listing what went wrong).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from harness.report.fmt import budget_s, counts_of, examples_of, num, recovery_slos


@dataclass
class Case:
    classname: str
    name: str
    failure: str | None = None
    error: str | None = None
    skipped: str | None = None
    out: str = ""


def _slo_cases(r: dict[str, Any]) -> list[Case]:
    budgets = recovery_slos(r)
    cases = []
    for row in r.get("slo") or []:
        if row in budgets.values():
            continue
        observed = num(row.get("observed"))
        text = f"observed {observed}, expected {row.get('threshold')}"
        failed = row.get("verdict") != "pass"
        cases.append(Case("slo", str(row.get("name")), failure=text if failed else None, out=text))
    return cases


def _recovery_cases(r: dict[str, Any]) -> list[Case]:
    budgets = recovery_slos(r)
    cases = []
    for f in r.get("faults") or []:
        fid = str(f.get("id"))
        row = budgets.get(fid)
        limit = None if row is None else budget_s(row)
        if f.get("skipped"):
            observed = f"not applied: skipped {f['skipped']}"
        elif f.get("censored"):
            observed = "never recovered (censored)"
        elif f.get("applied_at_s") is None or f.get("reverted_at_s") is None:
            observed = "not applied and reverted"
        else:
            observed = f"recovered {num(f.get('time_to_recover_s'), 's')} after the revert"
        if row is None:
            cases.append(
                Case("recovery", fid, skipped=f"{f.get('kind')}: {observed}; no recovery budget")
            )
            continue
        text = f"{f.get('kind')}: {observed}; budget {num(limit, 's')}"
        failed = row.get("verdict") != "pass"
        cases.append(Case("recovery", fid, failure=text if failed else None, out=text))
    return cases


def _check_cases(r: dict[str, Any]) -> list[Case]:
    cases = []
    for name, check in (r.get("checks") or {}).items():
        verdict = str(check.get("verdict"))
        counts = ", ".join(f"{k} {num(v)}" for k, v in counts_of(check).items())
        examples = "; ".join(f"{k}: {', '.join(v)}" for k, v in examples_of(check).items())
        text = f"verdict {verdict}: {counts}" + (f"; examples {examples}" if examples else "")
        failed = verdict != "pass"
        cases.append(Case("checks", name, failure=text if failed else None, out=text))
    return cases


def _threshold_cases(r: dict[str, Any]) -> list[Case]:
    cases = []
    for band in r.get("thresholds") or []:
        level = str(band.get("level"))
        text = (
            f"observed {num(band.get('observed'))}, warning {num(band.get('warning'))}, "
            f"critical {num(band.get('critical'))}: {level}"
        )
        failed = level == "critical"
        cases.append(
            Case("thresholds", str(band.get("name")), failure=text if failed else None, out=text)
        )
    return cases


def _regression_cases(r: dict[str, Any]) -> list[Case]:
    cases = []
    for row in (r.get("comparison") or {}).get("metrics") or []:
        text = (
            f"old {num(row.get('old'))}, new {num(row.get('new'))}, change {row.get('change')}, "
            f"tolerance {row.get('tolerance')}: {row.get('verdict')}"
        )
        failed = row.get("verdict") == "regression"
        cases.append(
            Case("regression", str(row.get("metric")), failure=text if failed else None, out=text)
        )
    return cases


def junit_cases(r: dict[str, Any]) -> list[Case]:
    cases = _slo_cases(r) + _recovery_cases(r) + _check_cases(r) + _threshold_cases(r)
    cases += _regression_cases(r)
    if r.get("status") == "error":
        errors = [str(e) for e in r.get("errors") or []] or ["the run ended with status error"]
        cases.append(Case("run", "errors", error="; ".join(errors)))
    return cases


def render_junit(r: dict[str, Any]) -> str:
    cases = junit_cases(r)
    name = str(r.get("scenario", "run"))
    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(c.failure is not None for c in cases)),
        "errors": str(sum(c.error is not None for c in cases)),
        "skipped": str(sum(c.skipped is not None for c in cases)),
    }
    root = ET.Element("testsuites", {"name": "chaos-harness", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": name,
            **counts,
            "time": f"{float(r.get('duration_s') or 0):.3f}",
            "timestamp": str(r.get("started_at", "")).rstrip("Z"),
        },
    )
    props = ET.SubElement(suite, "properties")
    for key in ("status", "run_dir", "started_at", "ended_at"):
        if r.get(key) is not None:
            ET.SubElement(props, "property", {"name": key, "value": str(r[key])})
    for case in cases:
        el = ET.SubElement(
            suite, "testcase", {"classname": case.classname, "name": case.name, "time": "0"}
        )
        for tag, text in (
            ("failure", case.failure),
            ("error", case.error),
            ("skipped", case.skipped),
        ):
            if text is not None:
                ET.SubElement(el, tag, {"message": text, "type": tag}).text = text
        if case.out:
            ET.SubElement(el, "system-out").text = case.out
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
