"""Turns a run directory's history into ``result.json`` and ``timeseries.csv``.

Everything here is a function of the history file and the scenario, so an old run
directory can be analysed again (``harness report`` will build on this).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.checks.delivery import check_delivery
from harness.checks.fanout import check_fanout
from harness.checks.integrity import check_integrity
from harness.checks.objects import check_objects
from harness.checks.trends import check_trends, trend_input
from harness.history import HISTORY_FILE, read_history
from harness.loadsplit import generator_rows
from harness.operator_notes import operator_notes
from harness.opstats import (
    access_counts,
    access_summary,
    breakdown,
    class_breakdown,
    first_write_after,
    write_access_csv,
)
from harness.profiles import PACED_OPS
from harness.recovery import Completions, analyse_faults, fault_times
from harness.resources import RESOURCES_CSV, resource_records, write_resources_csv
from harness.scenario import Scenario
from harness.slo import evaluate_slo
from harness.sweeps import sweep_result
from harness.thresholds import run_thresholds
from harness.windows import (
    WindowSeries,
    new_histogram,
    percentile_ms,
    record_latency,
    users_per_window,
)
from harness.workloads.params import WORKLOAD_INFO


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fanout_windows(
    fault_rows: list[dict[str, Any]], t0_ns: int, load_end_s: float
) -> list[tuple[str, int, int]]:
    """Each applied fault's span for fan-out delivery: from its apply until the next
    fault applies or the load ends, so what subscribers miss while they reconnect after
    a revert counts against the fault that cut them off."""
    applied = sorted(
        (r["applied_at_s"], r["id"]) for r in fault_rows if r["applied_at_s"] is not None
    )
    ends = [a for a, _ in applied[1:]] + [load_end_s]
    return [
        (fid, t0_ns + int(a * 1e9), t0_ns + int(b * 1e9))
        for (a, fid), b in zip(applied, ends, strict=True)
    ]


def analyse(run_dir: Path, scenario: Scenario, errors: list[str]) -> dict[str, Any]:
    records = list(read_history(run_dir / HISTORY_FILE))
    header = next((r for r in records if r.get("op") == "run"), None)
    if header is None:
        raise ValueError(f"{run_dir / HISTORY_FILE}: no run record")
    t0_ns = header["t0_ns"]
    end = next((r for r in records if r.get("op") == "run-end"), {})
    # A game day's load lasts as long as the operator held the timeline.
    load_end_s = end.get("load_end_s", scenario.duration)

    workload = WORKLOAD_INFO[scenario.load.workload]
    series = WindowSeries(t0_ns, scenario.recovery.window, load_end_s)
    overall = new_histogram()
    counts = {"ok": 0, "fail": 0, "info": 0}
    ends: list[tuple[float, bool]] = []
    load_ops = set(workload.ops)
    # Operations cut off by the stop (``stopped``) are the checkers' business (an
    # indeterminate write may still have landed) but no measure of the service.
    measured = [r for r in records if not r.get("stopped")]
    for rec in measured:
        if rec.get("op") in load_ops:
            series.add(rec["t_start"], rec["t_end"], rec["type"])
            counts[rec["type"]] += 1
            ends.append(((rec["t_end"] - t0_ns) / 1e9, rec["type"] == "ok"))
            if rec["type"] == "ok":
                record_latency(overall, rec["t_end"] - rec["t_start"])
    ops = sum(counts.values())

    faults = fault_times(records, t0_ns)
    baseline, fault_rows = analyse_faults(
        series, Completions.from_ops(ends), faults, scenario.recovery, load_end_s
    )
    notes = operator_notes(records)
    fault_rows = _with_unapplied(fault_rows, scenario, notes)
    for row in fault_rows:
        if row["reverted_at_s"] is not None:
            row["first_write_ok_after_revert_s"] = first_write_after(
                measured, workload.write_ops, t0_ns, row["reverted_at_s"]
            )
    checks: dict[str, dict[str, Any]] = {}
    if scenario.checks.integrity is not None:
        is_objects = workload.service_kind == "s3"
        checks["integrity"] = (check_objects if is_objects else check_integrity)(records)
    delivery = scenario.checks.delivery
    if delivery is not None and scenario.load.workload != "redis.streams":
        # Every subscriber is owed every message: Pub/Sub at most once, the app's
        # server-sent events resumable (Last-Event-ID), so there any loss fails.
        checks["delivery"] = check_fanout(
            records,
            fanout_windows(fault_rows, t0_ns, load_end_s),
            max_loss_ratio=delivery.max_loss_ratio,
            resumable=scenario.load.workload == "http.messages",
            stop_grace_s=delivery.stop_grace,
        )
    elif delivery is not None:
        windows = [
            (r["id"], t0_ns + int(r["applied_at_s"] * 1e9), t0_ns + int(r["reverted_at_s"] * 1e9))
            for r in fault_rows
            if r["applied_at_s"] is not None and r["reverted_at_s"] is not None
        ]
        checks["delivery"] = check_delivery(records, windows)
    samples = resource_records(records)
    if scenario.checks.trends is not None:
        run = trend_input(scenario, t0_ns)
        checks["trends"] = check_trends(samples, series, fault_rows, run, scenario.checks.trends)
    slo = evaluate_slo(scenario.slo, baseline, fault_rows, checks)
    stats = {"p95_ms": percentile_ms(overall, 95), "p99_ms": percentile_ms(overall, 99)}
    sweep = sweep_result(
        scenario.load.profile, measured, t0_ns, _paced_ops(scenario), scenario.thresholds.warnings()
    )
    bands = run_thresholds(
        scenario.thresholds,
        {**stats, "ops": ops, **counts},
        checks,
        measured,
        load_ops,
        bool(sweep),
    )

    fault_errors = [f"fault {r['id']}: {r['error']}" for r in fault_rows if r.get("error")]
    # Several load generators: each one's share, and whether all it wrote arrived.
    generators, lost_records = generator_rows(records)
    all_errors = errors + [e for e in fault_errors + lost_records if e not in errors]
    verdicts = [row["verdict"] for row in slo] + [c["verdict"] for c in checks.values()]
    verdicts += ["fail" for row in bands if row["level"] == "critical"]
    if all_errors:
        status = "error"
    elif all(v == "pass" for v in verdicts):
        status = "pass"
    else:
        status = "fail"

    users = users_per_window(records, t0_ns, series.window_s, len(series.windows))
    write_timeseries(run_dir / "timeseries.csv", series, len(series.windows) - 1, users)
    write_resources_csv(run_dir / RESOURCES_CSV, samples, t0_ns)
    return {
        "scenario": scenario.name,
        "status": status,
        "started_at": iso(header["wall"]),
        "ended_at": iso(end.get("wall", header["wall"] + load_end_s)),
        "duration_s": load_end_s,
        "workload": {
            "name": scenario.load.workload,
            "users": scenario.load.users,
            "profile": "sustained"
            if scenario.load.profile is None
            else scenario.load.profile.shape,
            "ops": ops,
            **counts,
            "throughput_ops_s": round(counts["ok"] / load_end_s, 1) if load_end_s else 0.0,
            "p50_ms": percentile_ms(overall, 50),
            "p95_ms": percentile_ms(overall, 95),
            "p99_ms": percentile_ms(overall, 99),
            "operations": breakdown(measured, workload.ops, load_end_s),
            **_access(measured, run_dir, scenario, header.get("run_tag", "")),
            **_classes(measured, scenario, workload.ops, load_end_s),
            **({"processes": generators} if generators else {}),
        },
        "baseline": baseline.to_dict(),
        "faults": fault_rows,
        "checks": checks,
        "slo": slo,
        "thresholds": bands,
        **sweep,
        "errors": all_errors,
        # Game days only: what the operator decided and said, for the report.
        **({"operator_notes": notes} if notes else {}),
    }


def _with_unapplied(
    rows: list[dict[str, Any]], scenario: Scenario, notes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The fault rows plus one for each planned fault that never came to be applied:
    ``skipped`` says why (an operator's skip, or the run ended first)."""
    seen = {row["id"] for row in rows}
    why = {"skip": "by the operator", "abort": "the operator aborted the run"}
    decided = {n["fault_id"]: why[n["decision"]] for n in notes if n["decision"] in why}
    extra = [
        {
            "id": f.fault_id,
            "kind": f.kind,
            "target": f.targets[0] if len(f.targets) == 1 else list(f.targets),
            "planned_at_s": f.at_s,
            "applied_at_s": None,
            "reverted_at_s": None,
            "time_to_impact_s": None,
            "time_to_recover_s": None,
            "censored": False,
            "availability": None,
            "skipped": decided.get(f.fault_id, "the run ended first"),
        }
        for f in scenario.plan()
        if f.fault_id not in seen
    ]
    return sorted(rows + extra, key=lambda row: row["planned_at_s"])


