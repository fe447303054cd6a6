"""The files a run directory gets for people and CI besides ``result.json``:
``report.html`` (charts and tables, opens offline), ``junit.xml`` (one test case per
SLO, fault recovery budget, checker and threshold) and ``summary.md`` (for pull-request
comments and game-day notes).

All three are pure functions of the run directory's ``result.json``, ``timeseries.csv``
and ``scenario.json``, so a stored run can be rendered again (``harness report show``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown
from harness.report.rundata import RunData, load_run_data

__all__ = ["REPORT_FILES", "RunData", "load_run_data", "render_reports", "write_reports"]

REPORT_FILES = ("report.html", "junit.xml", "summary.md")


def render_reports(data: RunData) -> dict[str, str]:
    """Each report file's name and text."""
    return {
        "report.html": render_html(data),
        "junit.xml": render_junit(data.result),
        "summary.md": render_markdown(data.result),
    }


def write_reports(run_dir: Path, result: dict[str, Any], out_dir: Path | None = None) -> list[Path]:
    """Render the reports of the run in ``run_dir`` into ``out_dir`` (default: the run
    directory). Each file is written whole or not at all (a temporary file, renamed); one
    that cannot be written does not stop the others, and ``OSError`` names it at the end."""
    out_dir = out_dir or run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written, failed = [], []
    for name, text in render_reports(load_run_data(run_dir, result)).items():
        path = out_dir / name
        tmp = path.with_name(f".{name}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            failed.append(f"{path}: {exc.strerror or exc}")
        else:
            written.append(path)
    if failed:
        raise OSError("; ".join(failed))
    return written
