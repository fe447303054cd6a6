"""Regressions between stored runs: where the tolerances come from, which runs are
compared, and where the verdict goes.

Tolerances: the defaults of ``harness.compare.Tolerances``, replaced field by field by
the newer run's ``regressions:`` block, then by ``--tolerance-*`` flags. ``report
compare A B`` reads both run directories; ``chaos run --compare-last`` compares the run
just finished with the newest indexed run of the same scenario name and file, and
writes the verdict into the new run's ``result.json`` as ``comparison``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.compare import Comparison, Tolerances, compare, metrics_of
from harness.errors import InvalidInput
from harness.result import write_result
from harness.runindex import IndexedRun, index_path, last_run
from harness.scenario import Scenario

# Flag name -> Tolerances field.
TOLERANCE_FLAGS = {
    "--tolerance-p95": "p95_ratio",
    "--tolerance-ttr": "ttr_ratio",
    "--tolerance-throughput": "throughput_ratio",
}


def with_flags(base: Tolerances, flags: dict[str, float | None]) -> Tolerances:
    """``base`` with the flags given (by flag name) in force; a value out of range is
    bad input naming the flag and what it expects."""
    update = {TOLERANCE_FLAGS[f]: v for f, v in flags.items() if v is not None}
    try:
        return Tolerances.model_validate({**base.model_dump(), **update})
    except ValidationError as exc:
        field_to_flag = {v: k for k, v in TOLERANCE_FLAGS.items()}
        problems = [
            f"{field_to_flag.get(str(e['loc'][0]), e['loc'][0])}: {e['msg'].lower()}, "
            f"got {e['input']}"
            for e in exc.errors()
        ]
        raise InvalidInput("; ".join(problems)) from None


def scenario_tolerances(run_dir: Path) -> Tolerances:
    """The ``regressions:`` block of the scenario a stored run ran (its ``scenario.json``);
    the defaults when the file is missing or older than that block."""
    path = run_dir / "scenario.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Tolerances()
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a readable scenario ({exc})") from None
    try:
        return Tolerances.model_validate(data.get("regressions") or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{path}: regressions.{where}: {first['msg'].lower()}") from None


def compare_results(old: dict[str, Any], new: dict[str, Any], tolerances: Tolerances) -> Comparison:
    return compare(metrics_of(old), metrics_of(new), tolerances)


@dataclass(frozen=True)
class LastComparison:
    """What ``--compare-last`` found: the comparison, or why there is none."""

    baseline: IndexedRun | None
    comparison: Comparison | None
    index: Path


def compare_with_last(
    run_dir: Path,
    result: dict[str, Any],
    scenario: Scenario,
    scenario_file: Path,
    flags: dict[str, float | None],
) -> LastComparison:
    """Compare a finished run with the newest earlier run of its scenario in the index
    and add ``comparison`` to its ``result.json``. No earlier run: nothing is written."""
    path = index_path()
    baseline = last_run(path, scenario.name, scenario_file, exclude=run_dir)
    if baseline is None:
        return LastComparison(None, None, path)
    tolerances = with_flags(scenario.regressions, flags)
    comparison = compare(baseline.metrics, metrics_of(result), tolerances)
    result["comparison"] = comparison.to_json(
        {
            "run_dir": str(baseline.run_dir),
            "started_at": baseline.started_at,
            "status": baseline.status,
        }
    )
    write_result(run_dir / "result.json", result)
    return LastComparison(baseline, comparison, path)
