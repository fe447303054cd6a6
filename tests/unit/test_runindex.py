"""The run index: what it keeps, which run `--compare-last` picks, concurrent writers,
deleted run directories and an index that cannot be written."""

from __future__ import annotations

import io
import json
import multiprocessing
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from harness.cli import app
from harness.progress import Progress
from harness.runindex import DEFAULT_INDEX, index_path, last_run, recent_runs, record_run
from harness.runner import _index_run


def result(name: str, started: str, status: str = "pass", p95: float = 2.0) -> dict[str, Any]:
    return {
        "scenario": name,
        "status": status,
        "started_at": started,
        "ended_at": started,
        "workload": {
            "ops": 100,
            "ok": 99,
            "fail": 1,
            "info": 0,
            "throughput_ops_s": 50.0,
            "p50_ms": 1.0,
            "p95_ms": p95,
            "p99_ms": 3.0,
        },
        "faults": [
            {
                "id": "cut",
                "kind": "network.down",
                "applied_at_s": 1.0,
                "reverted_at_s": 2.0,
                "time_to_recover_s": 0.4,
                "censored": False,
            }
        ],
        "checks": {"integrity": {"verdict": "pass"}},
    }


def stored(tmp_path: Path, name: str, res: dict[str, Any]) -> Path:
    run = tmp_path / name
    run.mkdir()
    (run / "result.json").write_text(json.dumps(res))
    return run


def test_index_location_is_the_variable_else_beside_the_runs_directory():
    assert index_path({"HARNESS_INDEX": "/x/i.sqlite"}) == Path("/x/i.sqlite")
    assert index_path({}) == DEFAULT_INDEX == Path("runs/index.sqlite")


def test_a_recorded_run_keeps_its_metrics_per_fault_and_check(tmp_path: Path):
    index = tmp_path / "index.sqlite"
    run = stored(tmp_path, "r1", result("s", "2026-01-01T00:00:01Z"))
    record_run(index, run, result("s", "2026-01-01T00:00:01Z"), tmp_path / "s.yaml")
    [row] = recent_runs(index)
    assert (row.scenario, row.status, row.run_dir) == ("s", "pass", run.resolve())
    assert row.scenario_file == str((tmp_path / "s.yaml").resolve())
    assert row.metrics.p95_ms == 2.0
    assert row.metrics.error_rate == 0.01
    assert row.metrics.time_to_recover_s == {"cut network.down": 0.4}
    assert row.metrics.checks == {"integrity": "pass"}


def test_last_run_is_the_newest_finished_run_of_the_same_name_and_file(tmp_path: Path):
    index, file = tmp_path / "index.sqlite", tmp_path / "s.yaml"
    runs = {
        "old": result("s", "2026-01-01T00:00:01Z", p95=1.0),
        "newer": result("s", "2026-01-01T00:00:02Z", p95=2.0),
        "errored": result("s", "2026-01-01T00:00:03Z", status="error"),
        "other-name": result("t", "2026-01-01T00:00:04Z"),
        "current": result("s", "2026-01-01T00:00:05Z"),
    }
    for name, res in runs.items():
        record_run(index, stored(tmp_path, name, res), res, file)
    other_file = result("s", "2026-01-01T00:00:06Z")
    record_run(index, stored(tmp_path, "other-file", other_file), other_file, tmp_path / "b.yaml")
    found = last_run(index, "s", file, exclude=tmp_path / "current")
    assert found is not None and found.run_dir.name == "newer"
    assert last_run(index, "nothing", file) is None
    assert last_run(tmp_path / "absent.sqlite", "s", file) is None


def test_a_deleted_run_directory_is_listed_as_such_and_still_compared(tmp_path: Path):
    index, file = tmp_path / "index.sqlite", tmp_path / "s.yaml"
    res = result("s", "2026-01-01T00:00:01Z")
    run = stored(tmp_path, "gone", res)
    record_run(index, run, res, file)
    shutil.rmtree(run)
    found = last_run(index, "s", file)
    assert found is not None and not found.exists
    assert found.metrics.p95_ms == 2.0  # from the index, not the deleted result.json
    listing = CliRunner().invoke(app, ["report", "list"], env={"HARNESS_INDEX": str(index)})
    assert listing.exit_code == 0, listing.output
    assert "(deleted)" in listing.output


def _writer(index: str, base: str, worker: int) -> None:
    for i in range(15):
        res = result("s", f"2026-01-01T00:{worker:02d}:{i:02d}Z")
        record_run(Path(index), Path(base) / f"w{worker}-{i}", res, None)


def test_concurrent_writers_lose_no_run(tmp_path: Path):
    index = tmp_path / "index.sqlite"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(index), str(tmp_path), w)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    assert len(recent_runs(index, limit=1000)) == 6 * 15


def test_an_index_that_cannot_be_written_costs_a_warning_not_the_run(
    tmp_path: Path, monkeypatch: Any
):
    broken = tmp_path / "index.sqlite"
    broken.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("HARNESS_INDEX", str(broken))
    res = result("s", "2026-01-01T00:00:01Z")
    run = stored(tmp_path, "r", res)
    stream = io.StringIO()
    _index_run(run, res, None, Progress(1.0, False, stream))
    assert "warning: run not added to the run index" in stream.getvalue()
    assert json.loads((run / "result.json").read_text()) == res


def test_report_list_with_no_index_says_so(tmp_path: Path):
    out = CliRunner().invoke(
        app, ["report", "list"], env={"HARNESS_INDEX": str(tmp_path / "none.sqlite")}
    )
    assert out.exit_code == 0
    assert "no runs in the run index" in out.output
