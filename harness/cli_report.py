"""``harness report``: stored runs, read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.clikit import err, reports_errors

report_app = typer.Typer(
    help="Stored runs: show one again and render its reports, list them, compare two.",
    no_args_is_help=True,
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


# -- comparisons and the run index ------------------------------------------------------

CompareLastOpt = Annotated[
    bool,
    typer.Option(
        "--compare-last",
        help="Compare with the last indexed run of this scenario (same name and file); "
        "a regression fails a run that otherwise passed (exit 1).",
    ),
]
CiOpt = Annotated[
    bool,
    typer.Option(
        "--ci",
        help="For CI logs: no live display; a compact summary and the paths of junit.xml, "
        "summary.md and report.html.",
    ),
]
TolP95 = Annotated[
    float | None,
    typer.Option(
        "--tolerance-p95",
        help="p95 may grow to old x this (default: the scenario's regressions.p95_ratio, 1.2).",
        show_default=False,
    ),
]
TolTtr = Annotated[
    float | None,
    typer.Option(
        "--tolerance-ttr",
        help="A fault's time to recover may grow to old x this (default: regressions."
        "ttr_ratio, 1.5).",
        show_default=False,
    ),
]
TolThroughput = Annotated[
    float | None,
    typer.Option(
        "--tolerance-throughput",
        help="Throughput may fall to old x this (default: regressions.throughput_ratio, 0.85).",
        show_default=False,
    ),
]


def tolerance_flags(p95: float | None, ttr: float | None, throughput: float | None) -> Any:
    return {"--tolerance-p95": p95, "--tolerance-ttr": ttr, "--tolerance-throughput": throughput}


@report_app.command("compare")
@reports_errors
def report_compare(
    old: Annotated[Path, typer.Argument(help="The earlier run directory.", show_default=False)],
    new: Annotated[Path, typer.Argument(help="The later run directory.", show_default=False)],
    tolerance_p95: TolP95 = None,
    tolerance_ttr: TolTtr = None,
    tolerance_throughput: TolThroughput = None,
) -> None:
    """Compare two stored runs metric by metric; exit 1 when NEW regressed from OLD
    (tolerances: NEW's scenario `regressions:` block, then the flags)."""
    from harness.regressions import compare_results, scenario_tolerances, with_flags
    from harness.summary import render_comparison

    flags = tolerance_flags(tolerance_p95, tolerance_ttr, tolerance_throughput)
    before, after = load_result(old), load_result(new)
    tolerances = with_flags(scenario_tolerances(new), flags)
    comparison = compare_results(before, after, tolerances)
    baseline = {"run_dir": str(old), "started_at": before.get("started_at")}
    typer.echo(f"{new} ({after.get('started_at')}) against the earlier run:")
    if before.get("scenario") != after.get("scenario"):
        err(f"note: different scenarios: {before.get('scenario')} and {after.get('scenario')}")
    typer.echo("\n".join(render_comparison(comparison.to_json(baseline))))
    raise typer.Exit(1 if comparison.regressions else 0)


@report_app.command("list")
@reports_errors
def report_list(
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Only runs of this scenario name.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 20,
) -> None:
    """Recent runs from the run index ($HARNESS_INDEX, else runs/index.sqlite), newest
    first."""
    from harness.runindex import index_path, recent_runs
    from harness.summary import render_run_list

    path = index_path()
    typer.echo(render_run_list(path, recent_runs(path, scenario, limit)))


def finish_run(outcome: Any, scenario: Any, file: Path, compare_last: bool, flags: Any) -> int:
    """After ``chaos run``: with ``--compare-last``, compare with the last indexed run of
    the scenario, say what was found; the exit code, 1 if a passing run regressed."""
    if not compare_last or outcome.result is None:
        return int(outcome.exit_code)
    from harness.regressions import compare_with_last

    last = compare_with_last(outcome.run_dir, outcome.result, scenario, file, flags)
    if last.comparison is None:
        err(
            f"--compare-last: no earlier run of {scenario.name} ({file}) in the run index "
            f"{last.index}: nothing to compare with"
        )
        return int(outcome.exit_code)
    try:  # the reports were written before the comparison: again, with it
        from harness.report import write_reports

        write_reports(outcome.run_dir, outcome.result)
    except OSError as exc:
        err(f"warning: the reports could not be written again with the comparison: {exc}")
    if last.comparison.regressions and outcome.exit_code == 0:
        return 1
    return int(outcome.exit_code)
