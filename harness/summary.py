"""The terminal summary of a run: workload, faults, checks and SLOs as plain tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.report.fmt import num, recovery_text


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return out


# One formatting of numbers for the terminal and the report files.
_v = num


def _operations(w: dict[str, Any]) -> list[str]:
    """The per-operation (and per size class) table, and the shared pool's access spread."""
    rows = [
        [
            r["op"] if r["size_class"] == "all" else f"  {r['size_class']}",
            str(r["ops"]),
            _v(r["success_rate"]),
            _v(r["ops_s"]),
            _v(r["mb_s"]),
            _v(r["p50_ms"], "ms"),
            _v(r["p95_ms"], "ms"),
            _v(r["p99_ms"], "ms"),
        ]
        for r in w.get("operations", [])
    ]
    if not rows:
        return []
    lines = _table(["operation", "ops", "success", "ops/s", "MB/s", "p50", "p95", "p99"], rows)
    access = w.get("access")
    if access and access.get("objects"):
        r, wr = access["reads"], access["writes"]
        lines.append(
            f"shared objects: {access['objects']}, reads per object min {r['min']} "
            f"median {_v(float(r['median']))} max {r['max']}, writes per object min "
            f"{wr['min']} max {wr['max']} (per object: access.csv)"
        )
    return lines


def _generators(w: dict[str, Any]) -> list[str]:
    """One line per load-generator process when there were several."""
    rows = w.get("processes") or []
    parts = [f"{r['generator']} {r['users']} users, {r['ok']} ok" for r in rows]
    return [f"load generators: {'; '.join(parts)}", ""] if parts else []


def _classes(w: dict[str, Any]) -> list[str]:
    """The per user class (and per task) table of ``http.users``."""
    rows = [
        [
            r["user_class"] if r["task"] == "all" else f"  {r['task']}",
            str(r["users"]) if r["task"] == "all" else "",
            str(r["ops"]),
            _v(r["share"]),
            _v(r["success_rate"]),
            _v(r["p50_ms"], "ms"),
            _v(r["p95_ms"], "ms"),
            _v(r["p99_ms"], "ms"),
        ]
        for r in w.get("classes", [])
    ]
    if not rows:
        return []
    headers = ["user class / task", "users", "requests", "share", "success", "p50", "p95", "p99"]
    return ["", *_table(headers, rows)]


def _trends(t: dict[str, Any] | None) -> list[str]:
    """The soak verdicts: one row per service's memory, then latency and errors."""
    if not t:
        return []
    rows = [
        [
            f"memory {name}" + ("" if m["judged"] else " (not judged)"),
            f"{_v(m['start_mb'])} -> {_v(m['end_mb'])} MB",
            f"{_v(m['slope_mb_per_hour'])} MB/h (low {_v(m['slope_low_mb_per_hour'])}), "
            f"growth {_v(m['growth_ratio'])}",
            m["level"],
        ]
        for name, m in t["memory"].items()
    ]
    d, e = t["p95_drift"], t["error_rate"]
    rows.append(
        [
            "p95 drift",
            f"{_v(d['first_ms'], 'ms')} -> {_v(d['last_ms'], 'ms')}",
            f"x{_v(d['ratio'])}",
            d["level"],
        ]
    )
    rows.append(
        ["error rate", f"{_v(e['first'])} -> {_v(e['last'])}", f"+{_v(e['increase'])}", e["level"]]
    )
    title = "trends (first vs last part of the run, warm-up and faults left out)"
    return ["", title, *_table(["trend", "first -> last", "change", "level"], rows)]


def _censored_reasons(faults: list[dict[str, Any]]) -> list[str]:
    """Why each censored fault never recovered, in the terms of the health tests."""
    lines = []
    for f in faults:
        after = f.get("after_revert")
        if not after:
            continue
        reasons = []
        if after["low_throughput"]:
            reasons.append(f"{after['low_throughput']} below {_v(after['min_ops_s'])} acked ops/s")
        if after["errors"]:
            reasons.append(f"{after['errors']} over error rate {_v(after['max_error_rate'])}")
        if after["slow"]:
            reasons.append(f"{after['slow']} over p95 {_v(after['max_p95_ms'], 'ms')}")
        unhealthy = after["low_throughput"] + after["errors"] + after["slow"]
        why = f": {', '.join(reasons)}" if reasons else ""
        lines.append(
            f"  {f['id']} never recovered: {unhealthy} of {after['windows']} windows "
            f"after the revert were unhealthy{why}"
        )
    return lines


