"""Two runs of a scenario compared metric by metric: did the newer one regress?

A run is reduced to ``RunMetrics`` (what the run index stores too): throughput, latency
percentiles, error rate, each fault's time to recover keyed by ``id kind``, and each
check's verdict. ``compare`` judges the newer run against the older one with
``Tolerances`` (the scenario's ``regressions:`` block, defaults below, or flags):

* ``p95_ms`` regresses above ``max(old x p95_ratio, old + p95_floor_ms)``: a ratio
  alone would flag a 1 ms -> 1.3 ms wobble that no user notices;
* ``time_to_recover_s`` of a fault (matched by id, then kind) regresses above
  ``max(old x ttr_ratio, old + ttr_floor_s)``, or when it no longer recovered at all;
* ``throughput_ops_s`` regresses below ``old x throughput_ratio``;
* ``error_rate`` regresses above ``old + error_rate_increase``;
* a check that passed and now fails regresses.

p50 and p99 are shown for context and never judged. Pure functions: no files here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

OK, REGRESSION, IMPROVED, INFO = "ok", "regression", "improved", "info"


class Tolerances(BaseModel):
    """How much worse a run may be than the one it is compared with (``regressions:``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p95_ratio: float = Field(1.2, ge=1, le=1000, description="p95 may grow to old x this")
    p95_floor_ms: float = Field(5.0, ge=0, description="...or by this many ms, whichever is more")
    ttr_ratio: float = Field(1.5, ge=1, le=1000, description="time to recover: old x this")
    ttr_floor_s: float = Field(0.5, ge=0, description="...or old + this, whichever is more")
    throughput_ratio: float = Field(
        0.85, gt=0, le=1, description="throughput may fall to old x this"
    )
    error_rate_increase: float = Field(
        0.01, ge=0, le=1, description="the error rate may rise by this much (absolute)"
    )


@dataclass(frozen=True)
class RunMetrics:
    """What a comparison needs from a run; JSON-friendly so the index can store it."""

    throughput_ops_s: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float | None
    # "id kind" -> seconds, or None when the fault never recovered (censored).
    time_to_recover_s: dict[str, float | None] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunMetrics:
        return cls(
            throughput_ops_s=data.get("throughput_ops_s"),
            p50_ms=data.get("p50_ms"),
            p95_ms=data.get("p95_ms"),
            p99_ms=data.get("p99_ms"),
            error_rate=data.get("error_rate"),
            time_to_recover_s=dict(data.get("time_to_recover_s") or {}),
            checks=dict(data.get("checks") or {}),
        )


def fault_key(fault: dict[str, Any]) -> str:
    return f"{fault['id']} {fault['kind']}"


def metrics_of(result: dict[str, Any]) -> RunMetrics:
    """The comparable metrics of a ``result.json``; faults never applied are left out."""
    w = result.get("workload") or {}
    ops = w.get("ops") or 0
    errors = (w.get("fail") or 0) + (w.get("info") or 0)
    recover: dict[str, float | None] = {}
    for f in result.get("faults") or []:
        if f.get("applied_at_s") is None or f.get("reverted_at_s") is None:
            continue
        recover[fault_key(f)] = None if f.get("censored") else f.get("time_to_recover_s")
    checks = {name: c.get("verdict", "unknown") for name, c in (result.get("checks") or {}).items()}
    return RunMetrics(
        throughput_ops_s=w.get("throughput_ops_s"),
        p50_ms=w.get("p50_ms"),
        p95_ms=w.get("p95_ms"),
        p99_ms=w.get("p99_ms"),
        error_rate=round(errors / ops, 6) if ops else None,
        time_to_recover_s=recover,
        checks=checks,
    )


@dataclass(frozen=True)
class MetricRow:
    metric: str
    old: Any
    new: Any
    change: str
    tolerance: str
    verdict: str


@dataclass
class Comparison:
    rows: list[MetricRow]
    tolerances: Tolerances

    @property
    def regressions(self) -> list[str]:
        return [r.metric for r in self.rows if r.verdict == REGRESSION]

    @property
    def verdict(self) -> str:
        return "regression" if self.regressions else "pass"

    def to_json(self, baseline: dict[str, Any]) -> dict[str, Any]:
        """The ``comparison`` block of ``result.json``; ``baseline`` says what it was
        compared with (run directory, start time)."""
        return {
            "baseline": baseline,
            "verdict": self.verdict,
            "regressions": self.regressions,
            "tolerances": self.tolerances.model_dump(),
            "metrics": [asdict(r) for r in self.rows],
        }


def _change(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return "-"
    diff = new - old
    if old == 0:
        return f"{diff:+.4g}"
    return f"{diff:+.4g} ({(new / old - 1) * 100:+.0f}%)"


def _upper(
    metric: str, old: float | None, new: float | None, limit: float | None, tol: str
) -> MetricRow:
    """A metric where more is worse, judged against ``limit`` (None: not judged). It
    improved when it fell by more than the margin it was allowed to grow by."""
    if old is None or new is None or limit is None:
        verdict = INFO
    elif new > limit:
        verdict = REGRESSION
    else:
        verdict = IMPROVED if old - new > limit - old else OK
    return MetricRow(metric, old, new, _change(old, new), tol, verdict)


def _latency_rows(old: RunMetrics, new: RunMetrics, t: Tolerances) -> list[MetricRow]:
    p95_limit = None
    if old.p95_ms is not None:
        p95_limit = max(old.p95_ms * t.p95_ratio, old.p95_ms + t.p95_floor_ms)
    tol = f"x{t.p95_ratio:g} or +{t.p95_floor_ms:g}ms"
    return [
        _upper("p50_ms", old.p50_ms, new.p50_ms, None, "-"),
        _upper("p95_ms", old.p95_ms, new.p95_ms, p95_limit, tol),
        _upper("p99_ms", old.p99_ms, new.p99_ms, None, "-"),
    ]


def _throughput_row(old: RunMetrics, new: RunMetrics, t: Tolerances) -> MetricRow:
    a, b = old.throughput_ops_s, new.throughput_ops_s
    tol = f"x{t.throughput_ratio:g}"
    if a is None or b is None:
        verdict = INFO
    elif b < a * t.throughput_ratio:
        verdict = REGRESSION
    else:
        verdict = IMPROVED if b > a / t.throughput_ratio else OK
    return MetricRow("throughput_ops_s", a, b, _change(a, b), tol, verdict)


def _error_row(old: RunMetrics, new: RunMetrics, t: Tolerances) -> MetricRow:
    a, b = old.error_rate, new.error_rate
    limit = None if a is None else a + t.error_rate_increase
    return _upper("error_rate", a, b, limit, f"+{t.error_rate_increase:g}")


def _recovery_rows(old: RunMetrics, new: RunMetrics, t: Tolerances) -> list[MetricRow]:
    """One row per fault of either run, matched by ``id kind``."""
    tol = f"x{t.ttr_ratio:g} or +{t.ttr_floor_s:g}s"
    rows = []
    keys = list(old.time_to_recover_s) + [
        k for k in new.time_to_recover_s if k not in old.time_to_recover_s
    ]
    for key in keys:
        metric = f"time_to_recover_s[{key.split(' ')[0]}]"
        if key not in new.time_to_recover_s or key not in old.time_to_recover_s:
            where = "the old run" if key in old.time_to_recover_s else "the new run"
            rows.append(MetricRow(metric, None, None, f"only in {where}", tol, INFO))
            continue
        a, b = old.time_to_recover_s[key], new.time_to_recover_s[key]
        if b is None:
            verdict = OK if a is None else REGRESSION  # recovered before, never now
        elif a is None:
            verdict = IMPROVED
        else:
            verdict = REGRESSION if b > max(a * t.ttr_ratio, a + t.ttr_floor_s) else OK
        shown_a = "never" if a is None else a
        shown_b = "never" if b is None else b
        rows.append(MetricRow(metric, shown_a, shown_b, _change(a, b), tol, verdict))
    return rows


def _check_rows(old: RunMetrics, new: RunMetrics) -> list[MetricRow]:
    rows = []
    for name in sorted(set(old.checks) | set(new.checks)):
        a, b = old.checks.get(name), new.checks.get(name)
        if a == "pass" and b not in ("pass", None):
            verdict = REGRESSION
        elif a is None or b is None:
            verdict = INFO
        else:
            verdict = IMPROVED if b == "pass" and a != "pass" else OK
        change = "-" if a == b else f"{a} -> {b}"
        rows.append(MetricRow(f"check[{name}]", a, b, change, "pass stays pass", verdict))
    return rows


def compare(old: RunMetrics, new: RunMetrics, tolerances: Tolerances | None = None) -> Comparison:
    """Judge ``new`` against ``old``."""
    t = tolerances or Tolerances()
    rows = [_throughput_row(old, new, t), *_latency_rows(old, new, t), _error_row(old, new, t)]
    rows += _recovery_rows(old, new, t)
    rows += _check_rows(old, new)
    return Comparison(rows, t)
