"""``report.html``: one self-contained page (inline CSS and SVG, no script, nothing
fetched) with the run's charts, faults, checkers, SLOs and the scenario as run.

Everything from the run (keys, notes, names) is user data and goes through ``escape``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from harness.report.charts import FaultMark, Series, downsample, line_chart
from harness.report.fmt import (
    COMPARISON_HEADS,
    budget_s,
    comparison_rows,
    counts_of,
    examples_of,
    num,
    recovered_at_s,
    recovery_slos,
    recovery_text,
    target_text,
)
from harness.report.rundata import RunData

_VERDICTS = {"pass", "fail", "error", "unknown", "ok", "warning", "critical", "not run"}

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1f24;max-width:1000px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}
th{background:#f3f5f7} td.num{text-align:right}
.badge{display:inline-block;padding:1px 8px;border-radius:4px;color:#fff;font-weight:600}
.v-pass,.v-ok{background:#e6f4ea} .v-fail,.v-error,.v-critical{background:#fde2e1}
.v-unknown,.v-warning,.v-not-run{background:#fff4d6}
.badge.v-pass{background:#1a7f37} .badge.v-fail,.badge.v-error{background:#cf222e}
.badge.v-unknown{background:#9a6700}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px}
svg.chart{display:block;margin:8px 0;border:1px solid #eee}
.ctitle{font-weight:600;font-size:13px} .tick{font-size:11px;fill:#444}
.tick.mid{text-anchor:middle} .end{text-anchor:end}
.axis{stroke:#333} .grid{stroke:#e4e4e4}
.fault{fill:#f3a712;fill-opacity:.18} .flabel{font-size:11px;fill:#8a5300}
.censored{fill:#cf222e;fill-opacity:.10} .clabel{font-size:11px;fill:#cf222e}
.recovered{stroke:#1a7f37;stroke-dasharray:4 3;stroke-width:1.5}
.rlabel{font-size:11px;fill:#1a7f37}
"""


def _td(value: Any, numeric: bool = False) -> str:
    text = value if isinstance(value, str) else num(value)
    key = text.lower()
    cls = f' class="v-{key.replace(" ", "-")}"' if key in _VERDICTS else ""
    cls = ' class="num"' if numeric and not cls else cls
    return f"<td{cls}>{escape(text)}</td>"


