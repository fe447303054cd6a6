"""Per-fault recovery analysis: a pure function of the history.

From 100 ms windows (see ``harness.windows``) and a baseline taken between the warm-up
and the first fault, each fault gets:

* ``time_to_impact_s``: from the fault being applied to the start of the first
  unhealthy window while it was applied; ``None`` when no window was unhealthy;
* ``availability``: acknowledged / all operations completed while it was applied;
* ``time_to_recover_s``: from the revert to the start of the first healthy run of
  windows lasting ``healthy_for``; ``None`` with ``censored: True`` when no such run
  started before the next fault or the end of the load. A censored fault also gets
  ``after_revert``: how many windows after its revert were unhealthy, and why.

A window is healthy when it has at least ``min_throughput_ratio`` of the baseline's
acknowledged throughput, an error rate no higher than the baseline's plus
``max_error_rate``, and a p95 no higher than ``max(p95_factor x baseline p95,
baseline p95 + p95_floor_ms)``. A run is healthy when its first window is healthy and
the run taken as a whole passes the same three tests (throughput summed over its
windows, error rate and p95 over all its operations): a machine that stalls for a few
tens of milliseconds now and then makes single 100 ms windows slow, while a service
still degraded keeps the whole run slow. With ``strict: true`` every window of the run
must be healthy.
"""

from __future__ import annotations

import bisect
import math
import statistics
from dataclasses import dataclass
from typing import Any

from harness.scenario import RecoverySpec
from harness.windows import Window, WindowSeries, percentile_ms


