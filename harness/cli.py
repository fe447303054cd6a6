"""The ``harness`` command line. Thin: parsing, then calls into the library."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from harness.errors import EXIT_INVALID_INPUT, HarnessError, ScenarioError

app = typer.Typer(
    name="harness",
    help="Chaos and fault-injection runs against real services behind Toxiproxy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
scenario_app = typer.Typer(help="Scenario files.", no_args_is_help=True)
chaos_app = typer.Typer(help="Chaos runs.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")
app.add_typer(chaos_app, name="chaos")
fault_app = typer.Typer(help="Fault kinds.", no_args_is_help=True)
app.add_typer(fault_app, name="fault")

F = TypeVar("F", bound=Callable[..., Any])


def _err(message: str) -> None:
    typer.echo(message, err=True)


def reports_errors(func: F) -> F:
    """Turn ``HarnessError`` into a message and its exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ScenarioError as exc:
            _err(f"error: invalid scenario {exc.path}:")
            for problem in exc.problems:
                _err(f"  {problem}")
            raise typer.Exit(EXIT_INVALID_INPUT) from None
        except HarnessError as exc:
            _err(f"error: {exc}")
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


FileArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)]


@scenario_app.command("validate")
@reports_errors
def scenario_validate(file: FileArg) -> None:
    """Check a scenario file; print the problems with file:line, exit 2 if any; exit 3 if
    this machine lacks what it needs (root, loop devices, libfiu...)."""
    from harness.plan import preflight
    from harness.scenario import load_scenario

    scenario = load_scenario(file)
    preflight(scenario)
    typer.echo(
        f"{file}: ok ({scenario.name}, {len(scenario.timeline)} faults, {scenario.duration:g}s)"
    )


@chaos_app.command("run")
@reports_errors
def chaos_run(
    file: FileArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; start nothing.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default runs/<time>-<name>).")
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Live status line (default: when stderr is a terminal).",
        ),
    ] = None,
) -> None:
    """Run a scenario on the local lab and write the run directory."""
    from harness.plan import preflight, render_plan
    from harness.scenario import load_scenario

    scenario = load_scenario(file)
    if dry_run:
        typer.echo(render_plan(scenario))
        preflight(scenario)
        return
    preflight(scenario)  # what the machine lacks is said before anything starts
    from harness.progress import Progress
    from harness.runner import default_run_dir, run_scenario
    from harness.summary import render_summary

    run_dir = out or default_run_dir(scenario)
    outcome = run_scenario(scenario, run_dir, Progress(scenario.duration, progress))
    if outcome.result is None:
        _err(f"interrupted: faults reverted, lab stopped; partial run in {run_dir}")
        raise typer.Exit(outcome.exit_code)
    typer.echo(render_summary(outcome.result))
    raise typer.Exit(outcome.exit_code)


@fault_app.command("kinds")
@reports_errors
def fault_kinds(
    kind: Annotated[str | None, typer.Argument(help="Show only this kind.")] = None,
) -> None:
    """Every fault kind: parameters, units, defaults, what the target sees, what it needs."""
    from faults.base import get_kind
    from harness.catalogue import render_kinds
    from harness.errors import InvalidInput

    if kind is not None and get_kind(kind) is None:
        raise InvalidInput(f"unknown fault kind '{kind}' (see `harness fault kinds`)")
    typer.echo(render_kinds(kind))


@app.command("heal")
@reports_errors
def heal_command(
    keep_labs: Annotated[
        bool, typer.Option("--keep-labs", help="Revert faults only; leave orphaned labs running.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also revert faults of runs still in progress.")
    ] = False,
) -> None:
    """Revert every fault the journal says is still applied; stop orphaned labs."""
    from harness.heal import heal
    from harness.journal import Journal

    journal = Journal()
    report = heal(journal, stop_orphan_labs=not keep_labs, include_live=force)
    for line in report.reverted:
        typer.echo(f"reverted {line}")
    for line in report.gone:
        typer.echo(f"closed {line}")
    for lab_id in report.labs_stopped:
        typer.echo(f"stopped orphaned lab {lab_id}")
    for line in report.failed:
        _err(f"could not revert {line}")
    for line in report.skipped:
        typer.echo(f"left alone {line}; --force reverts it anyway")
    if not (
        report.reverted or report.labs_stopped or report.failed or report.skipped or report.gone
    ):
        typer.echo(f"nothing to heal (journal {journal.path})")
    if report.failed:
        raise typer.Exit(3)


@app.command("version")
def version() -> None:
    """Print the version."""
    from harness import __version__

    typer.echo(__version__)


def main() -> None:
    app(prog_name="harness")


if __name__ == "__main__":
    main()
