"""`harness report show RUN`: the summary printed, the report files rendered again from
the stored run, into the run directory or ``--out``; bad input is exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

from report_runs import write_run
from typer.testing import CliRunner

from harness.cli import app

FILES = ("report.html", "junit.xml", "summary.md")


def test_show_renders_the_reports_into_the_run_directory(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    got = CliRunner().invoke(app, ["report", "show", str(run)])
    assert got.exit_code == 0, got.output
    assert "scenario synthetic: FAIL" in got.stdout
    for name in FILES:
        assert (run / name).stat().st_size > 200
    assert '<svg class="chart" data-chart="latency"' in (run / "report.html").read_text()


def test_show_out_writes_elsewhere_and_no_files_writes_nothing(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    got = CliRunner().invoke(app, ["report", "show", str(run), "--out", str(tmp_path / "o")])
    assert got.exit_code == 0, got.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(FILES)
    assert not (run / "report.html").exists()
    got = CliRunner().invoke(app, ["report", "show", str(run), "--no-files"])
    assert got.exit_code == 0 and not (run / "report.html").exists()


def test_show_of_a_directory_without_a_result_is_bad_input(tmp_path: Path) -> None:
    got = CliRunner().invoke(app, ["report", "show", str(tmp_path)])
    assert got.exit_code == 2
    assert f"{tmp_path / 'result.json'}: no such file (expected a run directory)" in got.output
    assert "Traceback" not in got.output


def test_show_into_an_unwritable_place_is_an_environment_error(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    got = CliRunner().invoke(app, ["report", "show", str(run), "--out", str(blocker)])
    assert got.exit_code == 3
    assert f"cannot write the reports into {blocker}" in got.output
    assert "Traceback" not in got.output
