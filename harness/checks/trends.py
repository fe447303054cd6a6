"""Soak verdicts: does the service get worse the longer it runs? A pure function of the
history's resource samples and the run's windows.

Three trends, each judged ``ok`` / ``warning`` / ``critical`` against the scenario's
bands (``checks.trends``), over the run minus its warm-up and minus every fault from its
apply until it recovered (the revert plus ``time_to_recover_s``, or ``healthy_for`` when
it never did), since a fault's own damage is the recovery check's business:

* **memory slope** per service: a least-squares line through its RSS samples, in MB
  (10^6 bytes) per hour. A restarted process starts from a new level, and a fault may
  leave memory at a new level, so each pid and each stretch between faults gets its own
  intercept and the slope is pooled over them (the slope within each stretch). The
  verdict takes the slope's lower bound (slope minus two standard errors): noise on a
  flat series gives a wide, uncertain slope and raises no alarm, while a steady climb
  has a tight one. ``growth_ratio`` is the growth the slope predicts over the analysed
  span, relative to the fitted level at its start. Only the services named in
  ``services`` (default: the lab's own) count towards the verdict; the Toxiproxy
  server is sampled and reported but, being the harness's instrument rather than the
  system under test, judged only when named (its Go heap grows in steps for a minute
  or more under load).
* **p95 drift**: the p95 latency of the last ``segment`` of the analysed windows over
  that of the first; a rise smaller than ``p95_drift_floor_ms`` is no drift.
* **error-rate increase**: the error rate ((fail + info) / all) of the last segment
  minus that of the first.

Any ``critical`` makes the verdict ``fail`` (exit 1); ``warning`` is reported and passes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness.scenario import Scenario, TrendBand, TrendsCheckSpec
from harness.windows import Window, WindowSeries, new_histogram, percentile_ms

LEVELS = ("unknown", "ok", "warning", "critical")
Span = tuple[float, float]


@dataclass(frozen=True)
class TrendInput:
    """What the analysis needs besides the samples and windows (seconds from t0)."""

    t0_ns: int
    end_s: float
    warmup_s: float
    settle_s: float  # how long after a revert a fault counts, when it never recovered
    judged: frozenset[str]  # services whose memory trend counts towards the verdict


def trend_input(scenario: Scenario, t0_ns: int) -> TrendInput:
    """The run's facts as the scenario gives them (its ``checks.trends`` must be set)."""
    spec = scenario.checks.trends
    assert spec is not None
    warmup = spec.warmup if spec.warmup is not None else scenario.recovery.warmup
    judged = frozenset(spec.services if spec.services is not None else scenario.lab.services)
    return TrendInput(t0_ns, scenario.duration, warmup, scenario.recovery.healthy_for, judged)


def level_of(value: float | None, band: TrendBand) -> str:
    if value is None or math.isnan(value):
        return "unknown"
    if value >= band.critical:
        return "critical"
    return "warning" if value >= band.warning else "ok"


def excluded_spans(faults: list[dict[str, Any]], run: TrendInput) -> list[Span]:
    """The warm-up, then each applied fault until it recovered (to the end of the run if
    its revert failed)."""
    spans = [(0.0, run.warmup_s)] if run.warmup_s > 0 else []
    for f in faults:
        applied, reverted = f.get("applied_at_s"), f.get("reverted_at_s")
        if applied is None:
            continue  # never took effect
        if reverted is None:
            spans.append((applied, run.end_s))
            continue
        ttr = f.get("time_to_recover_s")
        spans.append((applied, reverted + (ttr if ttr is not None else run.settle_s)))
    return sorted(spans)


def _inside(t_s: float, spans: list[Span]) -> bool:
    return any(lo <= t_s < hi for lo, hi in spans)


@dataclass(frozen=True)
class Fit:
    slope: float  # units per second
    stderr: float | None
    start_level: float


def pooled_fit(groups: list[list[tuple[float, float]]]) -> Fit | None:
    """One slope through several series (t, y) that may each sit at their own level: the
    sums of squares pooled over the groups. ``None`` without two distinct times."""
    groups = [g for g in groups if len(g) >= 2]
    stats = []
    for g in groups:
        mt = sum(t for t, _ in g) / len(g)
        my = sum(y for _, y in g) / len(g)
        sxx = sum((t - mt) ** 2 for t, _ in g)
        sxy = sum((t - mt) * (y - my) for t, y in g)
        stats.append((g, mt, my, sxx, sxy))
    total_sxx = sum(s[3] for s in stats)
    if total_sxx <= 0:
        return None
    slope = sum(s[4] for s in stats) / total_sxx
    residual = sum((y - my - slope * (t - mt)) ** 2 for g, mt, my, _, _ in stats for t, y in g)
    dof = sum(len(g) for g in groups) - len(groups) - 1
    stderr = math.sqrt(residual / dof / total_sxx) if dof > 0 else None
    g, mt, my, _, _ = stats[0]
    return Fit(slope, stderr, my + slope * (g[0][0] - mt))