def table(headers: Sequence[str] | None, rows: Sequence[Sequence[Any]], name: str) -> str:
    """A table whose cells are escaped; a verdict cell gets its colour. ``headers`` None:
    a table of name, value rows without a header row."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers or [])
    body = "".join(
        "<tr>" + "".join(_td(c, not isinstance(c, str)) for c in row) + "</tr>" for row in rows
    )
    head = f"<tr>{head}</tr>" if head else ""
    return f'<table data-table="{escape(name)}">{head}{body}</table>'


def _badge(verdict: str) -> str:
    return f'<span class="badge v-{escape(verdict.lower())}">{escape(verdict.upper())}</span>'


def render_html(data: RunData) -> str:
    r = data.result
    sections = [
        _header(r),
        _workload(r),
        _charts(data),
        _faults(r),
        _checks(r),
        _slo(r),
        _thresholds(r),
        _sweeps(r),
        _comparison(r),
        _notes(r),
        _errors(r),
        _scenario(data),
    ]
    title = escape(f"{r.get('scenario', 'run')}: {str(r.get('status', '?')).upper()}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body></html>\n"
    )


def _header(r: dict[str, Any]) -> str:
    w = r.get("workload", {})
    rows = [
        ["started", r.get("started_at", "-")],
        ["ended", r.get("ended_at", "-")],
        ["duration", num(r.get("duration_s"), "s")],
        ["workload", f"{w.get('name', '-')}, {w.get('users', '-')} users, {w.get('profile', '-')}"],
        ["run directory", str(r.get("run_dir", "-"))],
    ]
    return (
        f"<h1>{escape(str(r.get('scenario', 'run')))} {_badge(str(r.get('status', '?')))}</h1>"
        + table(None, rows, "run")
    )


def _workload(r: dict[str, Any]) -> str:
    w = r.get("workload", {})
    b = r.get("baseline") or {}
    totals = [
        [w.get(k) for k in ("ops", "ok", "fail", "info")]
        + [w.get("throughput_ops_s")]
        + [num(w.get(k), "ms") for k in ("p50_ms", "p95_ms", "p99_ms")]
    ]
    out = "<h2>Workload</h2>" + table(
        ["ops", "ok", "fail", "info", "acked ops/s", "p50", "p95", "p99"], totals, "workload"
    )
    if b:
        out += (
            f"<p>baseline {num(b.get('start_s'), 's')}-{num(b.get('end_s'), 's')}: "
            f"{num(b.get('throughput_ops_s'))} ops/s, error rate {num(b.get('error_rate'))}, "
            f"p95 {num(b.get('p95_ms'), 'ms')}</p>"
        )
    ops = [
        [
            o["op"] if o.get("size_class", "all") == "all" else f"{o['op']} {o['size_class']}",
            o.get("ops"),
            o.get("success_rate"),
            o.get("ops_s"),
            o.get("mb_s"),
        ]
        + [num(o.get(k), "ms") for k in ("p50_ms", "p95_ms", "p99_ms")]
        for o in w.get("operations", [])
    ]
    if ops:
        heads = ["operation", "ops", "success", "ops/s", "MB/s", "p50", "p95", "p99"]
        out += table(heads, ops, "operations")
    return out


def fault_marks(r: dict[str, Any], x_max: float) -> list[FaultMark]:
    """Every applied fault as a shaded window; one never reverted is shaded to the end."""
    return [
        FaultMark(
            fault_id=str(f.get("id")),
            kind=str(f.get("kind")),
            start_s=float(f["applied_at_s"]),
            end_s=float(f["reverted_at_s"] if f.get("reverted_at_s") is not None else x_max),
            recovered_s=recovered_at_s(f),
            censored=bool(f.get("censored")),
        )
        for f in r.get("faults", [])
        if f.get("applied_at_s") is not None
    ]


def _charts(data: RunData) -> str:
    if not data.windows:
        return "<h2>Over time</h2><p>no timeseries.csv in the run directory</p>"
    win = downsample(data.windows)
    step = data.window_s * (len(data.windows) / len(win))
    x_max = max(float(data.result.get("duration_s") or 0), data.windows[-1].t_s + data.window_s)
    marks = fault_marks(data.result, x_max)
    # Points sit at the middle of their window.
    ts = [w.t_s + step / 2 for w in win]
    charts = [
        line_chart(
            "throughput",
            "Throughput (per second)",
            "",
            [
                Series(
                    "acked ops/s",
                    "#1f6feb",
                    [(t, w.ok / step) for t, w in zip(ts, win, strict=True)],
                ),
                Series(
                    "errors/s",
                    "#cf222e",
                    [(t, (w.fail + w.info) / step) for t, w in zip(ts, win, strict=True)],
                ),
            ],
            x_max,
            marks,
        ),
        line_chart(
            "error_rate",
            "Error rate (fail + info) / ops",
            "",
            [
                Series(
                    "error rate",
                    "#cf222e",
                    [(t, w.error_rate) for t, w in zip(ts, win, strict=True)],
                )
            ],
            x_max,
            marks,
        ),
        line_chart(
            "latency",
            "Latency of acknowledged ops (ms, log scale)",
            "",
            [
                Series("p50", "#1a7f37", [(t, w.p50_ms) for t, w in zip(ts, win, strict=True)]),
                Series("p95", "#bf8700", [(t, w.p95_ms) for t, w in zip(ts, win, strict=True)]),
                Series("p99", "#8250df", [(t, w.p99_ms) for t, w in zip(ts, win, strict=True)]),
            ],
            x_max,
            marks,
            log=True,
        ),
    ]
    if any(w.users is not None for w in win):
        users = [
            (t, None if w.users is None else float(w.users)) for t, w in zip(ts, win, strict=True)
        ]
        charts.append(
            line_chart(
                "users", "Users running", "", [Series("users", "#57606a", users)], x_max, marks
            )
        )
    return "<h2>Over time</h2>" + "\n".join(charts)


def _faults(r: dict[str, Any]) -> str:
    budgets = recovery_slos(r)
    rows = []
    for f in r.get("faults", []):
        budget = budgets.get(str(f.get("id")))
        rows.append(
            [
                str(f.get("id")),
                str(f.get("kind")),
                target_text(f),
                num(f.get("planned_at_s"), "s"),
                num(f.get("applied_at_s"), "s"),
                num(f.get("reverted_at_s"), "s"),
                num(f.get("time_to_impact_s"), "s"),
                f.get("availability"),
                recovery_text(f),
                "-" if budget is None else num(budget_s(budget), "s"),
                "-" if budget is None else str(budget["verdict"]),
                str(f.get("error") or ""),
            ]
        )
    if not rows:
        return "<h2>Faults</h2><p>no faults in this run</p>"
    heads = ["id", "kind", "target", "planned", "applied", "reverted", "impact after"]
    heads += ["availability", "recovered after", "budget", "verdict", "error"]
    return "<h2>Faults</h2>" + table(heads, rows, "faults")


def _checks(r: dict[str, Any]) -> str:
    checks = r.get("checks") or {}
    if not checks:
        return "<h2>Checks</h2><p>no checkers ran</p>"
    out = ["<h2>Checks</h2>"]
    for name, check in checks.items():
        out.append(f"<h3>{escape(name)} {_badge(str(check.get('verdict', '?')))}</h3>")
        counts = [[k, v] for k, v in counts_of(check).items()]
        lists = [
            [k, ", ".join(map(str, v))]
            for k, v in check.items()
            if isinstance(v, list) and v and all(not isinstance(i, dict | list) for i in v)
        ]
        out.append(table(["count", "value"], counts + lists, f"check-{name}"))
        if isinstance(check.get("latency_ms"), dict):
            lat = check["latency_ms"]
            out.append(
                f"<p>latency sent to received: p50 {num(lat.get('p50'), 'ms')}, "
                f"p95 {num(lat.get('p95'), 'ms')}, p99 {num(lat.get('p99'), 'ms')}</p>"
            )
        examples = examples_of(check)
        if examples:
            rows = [[kind, ", ".join(keys)] for kind, keys in examples.items()]
            out.append(table(["example keys", ""], rows, f"examples-{name}"))
    return "\n".join(out)


def _slo(r: dict[str, Any]) -> str:
    rows = [
        [str(s.get("name")), str(s.get("threshold")), s.get("observed"), str(s.get("verdict"))]
        for s in r.get("slo") or []
    ]
    if not rows:
        return "<h2>SLOs</h2><p>no SLOs in the scenario</p>"
    return "<h2>SLOs</h2>" + table(["objective", "threshold", "observed", "verdict"], rows, "slo")


def _comparison(r: dict[str, Any]) -> str:
    comparison = r.get("comparison")
    if not comparison:
        return ""
    base = comparison.get("baseline") or {}
    against = f"{base.get('run_dir', '-')} ({base.get('started_at', '-')})"
    return (
        f"<h2>Compared with the last run {_badge(str(comparison.get('verdict')))}</h2>"
        f"<p>{escape(against)}</p>" + table(COMPARISON_HEADS, comparison_rows(r), "comparison")
    )


def _thresholds(r: dict[str, Any]) -> str:
    rows = [
        [
            str(b.get("name")),
            b.get("warning"),
            b.get("critical"),
            b.get("observed"),
            str(b.get("level")),
        ]
        for b in r.get("thresholds") or []
    ]
    if not rows:
        return ""
    heads = ["metric", "warning", "critical", "observed", "level"]
    return "<h2>Thresholds</h2>" + table(heads, rows, "thresholds")


def _sweeps(r: dict[str, Any]) -> str:
    out = []
    for name, key in (("capacity", "users"), ("throughput", "rate")):
        sweep = r.get(name)
        if not isinstance(sweep, dict) or not sweep.get("steps"):
            continue
        rows = [
            [s.get(key), s.get("throughput_ops_s"), s.get("error_rate")]
            + [num(s.get(k), "ms") for k in ("p50_ms", "p95_ms", "p99_ms")]
            + [", ".join(s.get("crossed") or []) or "-"]
            for s in sweep["steps"]
        ]
        heads = ["users" if key == "users" else "asked/s", "ok/s", "errors", "p50", "p95", "p99"]
        out.append(f"<h2>{escape(name.capitalize())} sweep</h2>")
        out.append(table([*heads, "above warning"], rows, f"sweep-{name}"))
        extra = {k: v for k, v in sweep.items() if k != "steps" and not isinstance(v, dict | list)}
        out.append(table(None, [[k, v] for k, v in extra.items()], f"sweep-{name}-verdict"))
    return "\n".join(out)


def _notes(r: dict[str, Any]) -> str:
    notes = r.get("operator_notes") or []
    rows = [
        [
            str(n.get("at", "-")),
            num(n.get("t_s"), "s"),
            str(n.get("fault_id") or "-"),
            str(n.get("decision", "-")),
            str(n.get("note", "")),
        ]
        for n in notes
        if isinstance(n, dict)
    ]
    if not rows:
        return ""
    heads = ["at", "run time", "fault", "decision", "note"]
    return "<h2>Operator notes</h2>" + table(heads, rows, "operator_notes")


def _errors(r: dict[str, Any]) -> str:
    errors = r.get("errors") or []
    if not errors:
        return ""
    items = "".join(f"<li>{escape(str(e))}</li>" for e in errors)
    return f'<h2>Errors</h2><ul data-list="errors">{items}</ul>'


def _scenario(data: RunData) -> str:
    if data.scenario is None:
        return "<h2>Scenario as run</h2><p>no scenario.json in the run directory</p>"
    text = json.dumps(data.scenario, indent=2)
    return f'<h2>Scenario as run</h2><pre data-block="scenario">{escape(text)}</pre>'
