"""What a report is rendered from: ``result.json``, ``timeseries.csv`` and ``scenario.json``
of a run directory. Only the result is required; a missing series or scenario leaves its
section out rather than failing the report."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMESERIES_FILE = "timeseries.csv"
SCENARIO_FILE = "scenario.json"


@dataclass(frozen=True)
class Window:
    """One row of ``timeseries.csv``; latency is None in a window with no acknowledged op."""

    t_s: float
    ok: int
    fail: int
    info: int
    ops_s: float
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    users: int | None


@dataclass
class RunData:
    result: dict[str, Any]
    windows: list[Window] = field(default_factory=list)
    scenario: dict[str, Any] | None = None

    @property
    def window_s(self) -> float:
        """The width of one window, from the spacing of the series (0.1 s by default)."""
        if len(self.windows) >= 2:
            return max(self.windows[1].t_s - self.windows[0].t_s, 1e-3)
        return 0.1


def _opt(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def read_timeseries(path: Path) -> list[Window]:
    """The windows of ``timeseries.csv``; an empty list when the file is missing."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [_window(row) for row in csv.DictReader(handle)]


def _window(row: dict[str, str]) -> Window:
    users = _opt(row.get("users"))
    return Window(
        t_s=float(row["t_s"]),
        ok=int(row["ok"]),
        fail=int(row["fail"]),
        info=int(row["info"]),
        ops_s=float(row["ops_s"]),
        error_rate=float(row["error_rate"]),
        p50_ms=_opt(row.get("p50_ms")),
        p95_ms=_opt(row.get("p95_ms")),
        p99_ms=_opt(row.get("p99_ms")),
        users=None if users is None else int(users),
    )


def load_run_data(run_dir: Path, result: dict[str, Any]) -> RunData:
    """The series and the scenario as run, next to ``result``."""
    scenario: dict[str, Any] | None = None
    try:
        loaded = json.loads((run_dir / SCENARIO_FILE).read_text())
        scenario = loaded if isinstance(loaded, dict) else None
    except (OSError, ValueError):
        scenario = None
    return RunData(result, read_timeseries(run_dir / TIMESERIES_FILE), scenario)
