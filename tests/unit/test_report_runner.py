"""A report that cannot be written is a warning: result.json stays, the others are written."""

from __future__ import annotations

import io
import json
from pathlib import Path

from report_runs import result, write_run

from harness.progress import Progress
from harness.runner import _write_reports


def test_a_report_that_cannot_be_written_is_a_warning(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    before = (run / "result.json").read_text()
    (run / "junit.xml").mkdir()  # a directory where the file should go: rename fails
    stream = io.StringIO()
    _write_reports(run, result(), Progress(10, enabled=False, stream=stream))
    warning = stream.getvalue()
    assert warning.startswith("warning: could not write the reports: OSError: ")
    assert f"{run / 'junit.xml'}: Is a directory" in warning
    assert (run / "result.json").read_text() == before
    assert json.loads(before)["status"] == "fail"
    assert (run / "report.html").stat().st_size > 200  # the others are still written
    assert (run / "summary.md").stat().st_size > 200
    assert not list(run.glob(".*.tmp"))


def test_reports_are_written_next_to_the_result(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    stream = io.StringIO()
    _write_reports(run, result(), Progress(10, enabled=False, stream=stream))
    assert stream.getvalue() == ""
    assert sorted(p.name for p in run.glob("*.*")) == [
        "junit.xml",
        "report.html",
        "result.json",
        "scenario.json",
        "summary.md",
        "timeseries.csv",
    ]
