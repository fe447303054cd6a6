"""``harness report``: stored runs, read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.clikit import reports_errors

report_app = typer.Typer(help="Stored runs: show one again.", no_args_is_help=True)

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


@report_app.command("show")
@reports_errors
def report_show(run: RunArg) -> None:
    """Print a stored run's summary again."""
    from harness.summary import render_summary

    typer.echo(render_summary(load_result(run)))
