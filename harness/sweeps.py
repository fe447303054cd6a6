"""Capacity and throughput sweeps, analysed per step from the history (pure functions).

Each step's statistics leave out its first ``settle`` seconds (spawning users, or the
pace changing, takes effect within a second). A step *crosses* when its p95 or p99
(acknowledged operations) or its error rate is above the scenario's warning threshold,
or when it acknowledged nothing at all.

* Capacity: the **knee** is the first step's user count that crosses; the **safe
  ceiling** is 0.8 x the knee, rounded down. No step crossing: both are ``None`` and
  ``no_knee_up_to`` says the largest count tried.
* Throughput: the **elbow** is the first asked rate that crosses, or whose achieved
  rate of acknowledged paced operations falls below ``ACHIEVED_MIN`` (90%) of it;
  ``max_good_rate`` is the asked rate of the step before it (``None`` when the first
  step is the elbow); no elbow: ``elbow_rate`` is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.windows import WindowSeries, percentile_ms

SAFE_SHARE = 0.8
ACHIEVED_MIN = 0.9
LATENCY_METRICS = ("p95_ms", "p99_ms")


@dataclass
class StepStats:
    value: float  # users (capacity) or asked rate (throughput)
    start_s: float
    end_s: float
    ops: int
    ok: int
    error_rate: float
    throughput_ops_s: float  # acknowledged operations per second
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    crossed: list[str] = field(default_factory=list)


def crossings(step: StepStats, warnings: dict[str, float]) -> list[str]:
    """The metrics of ``step`` above their warning bound."""
    if step.ok == 0:
        return ["no acknowledged operation"]
    out = []
    for name in LATENCY_METRICS:
        value = getattr(step, name)
        if name in warnings and value is not None and value > warnings[name]:
            out.append(name)
    if "error_rate" in warnings and step.error_rate > warnings["error_rate"]:
        out.append("error_rate")
    return out


def find_knee(steps: list[StepStats], warnings: dict[str, float]) -> int | None:
    """Index of the first step that crosses a warning threshold."""
    return next((i for i, s in enumerate(steps) if crossings(s, warnings)), None)


def find_elbow(steps: list[StepStats], warnings: dict[str, float]) -> int | None:
    """Index of the first step that crosses, or achieves under 90% of its asked rate."""
    for i, step in enumerate(steps):
        if crossings(step, warnings) or step.throughput_ops_s < ACHIEVED_MIN * step.value:
            return i
    return None


def measure_steps(
    records: Iterable[dict[str, Any]],
    t0_ns: int,
    spans: list[tuple[float, float]],
    values: list[float],
    ops: Iterable[str],
    settle_s: float,
) -> list[StepStats]:
    """Per-step statistics of the operations named ``ops``, placed by completion time."""
    wanted = set(ops)
    end_s = max((end for _, end in spans), default=0.0)
    series = WindowSeries(t0_ns, 0.1, end_s)
    for rec in records:
        if rec.get("op") in wanted and "type" in rec:
            series.add(rec["t_start"], rec["t_end"], rec["type"])
    out = []
    for (start, end), value in zip(spans, values, strict=True):
        first = series.index_of(start + settle_s)
        last = series.index_of(end) - 1
        windows = series.windows[first : last + 1]
        ok = sum(w.ok for w in windows)
        total = sum(w.total for w in windows)
        hist = series.merged(first, last)
        seconds = max(end - start - settle_s, 1e-9)
        out.append(
            StepStats(
                value=value,
                start_s=round(start, 3),
                end_s=round(end, 3),
                ops=total,
                ok=ok,
                error_rate=round((total - ok) / total, 6) if total else 0.0,
                throughput_ops_s=round(ok / seconds, 1),
                p50_ms=percentile_ms(hist, 50),
                p95_ms=percentile_ms(hist, 95),
                p99_ms=percentile_ms(hist, 99),
            )
        )
    return out


def _rows(steps: list[StepStats], name: str, warnings: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for step in steps:
        row = asdict(step)
        value = row.pop("value")
        row["crossed"] = crossings(step, warnings)
        rows.append({name: int(value) if name == "users" else value, **row})
    return rows


def capacity_summary(steps: list[StepStats], warnings: dict[str, float]) -> dict[str, Any]:
    """``capacity`` of result.json: the steps, the knee and the safe ceiling."""
    knee = find_knee(steps, warnings)
    knee_users = None if knee is None else int(steps[knee].value)
    return {
        "steps": _rows(steps, "users", warnings),
        "warning": warnings,
        "knee_users": knee_users,
        "safe_ceiling_users": None if knee_users is None else math.floor(SAFE_SHARE * knee_users),
        "no_knee_up_to": int(steps[-1].value) if knee is None and steps else None,
    }


def throughput_summary(steps: list[StepStats], warnings: dict[str, float]) -> dict[str, Any]:
    """``throughput`` of result.json: asked and achieved rates per step, and the elbow."""
    elbow = find_elbow(steps, warnings)
    rows = _rows(steps, "rate", warnings)
    for row, step in zip(rows, steps, strict=True):
        if step.throughput_ops_s < ACHIEVED_MIN * step.value:
            row["crossed"].append("achieved rate below 90%")
    return {
        "steps": rows,
        "warning": warnings,
        "elbow_rate": None if elbow is None else steps[elbow].value,
        "max_good_rate": (
            steps[-1].value if elbow is None else (steps[elbow - 1].value if elbow else None)
        ),
    }


def sweep_result(
    profile: Any,
    records: list[dict[str, Any]],
    t0_ns: int,
    ops: Iterable[str],
    warnings: dict[str, float],
) -> dict[str, Any]:
    """``{"capacity": ...}`` or ``{"throughput": ...}`` for a sweep profile, else ``{}``."""
    from harness.profiles import CapacityProfile, ThroughputProfile

    if not isinstance(profile, CapacityProfile | ThroughputProfile):
        return {}
    steps = measure_steps(
        records, t0_ns, profile.step_spans(), profile.step_values(), ops, profile.settle
    )
    if isinstance(profile, CapacityProfile):
        return {"capacity": capacity_summary(steps, warnings)}
    return {"throughput": throughput_summary(steps, warnings)}
