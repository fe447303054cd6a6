"""``harness report``: stored runs, read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.clikit import reports_errors

report_app = typer.Typer(
    help="Stored runs: show one again and render its reports.", no_args_is_help=True
)

RunArg = Annotated[Path, typer.Argument(help="A run directory.", show_default=False)]


def load_result(run_dir: Path) -> dict[str, Any]:
    """The ``result.json`` of a stored run; a missing or unreadable one is bad input."""
    from harness.errors import InvalidInput

    path = run_dir / "result.json"
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file (expected a run directory)") from None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a readable result ({exc})") from None
    if not isinstance(result, dict) or "status" not in result:
        raise InvalidInput(f"{path}: expected a JSON object with a 'status' field")
    return result


OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Write report.html, junit.xml and summary.md here (default: the run directory).",
        show_default=False,
    ),
]
NoFilesOpt = Annotated[
    bool, typer.Option("--no-files", help="Only print the summary; write no report files.")
]


@report_app.command("show")
@reports_errors
def report_show(run: RunArg, out: OutOpt = None, no_files: NoFilesOpt = False) -> None:
    """Print a stored run's summary again and render its report files again."""
    from harness.summary import render_summary

    result = load_result(run)
    typer.echo(render_summary(result))
    if not no_files:
        render_run_reports(run, result, out)


def render_run_reports(run: Path, result: dict[str, Any], out: Path | None) -> None:
    """report.html, junit.xml and summary.md from the stored run, into ``out`` or the run
    directory; a directory that cannot be written is an environment problem (exit 3)."""
    from harness.errors import EnvironmentProblem
    from harness.report import write_reports

    try:
        written = write_reports(run, result, out)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write the reports into {out or run}: {exc}") from None
    typer.echo(f"reports: {', '.join(str(p) for p in written)}", err=True)
