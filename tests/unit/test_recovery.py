"""Recovery analysis and result.json on synthetic histories (no services).

The synthetic load is one operation every 10 ms (100 ops/s, 10 per 100 ms window),
each taking 2 ms unless a phase says otherwise. Completion times are offset by 5 ms
so that no operation ends on a window boundary.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from typing import Any

import pytest

from harness.history import HISTORY_FILE
from harness.recovery import Completions, analyse_faults, fault_times
from harness.result import analyse
from harness.scenario import RecoverySpec, parse_scenario
from harness.summary import render_summary
from harness.windows import WindowSeries

T0 = 5_000_000_000_000  # monotonic ns of the run's t0
NS = 1_000_000_000
STEP_S = 0.01
WINDOW_S = 0.1
# Synthetic phase changes sit on window edges, so results are exact to the window;
# half a window of slack still catches an off-by-one-window error.
HALF_WINDOW = WINDOW_S / 2

SPEC = RecoverySpec(window=WINDOW_S, healthy_for=1.0, warmup=1.0)


def ns(t_s: float) -> int:
    return T0 + round(t_s * NS)


def ops(
    end_s: float,
    behaviour: Callable[[float], tuple[str, float]] = lambda t: ("ok", 2.0),
) -> list[dict[str, Any]]:
    """One SET every 10 ms until ``end_s``; ``behaviour(t)`` gives (type, latency_ms)."""
    records = []
    for i in range(round(end_s / STEP_S)):
        t_end = i * STEP_S + 0.005
        type_, latency_ms = behaviour(t_end)
        records.append(
            {
                "t_start": ns(t_end - latency_ms / 1000),
                "t_end": ns(t_end),
                "process": f"u{i % 4}",
                "op": "set",
                "key": f"k:{i}",
                "digest": f"d{i}",
                "type": type_,
                "error": None if type_ == "ok" else "ConnectionError: refused",
            }
        )
    return records


def fault(
    fault_id: str,
    action: str,
    at_s: float,
    kind: str = "network.down",
    type_: str = "ok",
) -> dict[str, Any]:
    return {
        "t_start": ns(at_s - 0.001),
        "t_end": ns(at_s),
        "process": "nemesis",
        "op": "fault",
        "action": action,
        "fault_id": fault_id,
        "kind": kind,
        "targets": ["redis"],
        "planned_ns": ns(at_s - 0.001),
        "attempt": 0,
        "type": type_,
        "error": None if type_ == "ok" else "ToxiproxyError: boom",
    }


def analyse_history(
    records: list[dict[str, Any]], load_end_s: float, spec: RecoverySpec = SPEC
) -> tuple[Any, list[dict[str, Any]]]:
    """Wired as harness.result.analyse wires it."""
    series = WindowSeries(T0, spec.window, load_end_s)
    ends = []
    for rec in records:
        if rec.get("op") in ("set", "get"):
            series.add(rec["t_start"], rec["t_end"], rec["type"])
            ends.append(((rec["t_end"] - T0) / 1e9, rec["type"] == "ok"))
    return analyse_faults(
        series, Completions.from_ops(ends), fault_times(records, T0), spec, load_end_s
    )


def ok_share_between(records: list[dict[str, Any]], lo_s: float, hi_s: float) -> float:
    done = [r for r in records if r.get("op") == "set" and ns(lo_s) <= r["t_end"] <= ns(hi_s)]
    return sum(r["type"] == "ok" for r in done) / len(done)


def failing_between(lo_s: float, hi_s: float) -> Callable[[float], tuple[str, float]]:
    return lambda t: ("fail", 0.5) if lo_s <= t < hi_s else ("ok", 2.0)


# -- recovery per fault -----------------------------------------------------------------


def test_baseline_is_taken_after_warmup_and_before_the_first_fault():
    history = [*ops(10.0), fault("cut", "apply", 3.0), fault("cut", "revert", 5.0)]
    baseline, _ = analyse_history(history, 10.0)
    assert baseline.start_s == pytest.approx(1.0)
    assert baseline.end_s == pytest.approx(3.0)
    assert baseline.windows == 20
    assert baseline.throughput_ops_s == pytest.approx(100.0)
    assert baseline.error_rate == 0.0
    assert baseline.p95_ms == pytest.approx(2.0, rel=0.02)


def test_degradation_that_recovers_half_a_second_after_revert():
    history = [
        *ops(10.0, failing_between(3.2, 5.5)),
        fault("cut", "apply", 3.0),
        fault("cut", "revert", 5.0),
    ]
    _, (row,) = analyse_history(history, 10.0)
    assert row["id"] == "cut"
    assert row["kind"] == "network.down"
    assert row["target"] == "redis"
    assert row["applied_at_s"] == pytest.approx(3.0)
    assert row["reverted_at_s"] == pytest.approx(5.0)
    assert row["censored"] is False
    assert row["time_to_recover_s"] == pytest.approx(0.5, abs=HALF_WINDOW)
    assert row["time_to_impact_s"] == pytest.approx(0.2, abs=HALF_WINDOW)
    # 20 of the 200 operations completed while applied were acknowledged.
    assert row["availability"] == pytest.approx(ok_share_between(history, 3.0, 5.0))
    assert row["availability"] == pytest.approx(0.1)
    assert "error" not in row


def test_never_recovering_before_the_end_of_the_load_is_censored():
    history = [
        *ops(10.0, failing_between(3.2, 99.0)),
        fault("cut", "apply", 3.0),
        fault("cut", "revert", 5.0),
    ]
    _, (row,) = analyse_history(history, 10.0)
    assert row["time_to_recover_s"] is None
    assert row["censored"] is True
    assert row["time_to_impact_s"] == pytest.approx(0.2, abs=HALF_WINDOW)
    assert row["availability"] == pytest.approx(0.1)


def test_recovery_shorter_than_healthy_for_before_the_end_is_censored():
    # Healthy again from 9.5 s, but 1 s of healthy windows does not fit before 10 s.
    history = [
        *ops(10.0, failing_between(3.2, 9.5)),
        fault("cut", "apply", 3.0),
        fault("cut", "revert", 5.0),
    ]
    _, (row,) = analyse_history(history, 10.0)
    assert row["time_to_recover_s"] is None
    assert row["censored"] is True


def test_no_impact_means_no_time_to_impact_and_immediate_recovery():
    history = [*ops(10.0), fault("cut", "apply", 3.0), fault("cut", "revert", 5.0)]
    _, (row,) = analyse_history(history, 10.0)
    assert row["time_to_impact_s"] is None
    assert row["time_to_recover_s"] == 0
    assert row["censored"] is False
    assert row["availability"] == 1.0


def test_recovery_after_the_next_fault_is_applied_is_censored():
    # Failing from 3.2 s to 7.0 s: fault "a" (3-4 s) never recovered before fault "b"
    # was applied at 5 s; "b" (5-6 s) recovered 1 s after its revert.
    history = [
        *ops(12.0, failing_between(3.2, 7.0)),
        fault("a", "apply", 3.0),
        fault("a", "revert", 4.0),
        fault("b", "apply", 5.0),
        fault("b", "revert", 6.0),
    ]
    _, rows = analyse_history(history, 12.0)
    by_id = {row["id"]: row for row in rows}
    assert [row["id"] for row in rows] == ["a", "b"]
    assert by_id["a"]["time_to_recover_s"] is None
    assert by_id["a"]["censored"] is True
    assert by_id["b"]["censored"] is False
    assert by_id["b"]["time_to_recover_s"] == pytest.approx(1.0, abs=HALF_WINDOW)
    assert by_id["b"]["time_to_impact_s"] == 0
    assert by_id["b"]["availability"] == 0.0


def test_latency_only_degradation_counts_as_impact():
    # Same throughput and no errors, but 50 ms instead of 2 ms from 3.3 s to 5.4 s.
    def slow(t: float) -> tuple[str, float]:
        return ("ok", 50.0) if 3.3 <= t < 5.4 else ("ok", 2.0)

    history = [
        *ops(10.0, slow),
        fault("lag", "apply", 3.0, kind="network.latency"),
        fault("lag", "revert", 5.0, kind="network.latency"),
    ]
    _, (row,) = analyse_history(history, 10.0)
    assert row["availability"] == 1.0
    assert row["time_to_impact_s"] == pytest.approx(0.3, abs=HALF_WINDOW)
    assert row["time_to_recover_s"] == pytest.approx(0.4, abs=HALF_WINDOW)
    assert row["censored"] is False


def test_throughput_drop_without_errors_counts_as_impact():
    # From 3.5 s to 5.5 s only every fifth operation completes (ok): 20 ops/s.
    history = [
        r
        for r in ops(10.0)
        if not (ns(3.5) <= r["t_end"] < ns(5.5)) or int(r["key"].split(":")[1]) % 5 == 0
    ] + [fault("slow", "apply", 3.0), fault("slow", "revert", 5.0)]
    _, (row,) = analyse_history(history, 10.0)
    assert row["availability"] == 1.0
    assert row["time_to_impact_s"] == pytest.approx(0.5, abs=HALF_WINDOW)
    assert row["time_to_recover_s"] == pytest.approx(0.5, abs=HALF_WINDOW)


def stalls_after(revert_s: float, every: int, slow_ms: float = 40.0):
    """Healthy 2 ms operations, except that after ``revert_s`` every ``every``-th one
    takes ``slow_ms``: the brief stalls of a busy machine (one in ``every``)."""

    def behaviour(t: float) -> tuple[str, float]:
        i = round((t - 0.005) / STEP_S)
        return ("ok", slow_ms) if t >= revert_s and i % every == 0 else ("ok", 2.0)

    return behaviour


def test_brief_stalls_after_the_revert_do_not_hide_a_recovery():
    # 1 operation in 25 (4%) is slow: most 100 ms windows hold one and their p95 is
    # over the limit, but the p95 of any whole second is not.
    history = [
        *ops(10.0, stalls_after(5.0, every=25)),
        fault("cut", "apply", 3.0),
        fault("cut", "revert", 5.0),
    ]
    _, (row,) = analyse_history(history, 10.0)
    assert row["censored"] is False
    assert row["time_to_recover_s"] is not None
    assert row["time_to_recover_s"] <= 0.3 + HALF_WINDOW

    strict = RecoverySpec(window=WINDOW_S, healthy_for=1.0, warmup=1.0, strict=True)
    _, (row,) = analyse_history(history, 10.0, strict)
    assert row["censored"] is True
    assert row["after_revert"]["slow"] >= 20


def test_a_service_still_slow_after_the_revert_stays_censored_and_says_why():
    # 1 operation in 10 stays slow: every second's p95 is over the limit.
    history = [
        *ops(10.0, stalls_after(5.0, every=10)),
        fault("lag", "apply", 3.0, kind="network.latency"),
        fault("lag", "revert", 5.0, kind="network.latency"),
    ]
    _, (row,) = analyse_history(history, 10.0)
    assert row["censored"] is True
    assert row["time_to_recover_s"] is None
    after = row["after_revert"]
    assert after["windows"] == 50
    assert after["slow"] == 50
    assert after["errors"] == after["low_throughput"] == 0
    assert after["max_p95_ms"] == pytest.approx(7.0, rel=0.02)  # 2 ms + 5 ms floor
    assert after["min_ops_s"] == pytest.approx(50.0)


def test_a_run_of_windows_holding_a_burst_of_errors_is_not_healthy():
    # Back at 5.5 s, then one window of errors at 6.0-6.1 s: 10 of 100 operations in
    # any second that holds it failed, over the 1% allowed, so recovery starts after it.
    def behaviour(t: float) -> tuple[str, float]:
        if 3.2 <= t < 5.5 or 6.0 <= t < 6.1:
            return ("fail", 0.5)
        return ("ok", 2.0)

    history = [*ops(10.0, behaviour), fault("cut", "apply", 3.0), fault("cut", "revert", 5.0)]
    _, (row,) = analyse_history(history, 10.0)
    assert row["censored"] is False
    assert row["time_to_recover_s"] == pytest.approx(1.1, abs=HALF_WINDOW)


def test_a_run_with_too_little_throughput_is_not_healthy():
    # After the revert only every third operation completes (33 ops/s of the 100):
    # every window has a few acknowledged, but no second has half the baseline's.
    history = [
        r for r in ops(10.0) if r["t_end"] < ns(5.0) or int(r["key"].split(":")[1]) % 3 == 0
    ] + [fault("cut", "apply", 3.0), fault("cut", "revert", 5.0)]
    _, (row,) = analyse_history(history, 10.0)
    assert row["censored"] is True
    assert row["after_revert"]["low_throughput"] == 50


def test_a_fault_whose_revert_failed_has_an_error_and_no_recovery():
    history = [
        *ops(10.0, failing_between(3.2, 99.0)),
        fault("cut", "apply", 3.0),
        fault("cut", "revert", 5.0, type_="fail"),
    ]
    _, (row,) = analyse_history(history, 10.0)
    assert row["reverted_at_s"] is None
    assert row["censored"] is True
    assert row["time_to_recover_s"] is None
    assert row["error"].startswith("revert failed: ToxiproxyError")


def test_a_fault_reverted_only_after_the_load_ended_is_censored():
    # Healthy again right after the revert, but the revert came at teardown (10.5 s).
    history = [
        *ops(10.0, failing_between(8.2, 99.0)),
        fault("cut", "apply", 8.0),
        fault("cut", "revert", 10.5),
    ]
    _, (row,) = analyse_history(history, 10.0)
    assert row["reverted_at_s"] == pytest.approx(10.5)
    assert row["time_to_recover_s"] is None
    assert row["censored"] is True
    assert row["availability"] == pytest.approx(0.1)


def test_a_fault_whose_apply_failed_carries_the_error():
    history = [*ops(10.0), fault("cut", "apply", 3.0, type_="fail"), fault("cut", "revert", 5.0)]
    _, (row,) = analyse_history(history, 10.0)
    assert row["error"].startswith("apply failed: ToxiproxyError")


def test_a_retried_revert_uses_the_first_successful_attempt():
    history = [
        *ops(10.0, failing_between(3.2, 5.5)),
        fault("cut", "apply", 3.0),
        fault("cut", "revert", 4.8, type_="fail"),
        fault("cut", "revert", 5.0),
        fault("cut", "revert", 6.0),
    ]
    times = fault_times(history, T0)
    assert len(times) == 1
    assert times[0].reverted_at_s == pytest.approx(5.0)
    assert times[0].revert_error is None


def test_fault_times_are_relative_to_t0_and_sorted_by_plan():
    history = [
        fault("late", "apply", 6.0),
        fault("early", "apply", 2.0),
        fault("early", "revert", 3.0),
        fault("late", "revert", 7.0),
    ]
    times = fault_times(history, T0)
    assert [(f.fault_id, f.applied_at_s, f.reverted_at_s) for f in times] == [
        ("early", pytest.approx(2.0), pytest.approx(3.0)),
        ("late", pytest.approx(6.0), pytest.approx(7.0)),
    ]
    assert times[0].planned_at_s == pytest.approx(1.999)


def test_completions_count_acknowledged_operations_exactly():
    completions = Completions.from_ops([(0.3, True), (0.1, False), (0.2, True)])
    assert completions.t_end_s == [0.1, 0.2, 0.3]
    assert completions.ok_before == [0, 0, 1, 2]


# -- result.json end to end --------------------------------------------------------------

SCENARIO = """\
name: synthetic
duration: 10s
load:
  workload: redis.kv