def render_summary(result: dict[str, Any]) -> str:
    w = result["workload"]
    b = result.get("baseline", {})
    lines = [
        f"scenario {result['scenario']}: {result['status'].upper()}",
        f"run directory: {result.get('run_dir', '-')}",
        "",
        f"workload {w['name']}: {w['ops']} ops ({w['ok']} ok, {w['fail']} fail, {w['info']} info), "
        f"{_v(w['throughput_ops_s'])} acked ops/s, p50 {_v(w['p50_ms'], 'ms')}, "
        f"p95 {_v(w['p95_ms'], 'ms')}, p99 {_v(w['p99_ms'], 'ms')}",
        f"baseline ({_v(b.get('start_s'), 's')}-{_v(b.get('end_s'), 's')}): "
        f"{_v(b.get('throughput_ops_s'))} ops/s, error rate {_v(b.get('error_rate'))}, "
        f"p95 {_v(b.get('p95_ms'), 'ms')}",
        "",
    ]
    lines += _generators(w)
    lines += _operations(w)
    lines += _classes(w)
    lines += ["", "faults"]
    rows = []
    for f in result["faults"]:
        target = f["target"] if isinstance(f["target"], str) else ",".join(f["target"])
        recover = recovery_text(f)
        rows.append(
            [
                f["id"],
                f["kind"],
                target,
                _v(f["applied_at_s"], "s"),
                _v(f["reverted_at_s"], "s"),
                _v(f["time_to_impact_s"], "s"),
                _v(f["availability"]),
                recover,
                _v(f.get("first_write_ok_after_revert_s"), "s"),
            ]
        )
    lines += _table(
        [
            "id",
            "kind",
            "target",
            "applied",
            "reverted",
            "impact after",
            "availability",
            "recovered after",
            "first write ok",
        ],
        rows,
    )
    lines += _censored_reasons(result["faults"])
    lines += ["", "checks"]
    rows = []
    for name, c in result["checks"].items():
        counts = ", ".join(
            f"{k} {v}"
            for k, v in c.items()
            if k not in ("verdict", "examples") and not isinstance(v, dict | list)
        )
        rows.append([name, c["verdict"].upper(), counts])
    lines += _table(["check", "verdict", "counts"], rows) if rows else ["  (none)"]
    for name, c in result["checks"].items():
        if "latency_ms" in c:
            lat = c["latency_ms"]
            lines.append(
                f"  {name} latency sent->received: p50 {_v(lat['p50'], 'ms')}, "
                f"p95 {_v(lat['p95'], 'ms')}, p99 {_v(lat['p99'], 'ms')}"
            )
        for fault in c.get("faults", []):
            if "owed" in fault:  # fan-out: owed to subscribers from the apply on
                counts = (
                    f"{fault['owed']} owed, {fault['lost']} lost "
                    f"({fault['lost_reconnecting']} while reconnecting)"
                )
            else:
                counts = f"{fault['acked']} acked, {fault['lost']} lost"
            lines.append(
                f"  {name} during {fault['id']}: {counts}, "
                f"latency p95 {_v(fault['latency_ms']['p95'], 'ms')}"
            )
        for kind, keys in c.get("examples", {}).items():
            lines.append(f"  {name} {kind}: {', '.join(keys[:5])}")
    lines += _trends(result["checks"].get("trends"))
    lines += ["", "slo"]
    rows = [
        [s["name"], s["threshold"], _v(s["observed"]), s["verdict"].upper()] for s in result["slo"]
    ]
    lines += (
        _table(["objective", "threshold", "observed", "verdict"], rows) if rows else ["  (none)"]
    )
    lines += _bands_and_sweeps(result)
    if result.get("comparison"):
        lines += ["", *render_comparison(result["comparison"])]
    lines += _operator_notes(result.get("operator_notes") or [])
    if result.get("errors"):
        lines += ["", "errors"] + [f"  {e}" for e in result["errors"]]
    return "\n".join(lines)


def _operator_notes(notes: list[dict[str, Any]]) -> list[str]:
    """A game day's answers and notes, in the order they were given."""
    if not notes:
        return []
    rows = [
        [_v(n.get("t_s"), "s"), n.get("fault_id") or "-", n.get("decision", "-"), n.get("note", "")]
        for n in notes
    ]
    return ["", "operator notes", *_table(["at", "fault", "decision", "note"], rows)]


