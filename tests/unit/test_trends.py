"""Soak verdicts on synthetic histories: leaks, drift and rising errors are reported;
flat and noisy-flat series are not."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from harness.checks.trends import (
    TrendInput,
    check_trends,
    excluded_spans,
    level_of,
    pooled_fit,
)
from harness.scenario import TrendBand, TrendsCheckSpec
from harness.summary import render_summary
from harness.windows import WindowSeries

T0 = 1_000_000_000_000
SPEC = TrendsCheckSpec()  # memory 50/200 MB/h, p95 drift 1.5/3 (floor 5 ms), errors 0.01/0.05
END_S = 60.0


def ns(t_s: float) -> int:
    return T0 + round(t_s * 1e9)


def run(end_s: float = END_S, warmup_s: float = 5.0) -> TrendInput:
    return TrendInput(T0, end_s, warmup_s, settle_s=1.0, judged=frozenset({"redis"}))


def rss(
    mb: Callable[[float], float], service: str = "redis", pid: int = 100, end_s: float = END_S
) -> list[dict[str, Any]]:
    """One sample a second; ``mb(t)`` is the RSS in MB at ``t``."""
    return [
        {
            "op": "resources",
            "t": ns(float(t)),
            "service": service,
            "pid": pid,
            "rss_bytes": int(mb(float(t)) * 1e6),
            "cpu_percent": 5.0,
        }
        for t in range(int(end_s))
    ]


def windows(
    behaviour: Callable[[float], tuple[str, float]] = lambda t: ("ok", 2.0),
    end_s: float = END_S,
) -> WindowSeries:
    """100 operations a second; ``behaviour(t)`` gives (type, latency_ms)."""
    series = WindowSeries(T0, 0.1, end_s)
    for i in range(int(end_s * 100)):
        t = i / 100 + 0.005
        type_, latency_ms = behaviour(t)
        series.add(ns(t - latency_ms / 1000), ns(t), type_)
    return series


def trends(
    samples: list[dict[str, Any]],
    series: WindowSeries | None = None,
    faults: list[dict[str, Any]] | None = None,
    spec: TrendsCheckSpec = SPEC,
) -> dict[str, Any]:
    return check_trends(samples, series or windows(), faults or [], run(), spec)


# -- memory --------------------------------------------------------------------------------


def test_a_leak_of_one_mb_a_second_is_critical_and_fails():
    result = trends(rss(lambda t: 10 + t))
    row = result["memory"]["redis"]
    assert row["slope_mb_per_hour"] == pytest.approx(3600, rel=0.01)
    assert row["level"] == "critical"
    assert result["verdict"] == "fail"
    assert result["critical"] == ["memory[redis]"]


def test_a_slow_leak_is_a_warning_and_the_run_still_passes():
    # 100 MB/h: between the default warning (50) and critical (200) bands.
    result = trends(rss(lambda t: 10 + 100 / 3600 * t))
    row = result["memory"]["redis"]
    assert row["slope_mb_per_hour"] == pytest.approx(100, rel=0.02)
    assert row["level"] == "warning"
    assert result["verdict"] == "pass" and result["level"] == "warning"
    assert result["warning"] == ["memory[redis]"]


def test_flat_memory_is_ok():
    result = trends(rss(lambda t: 50.0))
    assert result["memory"]["redis"]["slope_mb_per_hour"] == 0
    assert result["memory"]["redis"]["level"] == "ok"
    assert result["verdict"] == "pass" and result["level"] == "ok"


@pytest.mark.parametrize("seed", range(40))
def test_noisy_flat_memory_raises_no_alarm(seed):
    # +-1 MB of noise on 55 samples: the raw slope alone would cross 50 MB/h now and then.
    rng = random.Random(seed)
    row = trends(rss(lambda t: 50 + rng.gauss(0, 1.0)))["memory"]["redis"]
    assert row["level"] == "ok", row


def test_the_noise_above_does_cross_the_band_by_its_raw_slope():
    # What the lower bound protects from: some of the same series, judged by the raw slope.
    raw = []
    for seed in range(40):
        noise = random.Random(seed)
        raw.append(trends(rss(lambda t, r=noise: 50 + r.gauss(0, 1.0)))["memory"]["redis"])
    assert any(row["slope_mb_per_hour"] >= SPEC.memory_slope_mb_per_hour.warning for row in raw)


def test_noisy_leak_is_still_caught():
    rng = random.Random(7)
    row = trends(rss(lambda t: 50 + 0.5 * t + rng.gauss(0, 1.0)))["memory"]["redis"]
    assert row["slope_low_mb_per_hour"] > 200
    assert row["level"] == "critical"


def test_a_restarted_process_is_fitted_per_pid_so_its_fresh_start_hides_no_leak():
    # Leaks 1 MB/s, restarted at 30 s back to its starting size under a new pid.
    before = [s for s in rss(lambda t: 10 + t, pid=100) if s["t"] < ns(30)]
    after = [s for s in rss(lambda t: 10 + (t - 30), pid=200) if s["t"] >= ns(30)]
    row = trends(before + after)["memory"]["redis"]
    assert row["pids"] == [100, 200]
    assert row["slope_mb_per_hour"] == pytest.approx(3600, rel=0.01)
    assert row["level"] == "critical"
    # One line through both would have seen a quarter of the growth rate.
    naive = pooled_fit([[((s["t"] - T0) / 1e9, s["rss_bytes"] / 1e6) for s in before + after]])
    assert naive is not None and naive.slope < 0.3


def test_memory_that_steps_up_during_a_fault_is_no_trend_but_a_leak_around_it_is():
    # 40 MB appear while a fault is applied (20-25 s) and stay: a step, not a trend.
    faults = [{"applied_at_s": 20.0, "reverted_at_s": 25.0, "time_to_recover_s": 1.0}]
    samples = rss(lambda t: 10 if t < 20 else (10 + 8 * (t - 20) if t < 25 else 50))
    result = trends(samples, faults=faults)
    assert result["excluded_s"] == [[0.0, 5.0], [20.0, 26.0]]
    row = result["memory"]["redis"]
    assert row["samples"] == 55 - 6
    assert row["slope_mb_per_hour"] == 0 and row["level"] == "ok"
    leaking = trends(rss(lambda t: 10 + t + (40 if t >= 25 else 0)), faults=faults)
    assert leaking["memory"]["redis"]["slope_mb_per_hour"] == pytest.approx(3600, rel=0.01)


def test_toxiproxy_is_reported_but_not_judged_unless_named():
    samples = rss(lambda t: 50.0) + rss(lambda t: 10 + t, service="toxiproxy", pid=5)
    result = trends(samples)
    assert result["memory"]["toxiproxy"]["level"] == "critical"
    assert result["memory"]["toxiproxy"]["judged"] is False
    assert result["verdict"] == "pass"
    named = check_trends(
        samples, windows(), [], TrendInput(T0, END_S, 5.0, 1.0, frozenset({"toxiproxy"})), SPEC
    )
    assert named["verdict"] == "fail" and named["critical"] == ["memory[toxiproxy]"]


def test_growth_ratio_band_judges_relative_growth_when_set():
    spec = TrendsCheckSpec(memory_growth_ratio=TrendBand(warning=0.1, critical=0.5))
    # 20 MB/h on 10 MB is ok by slope, but +3% over 55 s is not above 10%: ok...
    assert trends(rss(lambda t: 10 + 20 / 3600 * t), spec=spec)["level"] == "ok"
    # ...while 10 -> 15 MB (+50%) over the run is critical by ratio alone.
    big = TrendsCheckSpec(
        memory_slope_mb_per_hour=TrendBand(warning=1e6, critical=1e7),
        memory_growth_ratio=TrendBand(warning=0.1, critical=0.4),
    )
    assert trends(rss(lambda t: 10 + 5 * (t - 5) / 55), spec=big)["level"] == "critical"


# -- latency and errors --------------------------------------------------------------------


def test_p95_drifting_up_is_reported():
    # 2 ms for the first half, then climbing to 20 ms by the end.
    series = windows(lambda t: ("ok", 2.0 + max(0.0, t - 30) * 0.6))
    result = trends(rss(lambda t: 50.0), series)
    drift = result["p95_drift"]
    assert drift["first_ms"] < 2.1 and drift["last_ms"] > 18
    assert drift["segments_s"] == [[5.0, 18.8], [46.2, 60.0]]
    assert drift["level"] == "critical"
    assert "p95_drift" in result["critical"] and result["verdict"] == "fail"


def test_a_p95_rise_below_the_floor_is_no_drift():
    # 0.5 ms, then climbing to 3.5 ms: a critical ratio, but a rise of 3 ms (floor 5).
    series = windows(lambda t: ("ok", 0.5 + max(0.0, t - 30) * 0.1))
    drift = trends(rss(lambda t: 50.0), series)["p95_drift"]
    assert drift["ratio"] > 3 and drift["last_ms"] - drift["first_ms"] < 5
    assert drift["level"] == "ok"


def test_steady_latency_is_no_drift():
    rng = random.Random(3)
    series = windows(lambda t: ("ok", rng.uniform(1.0, 3.0)))
    drift = trends(rss(lambda t: 50.0), series)["p95_drift"]
    assert drift["ratio"] == pytest.approx(1.0, abs=0.1) and drift["level"] == "ok"


def test_rising_error_rate_is_reported():
    rng = random.Random(5)
    # No errors at first, 10% by the last quarter.
    series = windows(lambda t: ("fail", 0.5) if rng.random() < 0.1 * t / END_S * 1.3 else ("ok", 2))
    result = trends(rss(lambda t: 50.0), series)
    errors = result["error_rate"]
    assert errors["first"] < 0.03 and errors["last"] > 0.08
    assert errors["level"] == "critical"
    assert "error_rate" in result["critical"]


def test_a_small_error_rate_rise_is_a_warning():
    rng = random.Random(6)
    series = windows(lambda t: ("fail", 0.5) if t > 45 and rng.random() < 0.02 else ("ok", 2))
    errors = trends(rss(lambda t: 50.0), series)["error_rate"]
    assert 0.01 <= errors["increase"] < 0.05
    assert errors["level"] == "warning"


def test_errors_during_a_fault_are_not_a_trend():
    faults = [{"applied_at_s": 50.0, "reverted_at_s": 55.0, "time_to_recover_s": 0.5}]
    series = windows(lambda t: ("fail", 0.5) if 50 <= t < 55.5 else ("ok", 2.0))
    result = trends(rss(lambda t: 50.0), series, faults)
    assert result["error_rate"]["increase"] == 0
    assert result["verdict"] == "pass"


# -- pieces --------------------------------------------------------------------------------


def test_excluded_spans_cover_warmup_each_fault_until_recovered_and_failed_reverts():
    faults = [
        {"applied_at_s": 10.0, "reverted_at_s": 15.0, "time_to_recover_s": 2.0},
        {"applied_at_s": 20.0, "reverted_at_s": 25.0, "time_to_recover_s": None},
        {"applied_at_s": None, "reverted_at_s": None},
        {"applied_at_s": 40.0, "reverted_at_s": None},
    ]
    assert excluded_spans(faults, run()) == [(0.0, 5.0), (10.0, 17.0), (20.0, 26.0), (40.0, 60.0)]


def test_level_bands_are_inclusive_at_their_thresholds():
    band = TrendBand(warning=1.0, critical=2.0)
    assert [level_of(v, band) for v in (0.5, 1.0, 1.5, 2.0, None)] == [
        "ok",
        "warning",
        "warning",
        "critical",
        "unknown",
    ]


def test_no_samples_and_no_operations_give_unknown_not_a_verdict():
    result = check_trends([], WindowSeries(T0, 0.1, END_S), [], run(), SPEC)
    assert result["memory"] == {}
    assert result["p95_drift"]["level"] == "unknown"
    assert result["verdict"] == "pass"


def test_the_summary_shows_each_trend_with_its_level():
    samples = rss(lambda t: 10 + t) + rss(lambda t: 20.0, service="toxiproxy", pid=5)
    result = {
        "scenario": "soak",
        "status": "fail",
        "workload": {"name": "redis.kv", "ops": 1, "ok": 1, "fail": 0, "info": 0},
        "faults": [],
        "checks": {"trends": trends(samples)},
        "slo": [],
    }
    for key in ("throughput_ops_s", "p50_ms", "p95_ms", "p99_ms"):
        result["workload"][key] = None
    text = render_summary(result)
    assert "trends (first vs last part of the run, warm-up and faults left out)" in text
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    assert lines["memory redis"].rstrip().endswith("critical")
    assert "3600 MB/h" in lines["memory redis"]
    assert lines["memory toxiproxy (not judged)"].rstrip().endswith("ok")
    assert lines["p95 drift"].rstrip().endswith("ok")
    assert lines["error rate"].rstrip().endswith("ok")