timeline:
  - id: cut
    at: 3s
    for: 2s
    fault: network.down
checks:
  integrity: {}
recovery:
  window: 100ms
  healthy_for: 1s
slo:
  baseline_error_rate_max: 0.001
  time_to_recover_s_max: 2
  integrity: pass
"""

WALL = 1_700_000_000.0


def write_run(tmp_path, records: list[dict[str, Any]]):
    with open(tmp_path / HISTORY_FILE, "w") as handle:
        for rec in records:
            handle.write(json.dumps(rec) + "\n")


def run_records(op_records: list[dict[str, Any]], lost: int = 0) -> list[dict[str, Any]]:
    """A whole run: header, load, the fault, a final read (dropping ``lost`` acked keys)."""
    acked = {r["key"]: r["digest"] for r in op_records if r["type"] == "ok"}
    values: dict[str, str | None] = dict(acked)
    for key in list(acked)[:lost]:
        values[key] = None
    return [
        {"op": "run", "t0_ns": T0, "wall": WALL},
        *op_records,
        fault("cut", "apply", 3.0),
        fault("cut", "revert", 5.0),
        {"op": "final-read", "process": "checker", "type": "ok", "values": values},
        {"op": "final-scan", "process": "checker", "type": "ok", "unattempted": []},
        {"op": "run-end", "wall": WALL + 10.5},
    ]


def test_analyse_writes_the_result_contract_and_timeseries(tmp_path):
    scenario = parse_scenario(SCENARIO, "synthetic.yaml")
    op_records = ops(10.0, failing_between(3.2, 5.5))
    write_run(tmp_path, run_records(op_records))

    result = analyse(tmp_path, scenario, errors=[])
    json.dumps(result)  # result.json must be serialisable as is

    assert result["scenario"] == "synthetic"
    assert result["status"] == "pass"
    assert result["started_at"] == "2023-11-14T22:13:20.000Z"
    assert result["ended_at"] == "2023-11-14T22:13:30.500Z"

    workload = result["workload"]
    assert {"ops", "ok", "fail", "info", "throughput_ops_s", "p50_ms", "p95_ms", "p99_ms"} <= set(
        workload
    )
    assert workload["ops"] == 1000
    assert workload["fail"] == 230  # 3.2 s .. 5.5 s
    assert workload["ok"] == 770
    assert workload["info"] == 0
    assert workload["throughput_ops_s"] == pytest.approx(77.0)
    assert workload["p50_ms"] == pytest.approx(2.0, rel=0.02)
    assert workload["p99_ms"] == pytest.approx(2.0, rel=0.02)

    (row,) = result["faults"]
    assert set(row) >= {
        "id",
        "kind",
        "target",
        "planned_at_s",
        "applied_at_s",
        "reverted_at_s",
        "time_to_impact_s",
        "time_to_recover_s",
        "censored",
        "availability",
    }
    assert row["id"] == "cut"
    assert row["kind"] == "network.down"
    assert row["target"] == "redis"
    assert row["time_to_recover_s"] == pytest.approx(0.5, abs=HALF_WINDOW)
    assert row["censored"] is False

    integrity = result["checks"]["integrity"]
    assert integrity["verdict"] == "pass"
    assert integrity["acked"] == 770
    assert integrity["lost"] == 0

    slo = {row["name"]: row for row in result["slo"]}
    assert set(slo) == {"baseline_error_rate", "time_to_recover_s[cut]", "integrity"}
    for slo_row in slo.values():
        assert set(slo_row) >= {"name", "threshold", "observed", "verdict"}
        assert slo_row["verdict"] == "pass"
    assert slo["time_to_recover_s[cut]"]["threshold"] == "<= 2.0"
    assert slo["integrity"]["observed"] == "pass"

    with open(tmp_path / "timeseries.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 100
    assert rows[0]["t_s"] == "0.000"
    assert rows[40]["ok"] == "0"
    assert rows[40]["fail"] == "10"
    assert rows[40]["error_rate"] == "1.0000"
    assert rows[20]["ok"] == "10"
    assert rows[20]["ops_s"] == "100.0"


def test_analyse_fails_when_an_acked_write_is_lost(tmp_path):
    scenario = parse_scenario(SCENARIO, "synthetic.yaml")
    write_run(tmp_path, run_records(ops(10.0, failing_between(3.2, 5.5)), lost=1))
    result = analyse(tmp_path, scenario, errors=[])
    assert result["status"] == "fail"
    assert result["checks"]["integrity"]["lost"] == 1
    slo = {row["name"]: row for row in result["slo"]}
    assert slo["integrity"]["verdict"] == "fail"
    assert slo["integrity"]["observed"] == "fail"


def test_analyse_fails_an_slo_on_censored_recovery(tmp_path):
    scenario = parse_scenario(SCENARIO, "synthetic.yaml")
    write_run(tmp_path, run_records(ops(10.0, failing_between(3.2, 99.0))))
    result = analyse(tmp_path, scenario, errors=[])
    assert result["status"] == "fail"
    slo = {row["name"]: row for row in result["slo"]}
    assert slo["time_to_recover_s[cut]"]["observed"] is None
    assert slo["time_to_recover_s[cut]"]["verdict"] == "fail"
    assert "cut never recovered: 50 of 50 windows after the revert were unhealthy: " in (
        render_summary(result)
    )
    assert "50 below 50 acked ops/s" in render_summary(result)


def test_analyse_status_is_error_when_the_run_reported_errors(tmp_path):
    scenario = parse_scenario(SCENARIO, "synthetic.yaml")
    write_run(tmp_path, run_records(ops(10.0, failing_between(3.2, 5.5))))
    result = analyse(tmp_path, scenario, errors=["load generator exited with 1"])
    assert result["status"] == "error"
    assert result["errors"] == ["load generator exited with 1"]


def test_analyse_without_a_run_record_raises(tmp_path):
    scenario = parse_scenario(SCENARIO, "synthetic.yaml")
    write_run(tmp_path, ops(1.0))
    with pytest.raises(ValueError, match="no run record"):
        analyse(tmp_path, scenario, errors=[])


def test_an_operation_cut_off_by_the_stop_is_checked_but_not_counted(tmp_path):
    scenario = parse_scenario(SCENARIO, "synthetic.yaml")
    op_records = ops(10.0)
    last = {**op_records[-1], "key": "k:stopped", "type": "info", "stopped": True}
    last["error"] = "StoppedMidOperation: the load stopped during the operation"
    records = run_records([*op_records, last])
    # The SET landed: the final read finds the key.
    records[-3]["values"]["k:stopped"] = last["digest"]
    write_run(tmp_path, records)
    result = analyse(tmp_path, scenario, errors=[])
    assert (result["workload"]["ops"], result["workload"]["info"]) == (1000, 0)
    assert result["checks"]["integrity"]["recovered"] == 1  # judged, as an indeterminate write
    assert result["status"] == "pass"
