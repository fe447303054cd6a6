"""``summary.md``: the run in GitHub-flavoured Markdown, short enough for a pull-request
comment or game-day notes: verdict, workload, faults, checks, SLOs, errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.report.fmt import (
    COMPARISON_HEADS,
    comparison_rows,
    counts_of,
    examples_of,
    num,
    recovery_slos,
    recovery_text,
    target_text,
)

_ICON = {"pass": "✅", "fail": "❌", "error": "⚠️"}


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else num(value)
    # A pipe ends a cell and a newline ends the row: user data must not do either.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") or " "


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(_cell(h) for h in headers) + " |"]
    out.append("|" + "|".join("---" for _ in headers) + "|")
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def render_markdown(r: dict[str, Any]) -> str:
    status = str(r.get("status", "?"))
    w = r.get("workload", {})
    lines = [
        f"### {_ICON.get(status, '')} {_cell(str(r.get('scenario', 'run')))}: **{status.upper()}**",
        "",
        f"{r.get('started_at', '-')} to {r.get('ended_at', '-')} "
        f"({num(r.get('duration_s'), 's')}), run directory `{r.get('run_dir', '-')}`",
        "",
    ]
    lines += md_table(
        ["workload", "users", "ops", "ok", "fail", "info", "acked ops/s", "p50", "p95", "p99"],
        [
            [str(w.get("name", "-")), w.get("users"), w.get("ops"), w.get("ok"), w.get("fail")]
            + [w.get("info"), w.get("throughput_ops_s")]
            + [num(w.get(k), "ms") for k in ("p50_ms", "p95_ms", "p99_ms")]
        ],
    )
    lines += _faults(r) + _checks(r) + _slo(r) + _comparison(r)
    errors = r.get("errors") or []
    if errors:
        lines += ["", "**Errors**", ""] + [f"- {_cell(str(e))}" for e in errors]
    return "\n".join(lines) + "\n"


def _faults(r: dict[str, Any]) -> list[str]:
    faults = r.get("faults") or []
    if not faults:
        return []
    budgets = recovery_slos(r)
    rows = [
        [
            str(f.get("id")),
            str(f.get("kind")),
            target_text(f),
            num(f.get("applied_at_s"), "s"),
            num(f.get("reverted_at_s"), "s"),
            f.get("availability"),
            recovery_text(f),
            str(budgets[str(f.get("id"))]["verdict"]).upper()
            if str(f.get("id")) in budgets
            else "-",
        ]
        for f in faults
    ]
    heads = [
        "fault",
        "kind",
        "target",
        "applied",
        "reverted",
        "availability",
        "recovered after",
        "budget",
    ]
    return ["", *md_table(heads, rows)]


def _checks(r: dict[str, Any]) -> list[str]:
    checks = r.get("checks") or {}
    if not checks:
        return []
    rows = []
    for name, c in checks.items():
        counts = ", ".join(f"{k} {num(v)}" for k, v in counts_of(c).items())
        examples = "; ".join(f"{k}: {', '.join(v[:3])}" for k, v in examples_of(c).items())
        rows.append([name, str(c.get("verdict", "?")).upper(), counts, examples or "-"])
    return ["", *md_table(["check", "verdict", "counts", "examples"], rows)]


def _slo(r: dict[str, Any]) -> list[str]:
    rows = [
        [
            str(s.get("name")),
            str(s.get("threshold")),
            s.get("observed"),
            str(s.get("verdict")).upper(),
        ]
        for s in r.get("slo") or []
    ]
    rows += [
        [
            str(b.get("name")),
            f"warning {num(b.get('warning'))}, critical {num(b.get('critical'))}",
            b.get("observed"),
            str(b.get("level")).upper(),
        ]
        for b in r.get("thresholds") or []
    ]
    if not rows:
        return []
    return ["", *md_table(["objective", "threshold", "observed", "verdict"], rows)]


def _comparison(r: dict[str, Any]) -> list[str]:
    comparison = r.get("comparison")
    if not comparison:
        return []
    base = comparison.get("baseline") or {}
    head = (
        f"**Compared with** `{base.get('run_dir', '-')}`: "
        f"**{str(comparison.get('verdict')).upper()}**"
    )
    return ["", head, "", *md_table(COMPARISON_HEADS, comparison_rows(r, judged_only=True))]
