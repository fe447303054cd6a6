"""``harness gameday RUNBOOK-or-SCENARIO``: a chaos run an operator steps through, and
the ``--prometheus-port`` and ``--lab`` options it shares with ``harness chaos run``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.clikit import err, positive_duration, reports_errors

PrometheusPortOpt = Annotated[
    int | None,
    typer.Option(
        "--prometheus-port",
        min=1,
        max=65535,
        help="Serve live metrics on http://127.0.0.1:PORT/metrics while the run goes.",
        show_default=False,
    ),
]


LabOpt = Annotated[
    str,
    typer.Option(
        "--lab",
        help="new: a lab of the run's own; attach: the running lab (`harness lab up`).",
    ),
]


def lab_for_run(choice: str, scenario: Any, file: Path, journal: Any) -> tuple[Any, Any]:
    """``--lab``: the scenario and None for a lab of the run's own; for ``attach`` the
    running lab and the scenario checked against it (exit 2 naming what it lacks; exit 3
    when no lab is up)."""
    from harness.errors import InvalidInput

    if choice == "new":
        return scenario, None
    if choice != "attach":
        raise InvalidInput(f"--lab: expected new or attach, got {choice!r}")
    from harness.labctl import require_lab
    from harness.scenario import against_lab

    lab = require_lab(journal)
    return against_lab(scenario, lab.specs, str(file), lab.lab_id, lab.backend), lab


def live_observers(port: int | None, scenario_name: str) -> tuple[Any, ...]:
    """The run's observers for ``--prometheus-port``: none without it; a port in use is
    exit 3 here, before the lab starts."""
    if port is None:
        return ()
    from harness.live_metrics import LiveMetrics, check_port

    check_port(port)
    return (LiveMetrics(port, scenario_name),)


def scenario_source(file: Path) -> tuple[Path, Path | None]:
    """(scenario file, runbook or None) for a runbook (.md) or a scenario (.yaml)."""
    from harness.errors import InvalidInput
    from harness.runbook import scenario_of

    if file.suffix == ".md":
        return scenario_of(file), file
    if file.suffix in (".yaml", ".yml"):
        return file, None
    raise InvalidInput(f"{file}: expected a runbook (.md) or a scenario (.yaml)")


@reports_errors
def gameday(
    file: Annotated[Path, typer.Argument(help="A runbook (.md) or a scenario (.yaml).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default runs/<time>-<name>).")
    ] = None,
    max_wait: Annotated[
        str,
        typer.Option("--max-wait", help="All the operator's waits together at most this long."),
    ] = "10m",
    lab: LabOpt = "new",
    prometheus_port: PrometheusPortOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and the questions; start nothing.")
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Live status line (default: on a tty)."),
    ] = None,
) -> None:
    """Run a scenario, asking before each fault: [g]o, [s]kip, [a]bort, or a note.

    Answers are read from stdin, one a line. Exit codes as for `chaos run`; an abort
    (or no answer within --max-wait, or stdin closed) is 130 after heal."""
    from harness.journal import Journal
    from harness.plan import preflight, render_plan
    from harness.scenario import load_scenario

    scenario_path, runbook = scenario_source(file)
    scenario = load_scenario(scenario_path)
    max_wait_s = positive_duration("--max-wait", max_wait)
    journal = Journal(watchdog=True)
    scenario, attached = lab_for_run(lab, scenario, scenario_path, journal)
    if dry_run:
        typer.echo(render_plan(scenario))
        for pf in scenario.phases()[0].faults:
            typer.echo(f"ask before {pf.fault_id} {pf.kind} at {pf.at_s:g}s: go / skip / abort")
        typer.echo(f"operator waits: at most {max_wait_s:g}s in all")
        preflight(scenario)
        return
    preflight(scenario)
    observers = live_observers(prometheus_port, scenario.name)
    _run(scenario, out, runbook, progress, max_wait_s, observers, journal, attached)


def _run(
    scenario: Any,
    out: Path | None,
    runbook: Path | None,
    progress: bool | None,
    max_wait_s: float,
    observers: tuple[Any, ...],
    journal: Any,
    attached: Any,
) -> None:
    from harness.gameday import OperatorGate, StreamConsole
    from harness.progress import Progress
    from harness.runner import Hooks, default_run_dir, run_scenario
    from harness.summary import render_summary

    run_dir = out or default_run_dir(scenario)
    gate = OperatorGate(StreamConsole(sys.stdin.fileno(), sys.stderr), max_wait_s)
    hooks = Hooks(gate=gate, max_wait_s=max_wait_s, observers=observers)
    outcome = run_scenario(
        scenario,
        run_dir,
        Progress(scenario.duration, progress),
        journal,
        attached,
        hooks=hooks,
    )
    if runbook is not None and run_dir.is_dir():
        shutil.copyfile(runbook, run_dir / "runbook.md")
    if outcome.result is None:
        lab_now = "lab left up" if attached is not None else "lab stopped"
        err(f"{outcome.errors[0]}: faults reverted, {lab_now}; partial run in {run_dir}")
        raise typer.Exit(outcome.exit_code)
    typer.echo(render_summary(outcome.result))
    raise typer.Exit(outcome.exit_code)
