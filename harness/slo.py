"""SLO thresholds from the scenario, each with its observed value and verdict."""

from __future__ import annotations

from typing import Any

from harness.recovery import Baseline
from harness.scenario import SloSpec


def _row(name: str, threshold: Any, observed: Any, ok: bool) -> dict[str, Any]:
    return {
        "name": name,
        "threshold": threshold,
        "observed": observed,
        "verdict": "pass" if ok else "fail",
    }


def evaluate_slo(
    spec: SloSpec,
    baseline: Baseline,
    faults: list[dict[str, Any]],
    checks: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    rows = []
    if spec.baseline_error_rate_max is not None:
        rows.append(
            _row(
                "baseline_error_rate",
                f"<= {spec.baseline_error_rate_max}",
                round(baseline.error_rate, 6),
                baseline.error_rate <= spec.baseline_error_rate_max,
            )
        )
    for pct, limit in (("p95", spec.baseline_p95_ms_max), ("p99", spec.baseline_p99_ms_max)):
        if limit is None:
            continue
        observed = getattr(baseline, f"{pct}_ms")
        rows.append(
            _row(
                f"baseline_{pct}_ms",
                f"<= {limit}",
                observed,
                observed is not None and observed <= limit,
            )
        )
    if spec.time_to_recover_s_max is not None:
        for f in faults:
            if f.get("skipped"):
                continue  # never applied: nothing to recover from
            ttr = f["time_to_recover_s"]
            rows.append(
                _row(
                    f"time_to_recover_s[{f['id']}]",
                    f"<= {spec.time_to_recover_s_max}",
                    ttr,
                    ttr is not None and ttr <= spec.time_to_recover_s_max,
                )
            )
    for name in ("integrity", "delivery"):
        if getattr(spec, name) is not None:
            verdict = checks.get(name, {}).get("verdict", "not run")
            rows.append(_row(name, "pass", verdict, verdict == "pass"))
    return rows