@dataclass(frozen=True)
class Baseline:
    start_s: float
    end_s: float
    throughput_ops_s: float
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    windows: int

    def to_dict(self) -> dict[str, Any]:
        return {k: _round(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class FaultTimes:
    fault_id: str
    kind: str
    targets: list[str]
    planned_at_s: float
    applied_at_s: float | None
    reverted_at_s: float | None
    planned_revert_s: float | None
    apply_error: str | None = None
    revert_error: str | None = None


@dataclass(frozen=True)
class Health:
    min_ok_per_window: float
    max_error_rate: float
    max_p95_ms: float | None

    def healthy(self, w: Window) -> bool:
        return self.why_unhealthy(w) is None

    def why_unhealthy(self, w: Window) -> str | None:
        """``None`` for a healthy window, else the first test it fails."""
        if w.total == 0 or w.ok < self.min_ok_per_window:
            return "low_throughput"
        if w.error_rate > self.max_error_rate:
            return "errors"
        p95 = w.p(95)
        if self.max_p95_ms is not None and p95 is not None and p95 > self.max_p95_ms:
            return "slow"
        return None

    def slow_ops(self, w: Window) -> int:
        """Acknowledged operations of ``w`` slower than the p95 limit: a run's p95 is
        within the limit exactly when at most 5% of its operations are slower."""
        if self.max_p95_ms is None or w._hist is None:
            return 0
        limit_us = self.max_p95_ms * 1000.0
        return sum(
            item.count_at_value_iterated_to
            for item in w._hist.get_recorded_iterator()
            if item.value_iterated_to > limit_us
        )


def fault_times(records: list[dict[str, Any]], t0_ns: int) -> list[FaultTimes]:
    """Planned and actual times of every fault, from its history records."""
    found: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.get("op") != "fault":
            continue
        entry = found.setdefault(
            rec["fault_id"],
            {"kind": rec["kind"], "targets": rec.get("targets", []), "apply": None, "revert": None},
        )
        if rec["action"] == "apply":
            entry["apply"] = entry["apply"] or rec
        elif entry["revert"] is None or entry["revert"]["type"] != "ok":
            # Retried reverts: the first successful attempt, else the latest failure.
            entry["revert"] = rec
    out = []
    for fault_id, e in found.items():
        apply, revert = e["apply"], e["revert"]

        def rel(ns: int | None) -> float | None:
            return None if ns is None else (ns - t0_ns) / 1e9

        out.append(
            FaultTimes(
                fault_id=fault_id,
                kind=e["kind"],
                targets=e["targets"],
                planned_at_s=_or_nan(rel(apply["planned_ns"]) if apply else None),
                applied_at_s=rel(apply["t_end"]) if apply and apply["type"] == "ok" else None,
                reverted_at_s=rel(revert["t_end"]) if revert and revert["type"] == "ok" else None,
                planned_revert_s=rel(revert["planned_ns"]) if revert else None,
                apply_error=apply.get("error") if apply else "never applied",
                revert_error=revert.get("error") if revert else "never reverted",
            )
        )
    return sorted(out, key=lambda f: f.planned_at_s)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def baseline_of(series: WindowSeries, spec: RecoverySpec, until_s: float) -> Baseline:
    first = series.index_of(spec.warmup)
    last = series.index_of(until_s) - 1
    if last < first:
        # Too short a lead-in: use whatever precedes the first fault.
        first, last = 0, max(series.index_of(until_s) - 1, 0)
    windows = series.windows[first : last + 1]
    total = sum(w.total for w in windows)
    errors = sum(w.fail + w.info for w in windows)
    ok_rates = [w.ok / series.window_s for w in windows]
    merged = series.merged(first, last)
    return Baseline(
        start_s=first * series.window_s,
        end_s=(last + 1) * series.window_s,
        throughput_ops_s=statistics.median(ok_rates) if ok_rates else 0.0,
        error_rate=errors / total if total else 0.0,
        p50_ms=percentile_ms(merged, 50),
        p95_ms=percentile_ms(merged, 95),
        p99_ms=percentile_ms(merged, 99),
        windows=len(windows),
    )


def health_from(baseline: Baseline, spec: RecoverySpec, window_s: float) -> Health:
    max_p95 = None
    if baseline.p95_ms is not None:
        max_p95 = max(baseline.p95_ms * spec.p95_factor, baseline.p95_ms + spec.p95_floor_ms)
    return Health(
        min_ok_per_window=spec.min_throughput_ratio * baseline.throughput_ops_s * window_s,
        max_error_rate=baseline.error_rate + spec.max_error_rate,
        max_p95_ms=max_p95,
    )


def analyse_faults(
    series: WindowSeries,
    completions: Completions,
    faults: list[FaultTimes],
    spec: RecoverySpec,
    load_end_s: float,
) -> tuple[Baseline, list[dict[str, Any]]]:
    """Baseline and one result row per fault (the ``faults`` list of result.json)."""
    first_apply = min(
        (f.applied_at_s for f in faults if f.applied_at_s is not None), default=load_end_s
    )
    baseline = baseline_of(series, spec, first_apply)
    health = health_from(baseline, spec, series.window_s)
    # The last window is cut short by the end of the load: never judge it.
    last_index = min(len(series.windows), int(load_end_s / series.window_s + 1e-9)) - 1
    need = max(1, math.ceil(spec.healthy_for / series.window_s - 1e-9))
    rows = []
    for i, f in enumerate(faults):
        later = [g.applied_at_s for g in faults[i + 1 :] if g.applied_at_s is not None]
        limit_s = min([load_end_s, *later])
        last = min(last_index, _last_before(series, limit_s))
        rows.append(_fault_row(series, completions, f, health, need, last, spec.strict))
    return baseline, rows


def _last_before(series: WindowSeries, t_s: float) -> int:
    return int(t_s / series.window_s + 1e-9) - 1


def _fault_row(
    series: WindowSeries,
    completions: Completions,
    f: FaultTimes,
    health: Health,
    need: int,
    last_index: int,
    strict: bool,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f.fault_id,
        "kind": f.kind,
        "target": f.targets[0] if len(f.targets) == 1 else f.targets,
        "planned_at_s": _round(f.planned_at_s),
        "applied_at_s": _round(f.applied_at_s),
        "reverted_at_s": _round(f.reverted_at_s),
        "time_to_impact_s": None,
        "time_to_recover_s": None,
        "censored": True,
        "availability": None,
    }
    if f.apply_error:
        row["error"] = f"apply failed: {f.apply_error}"
    if f.applied_at_s is None or f.reverted_at_s is None:
        if f.revert_error and not f.apply_error:
            row["error"] = f"revert failed: {f.revert_error}"
        return row
    applied, reverted = f.applied_at_s, f.reverted_at_s
    start_i, end_i = series.index_of(applied), series.index_of(reverted)
    during = series.windows[start_i : end_i + 1]
    for w in during:
        if not health.healthy(w):
            row["time_to_impact_s"] = _round(max(0.0, w.start_s - applied))
            break
    row["availability"] = _availability(completions, applied, reverted)
    after = series.windows[end_i : last_index + 1]
    start = _first_healthy_run(after, health, need, strict)
    if start is not None:
        row["time_to_recover_s"] = _round(max(0.0, after[start].start_s - reverted))
        row["censored"] = False
    else:
        row["after_revert"] = _unhealthy_counts(after, health, series.window_s)
    return row


def _first_healthy_run(
    windows: list[Window], health: Health, need: int, strict: bool
) -> int | None:
    """Index of the first window starting a healthy run of ``need`` windows."""
    verdicts = [health.healthy(w) for w in windows]
    if strict:
        run = 0
        for i, healthy in enumerate(verdicts):
            run = run + 1 if healthy else 0
            if run == need:
                return i - need + 1
        return None
    # Running sums over the windows: any run's totals in constant time.
    sums = [(0, 0, 0, 0)]
    for w in windows:
        ok, total, errors, slow = sums[-1]
        sums.append(
            (ok + w.ok, total + w.total, errors + w.fail + w.info, slow + health.slow_ops(w))
        )
    for i in range(len(windows) - need + 1):
        if not verdicts[i]:
            continue
        ok, total, errors, slow = (b - a for a, b in zip(sums[i], sums[i + need], strict=True))
        if (
            ok >= health.min_ok_per_window * need
            and errors <= health.max_error_rate * total
            and slow <= 0.05 * ok
        ):
            return i
    return None


def _unhealthy_counts(windows: list[Window], health: Health, window_s: float) -> dict[str, Any]:
    """Why a fault never recovered: its windows after the revert, by failed test."""
    counts = {"windows": len(windows), "low_throughput": 0, "errors": 0, "slow": 0}
    for w in windows:
        reason = health.why_unhealthy(w)
        if reason is not None:
            counts[reason] += 1
    return {
        **counts,
        "min_ops_s": _round(health.min_ok_per_window / window_s),
        "max_error_rate": _round(health.max_error_rate),
        "max_p95_ms": _round(health.max_p95_ms),
    }


def _availability(completions: Completions, applied_s: float, reverted_s: float) -> float:
    """Acknowledged share of the operations that completed while the fault was applied;
    0.0 when none completed (everything hung)."""
    lo = bisect.bisect_left(completions.t_end_s, applied_s)
    hi = bisect.bisect_right(completions.t_end_s, reverted_s)
    total = hi - lo
    if total == 0:
        return 0.0
    ok = completions.ok_before[hi] - completions.ok_before[lo]
    return round(ok / total, 4)


@dataclass
class Completions:
    """Operation completion times (seconds from t0, sorted) with a running count of
    acknowledged ones, for exact counts over any interval."""

    t_end_s: list[float]
    ok_before: list[int]

    @classmethod
    def from_ops(cls, ops: list[tuple[float, bool]]) -> Completions:
        ops = sorted(ops)
        ok_before = [0]
        for _, ok in ops:
            ok_before.append(ok_before[-1] + ok)
        return cls([t for t, _ in ops], ok_before)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value