def _paced_ops(scenario: Scenario) -> tuple[str, ...]:
    """The operations a sweep is judged by: a throughput sweep's paced ones, else all
    of the workload's."""
    profile = scenario.load.profile
    if profile is not None and profile.shape == "throughput":
        return PACED_OPS[scenario.load.workload]
    return WORKLOAD_INFO[scenario.load.workload].ops


def _access(
    records: list[dict[str, Any]], run_dir: Path, scenario: Scenario, run_tag: str
) -> dict[str, Any]:
    """For the shared pool of ``s3.concurrent_access``: reads and writes per object
    (all of them in ``access.csv``, their spread and the hottest in result.json)."""
    if scenario.load.workload != "s3.concurrent_access":
        return {}
    counts = access_counts(records, f"{run_tag}/shared/")
    write_access_csv(run_dir / "access.csv", counts)
    return {"access": access_summary(counts)}


def _classes(
    records: list[dict[str, Any]], scenario: Scenario, ops: tuple[str, ...], duration_s: float
) -> dict[str, Any]:
    """For ``http.users``: per user class and per task (``classes``)."""
    if scenario.load.workload != "http.users":
        return {}
    return {"classes": class_breakdown(records, ops, duration_s)}


def write_timeseries(
    path: Path, series: WindowSeries, last_index: int, users: list[int | None] | None = None
) -> None:
    """One row per window; ``users`` is the user count running at the window's end."""
    users = users or [None] * len(series.windows)
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(
            [
                "t_s",
                "ok",
                "fail",
                "info",
                "ops_s",
                "error_rate",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "users",
            ]
        )
        for w, count in zip(series.windows[: last_index + 1], users, strict=False):
            out.writerow(
                [
                    f"{w.start_s:.3f}",
                    w.ok,
                    w.fail,
                    w.info,
                    f"{w.total / series.window_s:.1f}",
                    f"{w.error_rate:.4f}",
                    _fmt(w.p(50)),
                    _fmt(w.p(95)),
                    _fmt(w.p(99)),
                    "" if count is None else count,
                ]
            )


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def write_result(path: Path, result: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