def memory_trends(
    samples: list[dict[str, Any]], spans: list[Span], run: TrendInput, spec: TrendsCheckSpec
) -> dict[str, dict[str, Any]]:
    # Samples grouped by (pid, stretch between excluded spans), each group fitted at its
    # own level: a restart or a fault may move the level, only a slope within is a trend.
    by_service: dict[str, dict[tuple[int, int], list[tuple[float, float]]]] = defaultdict(dict)
    for s in samples:
        t_s = (s["t"] - run.t0_ns) / 1e9
        if 0 <= t_s <= run.end_s and not _inside(t_s, spans):
            stretch = sum(hi <= t_s for _, hi in spans)
            group = by_service[s["service"]].setdefault((s["pid"], stretch), [])
            group.append((t_s, s["rss_bytes"] / 1e6))
    out = {}
    for service, by_group in sorted(by_service.items()):
        groups = [sorted(points) for points in by_group.values()]
        points = sorted(p for g in groups for p in g)
        fit = pooled_fit(groups)
        row: dict[str, Any] = {
            "samples": len(points),
            "pids": list(dict.fromkeys(pid for pid, _ in by_group)),
            "start_mb": round(points[0][1], 3),
            "end_mb": round(points[-1][1], 3),
            "slope_mb_per_hour": None,
            "slope_low_mb_per_hour": None,
            "growth_ratio": None,
        }
        if fit is not None:
            low = fit.slope - 2 * fit.stderr if fit.stderr is not None else fit.slope
            growth = fit.slope * (points[-1][0] - points[0][0])
            row["slope_mb_per_hour"] = round(fit.slope * 3600, 3)
            row["slope_low_mb_per_hour"] = round(low * 3600, 3)
            row["growth_ratio"] = round(growth / fit.start_level, 4) if fit.start_level else None
        levels = [level_of(row["slope_low_mb_per_hour"], spec.memory_slope_mb_per_hour)]
        if spec.memory_growth_ratio is not None:
            levels.append(level_of(row["growth_ratio"], spec.memory_growth_ratio))
        row["level"] = max(levels, key=LEVELS.index)
        row["judged"] = service in run.judged
        out[service] = row
    return out


def _segments(
    series: WindowSeries, spans: list[Span], run: TrendInput, share: float
) -> tuple[list[Window], list[Window]]:
    """The first and last ``share`` of the windows that are analysed (full windows only)."""
    width = series.window_s
    last_full = int(run.end_s / width + 1e-9)
    kept = [
        w
        for w in series.windows[:last_full]
        if not any(lo < w.start_s + width and w.start_s < hi for lo, hi in spans)
    ]
    if len(kept) < 2:
        return [], []
    k = max(1, min(len(kept) // 2, round(len(kept) * share)))
    return kept[:k], kept[-k:]


def _p95(windows: list[Window]) -> float | None:
    merged = new_histogram()
    for w in windows:
        if w._hist is not None:
            merged.add(w._hist)
    return percentile_ms(merged, 95)


def _error_rate(windows: list[Window]) -> float | None:
    total = sum(w.total for w in windows)
    return sum(w.fail + w.info for w in windows) / total if total else None


def latency_and_errors(
    series: WindowSeries, spans: list[Span], run: TrendInput, spec: TrendsCheckSpec
) -> tuple[dict[str, Any], dict[str, Any]]:
    first, last = _segments(series, spans, run, spec.segment)
    p_first, p_last = _p95(first), _p95(last)
    ratio = None
    if p_first and p_last is not None:
        ratio = p_last / p_first
    drift_level = level_of(ratio, spec.p95_drift_ratio)
    if p_first is not None and p_last is not None and p_last - p_first < spec.p95_drift_floor_ms:
        drift_level = "ok"
    drift: dict[str, Any] = {
        "first_ms": p_first,
        "last_ms": p_last,
        "ratio": None if ratio is None else round(ratio, 3),
        "level": drift_level,
    }
    e_first, e_last = _error_rate(first), _error_rate(last)
    increase = None if e_first is None or e_last is None else e_last - e_first
    errors: dict[str, Any] = {
        "first": None if e_first is None else round(e_first, 6),
        "last": None if e_last is None else round(e_last, 6),
        "increase": None if increase is None else round(increase, 6),
        "level": level_of(increase, spec.error_rate_increase),
    }
    if first:
        span = [round(first[0].start_s, 3), round(first[-1].start_s + series.window_s, 3)]
        tail = [round(last[0].start_s, 3), round(last[-1].start_s + series.window_s, 3)]
        drift["segments_s"] = errors["segments_s"] = [span, tail]
    return drift, errors


def check_trends(
    samples: list[dict[str, Any]],
    series: WindowSeries,
    faults: list[dict[str, Any]],
    run: TrendInput,
    spec: TrendsCheckSpec,
) -> dict[str, Any]:
    """The ``checks.trends`` entry of result.json."""
    spans = excluded_spans(faults, run)
    memory = memory_trends(samples, spans, run, spec)
    drift, errors = latency_and_errors(series, spans, run, spec)
    findings = [(f"memory[{n}]", row["level"]) for n, row in memory.items() if row["judged"]]
    findings += [("p95_drift", drift["level"]), ("error_rate", errors["level"])]
    worst = max((lvl for _, lvl in findings), key=LEVELS.index, default="ok")
    return {
        "verdict": "fail" if worst == "critical" else "pass",
        "level": worst,
        "critical": [name for name, lvl in findings if lvl == "critical"],
        "warning": [name for name, lvl in findings if lvl == "warning"],
        "excluded_s": [[round(lo, 3), round(hi, 3)] for lo, hi in spans],
        "memory": memory,
        "p95_drift": drift,
        "error_rate": errors,
    }
