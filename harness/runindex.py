"""A local index of finished runs (SQLite), for ``report list`` and ``--compare-last``.

The index lives at ``$HARNESS_INDEX``, else ``runs/index.sqlite`` beside the default
runs directory. Each row keeps what a comparison needs (``RunMetrics`` as JSON) as well
as the run directory, so a run whose directory was deleted can still be compared with
and is listed as gone. Several runs may finish at once: the database is in WAL mode and
every writer waits up to ``BUSY_TIMEOUT_S`` for the lock instead of failing.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.compare import RunMetrics, metrics_of

INDEX_VARIABLE = "HARNESS_INDEX"
DEFAULT_INDEX = Path("runs") / "index.sqlite"
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_dir TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    scenario_file TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    throughput_ops_s REAL,
    p50_ms REAL,
    p95_ms REAL,
    p99_ms REAL,
    error_rate REAL,
    metrics TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs (scenario, started_at);
"""


@dataclass(frozen=True)
class IndexedRun:
    run_dir: Path
    scenario: str
    scenario_file: str | None
    started_at: str
    status: str
    metrics: RunMetrics

    @property
    def exists(self) -> bool:
        return (self.run_dir / "result.json").is_file()


def index_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env[INDEX_VARIABLE]) if env.get(INDEX_VARIABLE) else DEFAULT_INDEX


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        with conn:  # one transaction: committed on success, rolled back on error
            yield conn


def _resolved(path: Path | str | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


def record_run(
    path: Path, run_dir: Path, result: dict[str, Any], scenario_file: Path | None
) -> None:
    """Add (or replace) a finished run's row."""
    m = metrics_of(result)
    row = (
        _resolved(run_dir),
        result["scenario"],
        _resolved(scenario_file),
        result["started_at"],
        result.get("ended_at"),
        result["status"],
        m.throughput_ops_s,
        m.p50_ms,
        m.p95_ms,
        m.p99_ms,
        m.error_rate,
        json.dumps(m.to_json()),
    )
    with _connect(path) as conn:
        conn.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)


def _run_of(row: sqlite3.Row) -> IndexedRun:
    return IndexedRun(
        run_dir=Path(row["run_dir"]),
        scenario=row["scenario"],
        scenario_file=row["scenario_file"],
        started_at=row["started_at"],
        status=row["status"],
        metrics=RunMetrics.from_json(json.loads(row["metrics"])),
    )


def recent_runs(path: Path, scenario: str | None = None, limit: int = 20) -> list[IndexedRun]:
    """The newest runs first (of one scenario if named); none when there is no index."""
    if not path.exists():
        return []
    query = "SELECT * FROM runs"
    args: list[Any] = []
    if scenario is not None:
        query += " WHERE scenario = ?"
        args.append(scenario)
    query += " ORDER BY started_at DESC LIMIT ?"
    with _connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [_run_of(r) for r in conn.execute(query, [*args, limit])]


def last_run(
    path: Path, scenario: str, scenario_file: Path | None, exclude: Path | None = None
) -> IndexedRun | None:
    """The newest run of the same scenario name and file that finished (pass or fail;
    a run in error has no metrics worth comparing), other than ``exclude``."""
    if not path.exists():
        return None
    with _connect(path) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT * FROM runs WHERE scenario = ? AND scenario_file IS ? AND run_dir IS NOT ?"
            " AND status IN ('pass', 'fail') ORDER BY started_at DESC LIMIT 1",
            (scenario, _resolved(scenario_file), _resolved(exclude)),
        ).fetchone()
    return None if row is None else _run_of(row)