def _bands_and_sweeps(result: dict[str, Any]) -> list[str]:
    """The thresholds table, and a sweep's steps with its knee or elbow."""
    lines: list[str] = []
    bands = result.get("thresholds") or []
    if bands:
        rows = [
            [b["name"], _v(b["warning"]), _v(b["critical"]), _v(b["observed"]), b["level"].upper()]
            for b in bands
        ]
        lines += ["", "thresholds"]
        lines += _table(["metric", "warning", "critical", "observed", "level"], rows)
    for name, key in (("capacity", "users"), ("throughput", "rate")):
        sweep = result.get(name)
        if not sweep:
            continue
        rows = [
            [
                _v(step[key]),
                _v(step["throughput_ops_s"]),
                _v(step["error_rate"]),
                _v(step["p50_ms"], "ms"),
                _v(step["p95_ms"], "ms"),
                _v(step["p99_ms"], "ms"),
                ", ".join(step["crossed"]) or "-",
            ]
            for step in sweep["steps"]
        ]
        head = "users" if key == "users" else "asked/s"
        lines += ["", f"{name} sweep"]
        lines += _table([head, "ok/s", "errors", "p50", "p95", "p99", "above warning"], rows)
        lines.append(_sweep_verdict(name, sweep))
    return lines


def _sweep_verdict(name: str, sweep: dict[str, Any]) -> str:
    if name == "capacity":
        if sweep["knee_users"] is None:
            return f"no knee up to {sweep['no_knee_up_to']} users"
        return (
            f"knee at {sweep['knee_users']} users; "
            f"safe ceiling {sweep['safe_ceiling_users']} users (0.8 x knee)"
        )
    if sweep["elbow_rate"] is None:
        return f"no elbow up to {_v(sweep['max_good_rate'])}/s"
    good = sweep["max_good_rate"]
    return f"elbow at {_v(sweep['elbow_rate'])}/s; last good rate " + (
        "none (the first step is past it)" if good is None else f"{_v(good)}/s"
    )


# -- comparison with an earlier run (report compare, --compare-last) --------------------


def render_comparison(comparison: dict[str, Any]) -> list[str]:
    """The ``comparison`` block: one row per metric, then the verdict."""
    base = comparison["baseline"]
    rows = [
        [
            m["metric"],
            _v(m["old"]),
            _v(m["new"]),
            m["change"],
            m["tolerance"],
            m["verdict"].upper() if m["verdict"] == "regression" else m["verdict"],
        ]
        for m in comparison["metrics"]
    ]
    lines = [f"compared with {base.get('run_dir', '-')} ({base.get('started_at', '-')})"]
    lines += _table(["metric", "old", "new", "change", "tolerance", "verdict"], rows)
    regressed = comparison["regressions"]
    verdict = f"REGRESSION: {', '.join(regressed)}" if regressed else "no regression"
    return [*lines, f"comparison: {verdict}"]


CI_FILES = ("junit.xml", "summary.md", "report.html")


def render_ci(result: dict[str, Any], run_dir: Path, exit_code: int) -> str:
    """``chaos run --ci``: a few lines for a CI log, what failed, and where the files are."""
    w = result["workload"]
    lines = [
        f"scenario {result['scenario']}: {result['status'].upper()} (exit {exit_code})",
        f"workload {w['name']}: {w['ops']} ops, {w['fail'] + w['info']} errors, "
        f"{_v(w['throughput_ops_s'])} ops/s, p95 {_v(w['p95_ms'], 'ms')}",
    ]
    for f in result["faults"]:
        lines.append(
            f"fault {f['id']} {f['kind']}: recovery {recovery_text(f)}, "
            f"availability {_v(f['availability'])}"
        )
    failed = [f"check {n}: {c['verdict']}" for n, c in result["checks"].items()]
    failed = [line for line in failed if not line.endswith(": pass")]
    failed += [
        f"slo {s['name']}: observed {_v(s['observed'])}"
        for s in result["slo"]
        if s["verdict"] != "pass"
    ]
    failed += [
        f"threshold {b['name']}: {b['level']}"
        for b in result.get("thresholds") or []
        if b["level"] == "critical"
    ]
    failed += [f"error: {e}" for e in result.get("errors") or []]
    lines += [f"FAILED {line}" for line in failed]
    comparison = result.get("comparison")
    if comparison:
        regressed = comparison["regressions"]
        lines.append(
            f"comparison with {comparison['baseline']['run_dir']}: "
            + (f"REGRESSION {', '.join(regressed)}" if regressed else "no regression")
        )
    for name in CI_FILES:
        path = run_dir / name
        lines.append(f"{name}: {path}" + ("" if path.exists() else " (not written)"))
    return "\n".join(lines)


def render_run_list(index: Path, runs: list[Any]) -> str:
    """``report list``: the indexed runs (``harness.runindex.IndexedRun``), newest first."""
    if not runs:
        return f"no runs in the run index {index}"
    rows = [
        [
            r.started_at,
            r.scenario,
            r.status.upper(),
            _v(r.metrics.throughput_ops_s),
            _v(r.metrics.p95_ms, "ms"),
            str(r.run_dir) + ("" if r.exists else " (deleted)"),
        ]
        for r in runs
    ]
    table = _table(["started", "scenario", "status", "ops/s", "p95", "run directory"], rows)
    return "\n".join([f"run index {index}", *table])
