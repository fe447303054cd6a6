"""Sweep analysis (knee, elbow, per-step statistics) and threshold bands, on synthetic data."""

from __future__ import annotations

from typing import Any

import pytest

from harness.sweeps import (
    StepStats,
    capacity_summary,
    find_elbow,
    find_knee,
    measure_steps,
    throughput_summary,
)
from harness.thresholds import Band, ThresholdsSpec, evaluate, is_dropped, run_thresholds


def step(
    value: float, p95: float | None, error_rate: float = 0.0, ok_s: float = 100.0
) -> StepStats:
    ok = 0 if p95 is None else 100
    return StepStats(value, 0, 5, 100, ok, error_rate, ok_s, p95, p95, p95)


WARN = {"p95_ms": 10.0, "error_rate": 0.01}


def test_the_knee_is_the_first_step_whose_p95_crosses_warning():
    steps = [step(5, 2), step(10, 4), step(20, 12), step(40, 3)]
    assert find_knee(steps, WARN) == 2
    summary = capacity_summary(steps, WARN)
    assert summary["knee_users"] == 20 and summary["safe_ceiling_users"] == 16
    assert summary["steps"][2]["crossed"] == ["p95_ms"]
    assert summary["steps"][1]["crossed"] == [] and summary["steps"][1]["users"] == 10


def test_the_knee_is_the_first_step_whose_error_rate_crosses_warning():
    steps = [step(5, 2), step(10, 3, error_rate=0.05), step(20, 50)]
    assert capacity_summary(steps, WARN)["knee_users"] == 10
    assert capacity_summary(steps, WARN)["safe_ceiling_users"] == 8


def test_no_knee_when_every_step_stays_under_warning():
    steps = [step(5, 2), step(10, 4), step(20, 9.9)]
    summary = capacity_summary(steps, WARN)
    assert find_knee(steps, WARN) is None
    assert summary["knee_users"] is None and summary["safe_ceiling_users"] is None
    assert summary["no_knee_up_to"] == 20


def test_a_step_that_acknowledged_nothing_is_a_knee_even_without_latencies():
    steps = [step(5, 2), step(10, None, error_rate=1.0)]
    assert find_knee(steps, {"p95_ms": 10.0}) == 1


def test_the_elbow_is_where_the_achieved_rate_falls_below_ninety_percent():
    steps = [step(500, 1, ok_s=500), step(1000, 2, ok_s=990), step(2000, 3, ok_s=1700)]
    summary = throughput_summary(steps, WARN)
    assert find_elbow(steps, WARN) == 2
    assert summary["elbow_rate"] == 2000 and summary["max_good_rate"] == 1000
    assert summary["steps"][2]["crossed"] == ["achieved rate below 90%"]


def test_the_elbow_is_where_p95_crosses_even_at_full_rate():
    steps = [step(500, 1, ok_s=500), step(1000, 20, ok_s=1000)]
    assert throughput_summary(steps, WARN)["elbow_rate"] == 1000


def test_no_elbow_keeps_the_highest_rate_as_good_and_an_elbow_at_the_first_step_none():
    good = [step(500, 1, ok_s=500), step(1000, 2, ok_s=1000)]
    assert throughput_summary(good, WARN)["elbow_rate"] is None
    assert throughput_summary(good, WARN)["max_good_rate"] == 1000
    bad = [step(500, 30, ok_s=500)]
    assert throughput_summary(bad, WARN)["max_good_rate"] is None


def op(t_s: float, latency_ms: float, type_: str = "ok", name: str = "set") -> dict[str, Any]:
    end = int(t_s * 1e9)
    return {"op": name, "t_start": end - int(latency_ms * 1e6), "t_end": end, "type": type_}


def test_measure_steps_leaves_out_the_settle_time_and_other_operations():
    records = [op(0.2, 500)]  # a slow operation while spawning: settle leaves it out
    records += [op(1.0 + i / 100, 2) for i in range(200)]  # step 1: 100 ok/s
    records += [op(4.5, 9, type_="fail")]  # the cooldown: in no step
    records += [op(6.0 + i / 100, 30) for i in range(100)]  # step 2
    records += [op(6.5, 1, type_="fail"), op(6.6, 1, name="recv")]
    steps = measure_steps(records, 0, [(0, 3), (5, 8)], [2, 4], ("set",), settle_s=1.0)
    first, second = steps
    assert first.ok == 200 and first.ops == 200 and first.error_rate == 0
    assert first.throughput_ops_s == 100 and first.p95_ms == pytest.approx(2, rel=0.02)
    assert second.ops == 101 and second.error_rate == pytest.approx(1 / 101, rel=1e-3)
    assert second.p99_ms == pytest.approx(30, rel=0.02)


def test_bands_give_ok_warning_and_critical():
    band = Band(warning=10, critical=50)
    assert [band.level(v) for v in (10, 10.5, 50, 51)] == ["ok", "warning", "warning", "critical"]
    assert Band(critical=0).level(0) == "ok" and Band(critical=0).level(1) == "critical"


def test_threshold_rows_carry_observed_values_and_no_data():
    spec = ThresholdsSpec(p95_ms=Band(warning=5), lost_messages=Band(critical=0))
    rows = evaluate(spec, {"p95_ms": 7.0})
    assert rows[0] == {
        "name": "p95_ms",
        "warning": 5,
        "critical": None,
        "observed": 7.0,
        "level": "warning",
    }
    assert rows[1]["level"] == "no data"


def test_dropped_connections_count_connection_failures_not_error_replies():
    assert is_dropped("ConnectionError: Error 111 connecting to 127.0.0.1:1. Connection refused.")
    assert is_dropped("TimeoutError: Timeout reading from socket")
    assert not is_dropped("ResponseError: MISCONF Redis is configured to save RDB snapshots")
    assert not is_dropped(None)
    spec = ThresholdsSpec(
        dropped_connections=Band(critical=0), p95_ms=Band(critical=1), error_rate=Band(critical=0)
    )
    records = [
        {"op": "set", "type": "fail", "error": "ConnectionError: reset by peer"},
        {"op": "set", "type": "fail", "error": "ResponseError: LOADING"},
        {"op": "set", "type": "ok", "error": None},
    ]
    workload = {"p95_ms": 3.0, "p99_ms": 4.0, "ops": 3, "ok": 1, "fail": 2, "info": 0}
    rows = {r["name"]: r for r in run_thresholds(spec, workload, {}, records, {"set"}, False)}
    assert rows["dropped_connections"]["observed"] == 1
    assert rows["dropped_connections"]["level"] == "critical"
    assert rows["error_rate"]["observed"] == pytest.approx(0.666667)
    assert rows["p95_ms"]["level"] == "critical"
    # A sweep is meant to cross latency and error bands: only the others are judged.
    swept = run_thresholds(spec, workload, {}, records, {"set"}, True)
    assert [r["name"] for r in swept] == ["dropped_connections"]
