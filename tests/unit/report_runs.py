"""A synthetic stored run for the report tests: a fault that recovered, one that never
did (censored, over its budget), an integrity checker that lost keys, a critical
threshold and operator notes; keys and notes carry markup that must be escaped."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from harness.result import write_result

HOSTILE_KEY = "<script>alert(1)</script>|k"

RESULT: dict[str, Any] = {
    "scenario": "synthetic",
    "status": "fail",
    "started_at": "2026-01-01T00:00:00.000Z",
    "ended_at": "2026-01-01T00:00:10.000Z",
    "duration_s": 10.0,
    "workload": {
        "name": "redis.kv",
        "users": 4,
        "profile": "sustained",
        "ops": 1000,
        "ok": 900,
        "fail": 90,
        "info": 10,
        "throughput_ops_s": 90.0,
        "p50_ms": 1.0,
        "p95_ms": 3.0,
        "p99_ms": 40.0,
        "operations": [
            {"op": "set", "size_class": "all", "ops": 600, "success_rate": 0.9, "ops_s": 60.0}
            | {"mb_s": 0.0, "p50_ms": 1.0, "p95_ms": 3.0, "p99_ms": 40.0},
        ],
    },
    "baseline": {"start_s": 1.0, "end_s": 2.0, "throughput_ops_s": 100.0, "error_rate": 0.0},
    "faults": [
        {"id": "partition", "kind": "network.down", "target": "redis", "planned_at_s": 2.0}
        | {"applied_at_s": 2.0, "reverted_at_s": 4.0, "time_to_impact_s": 0.0}
        | {"time_to_recover_s": 0.5, "censored": False, "availability": 0.0},
        {"id": "stall", "kind": "process.pause", "target": "redis", "planned_at_s": 6.0}
        | {"applied_at_s": 6.0, "reverted_at_s": 7.0, "time_to_impact_s": 0.1}
        | {"time_to_recover_s": None, "censored": True, "availability": 0.2},
    ],
    "checks": {
        "integrity": {"verdict": "fail", "acked": 600, "lost": 3, "corrupted": 0}
        | {"examples": {"lost": ["run/k1", "run/k2", HOSTILE_KEY]}},
    },
    "slo": [
        {"name": "baseline_error_rate", "threshold": "<= 0.01", "observed": 0.0, "verdict": "pass"},
        {"name": "time_to_recover_s[partition]", "threshold": "<= 2.0", "observed": 0.5}
        | {"verdict": "pass"},
        {"name": "time_to_recover_s[stall]", "threshold": "<= 2.0", "observed": None}
        | {"verdict": "fail"},
        {"name": "integrity", "threshold": "pass", "observed": "fail", "verdict": "fail"},
    ],
    "thresholds": [
        {"name": "p99_ms", "warning": 10.0, "critical": 30.0, "observed": 40.0, "level": "critical"}
    ],
    "operator_notes": [
        {"at": "2026-01-01T00:00:06Z", "t_s": 6.0, "fault_id": "stall", "decision": "go"}
        | {"note": "paged <b>ops</b> & waited"},
    ],
    "errors": [],
    "run_dir": "runs/synthetic",
}


def result(**changes: Any) -> dict[str, Any]:
    """A deep copy of the synthetic result with top-level ``changes``."""
    return copy.deepcopy(RESULT) | changes


def write_run(run_dir: Path, res: dict[str, Any] | None = None) -> Path:
    """A run directory as a run leaves it: result.json, timeseries.csv (10 s of 0.1 s
    windows, errors and slow windows while a fault is on), scenario.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_result(run_dir / "result.json", res or result())
    lines = ["t_s,ok,fail,info,ops_s,error_rate,p50_ms,p95_ms,p99_ms,users"]
    for i in range(100):
        t = i / 10
        bad = 2.0 <= t < 4.0 or t >= 6.0
        ok, fail = (2, 8) if bad else (10, 0)
        p99 = "" if ok == 0 else ("900.000" if bad else "4.000")
        lines.append(
            f"{t:.3f},{ok},{fail},0,{(ok + fail) * 10}.0,{fail / 10:.4f},1.000,3.000,{p99},4"
        )
    (run_dir / "timeseries.csv").write_text("\n".join(lines) + "\n")
    scenario = {"name": "synthetic", "duration": 10.0, "description": "a <pre> & more"}
    (run_dir / "scenario.json").write_text(json.dumps(scenario, indent=2))
    return run_dir
