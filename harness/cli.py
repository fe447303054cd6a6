"""The ``harness`` command line. Thin: parsing, then calls into the library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli_gameday import (
    LabOpt,
    PrometheusPortOpt,
    gameday,
    lab_for_run,
    live_observers,
)
from harness.cli_report import (
    CiOpt,
    CompareLastOpt,
    TolP95,
    TolThroughput,
    TolTtr,
    finish_run,
    report_app,
    tolerance_flags,
)
from harness.clikit import err as _err
from harness.clikit import reports_errors

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
fault_app = typer.Typer(
    help="Fault kinds, and faults applied by hand to the running lab.", no_args_is_help=True
)
app.add_typer(fault_app, name="fault")
lab_app = typer.Typer(help="A lab that outlives a run (for game days).", no_args_is_help=True)
app.add_typer(lab_app, name="lab")
app.add_typer(report_app, name="report")
app.command("gameday")(gameday)

FileArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)]
AllowExternal = Annotated[
    bool,
    typer.Option(
        "--allow-external",
        help="Allow external servers (endpoint:) that are not on loopback; without it "
        "they are refused (exit 2).",
    ),
]

DurationOpt = Annotated[
    str | None,
    typer.Option(
        "--duration",
        help="Run this long (30s, 10m); a sweep's steps are stretched to fit. "
        "Default: $HARNESS_DURATION, else the file's.",
        show_default=False,
    ),
]
UsersOpt = Annotated[
    str | None,
    typer.Option(
        "--users",
        help="Peak user count; a capacity sweep's steps are scaled to end there. "
        "Default: $HARNESS_USERS, else the file's.",
        show_default=False,
    ),
]


def _load(file: Path, duration: str | None, users: str | None) -> Any:
    """The scenario with the overrides in force (flags over environment over file)."""
    import os

    from harness.overrides import gather
    from harness.scenario import load_scenario

    return load_scenario(file, gather(duration, users, os.environ))


@scenario_app.command("validate")
@reports_errors
def scenario_validate(
    file: FileArg,
    allow_external: AllowExternal = False,
    duration: DurationOpt = None,
    users: UsersOpt = None,
) -> None:
    """Check a scenario file; print the problems with file:line, exit 2 if any (or an
    external server off loopback without --allow-external); exit 3 if this machine lacks
    what it needs (root, loop devices, libfiu...)."""
    from harness.plan import preflight

    scenario = _load(file, duration, users)
    preflight(scenario, allow_external)
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
    lab: LabOpt = "new",
    allow_external: AllowExternal = False,
    duration: DurationOpt = None,
    users: UsersOpt = None,
    prometheus_port: PrometheusPortOpt = None,
    compare_last: CompareLastOpt = False,
    ci: CiOpt = False,
    tolerance_p95: TolP95 = None,
    tolerance_ttr: TolTtr = None,
    tolerance_throughput: TolThroughput = None,
) -> None:
    """Run a scenario on the local lab and write the run directory."""
    from harness.plan import preflight, render_plan
    from harness.regressions import with_flags

    scenario = _load(file, duration, users)
    flags = tolerance_flags(tolerance_p95, tolerance_ttr, tolerance_throughput)
    with_flags(scenario.regressions, flags)  # a bad tolerance is said before anything starts
    scenario, attached = lab_for_run(lab, scenario, file, _journal())
    if dry_run:
        typer.echo(render_plan(scenario))
        preflight(scenario, allow_external)
        return
    preflight(scenario, allow_external)  # what the machine lacks is said before anything starts
    from harness.progress import Progress
    from harness.runner import Hooks, default_run_dir, run_scenario
    from harness.summary import render_ci, render_summary

    observers = live_observers(prometheus_port, scenario.name)
    run_dir = out or default_run_dir(scenario)
    outcome = run_scenario(
        scenario,
        run_dir,
        Progress(scenario.duration, False if ci else progress),
        _journal(),
        attached,
        allow_external=allow_external,
        hooks=Hooks(observers=observers),
        scenario_file=file,
    )
    if outcome.result is None:
        _err(f"interrupted: faults reverted, lab stopped; partial run in {run_dir}")
        raise typer.Exit(outcome.exit_code)
    code = finish_run(outcome, scenario, file, compare_last, flags)
    shown = render_ci(outcome.result, run_dir, code) if ci else render_summary(outcome.result)
    typer.echo(shown)
    raise typer.Exit(code)


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


def _journal() -> Any:
    from harness.journal import Journal

    return Journal(watchdog=True)


def _lab_block(scenario: Path | None, backend: str | None) -> tuple[str, Any]:
    """The backend and services of the lab to start: the scenario's lab block, or the
    default lab (one service of each kind, named after it); ``--backend`` wins."""
    from harness.errors import InvalidInput
    from harness.scenario import LabSpec, RedisServiceSpec, S3ServiceSpec, load_scenario

    if backend is not None and backend not in ("local", "compose"):
        raise InvalidInput(f"--backend: expected local or compose, got {backend!r}")
    if scenario is None:
        services = {"redis": RedisServiceSpec(), "s3": S3ServiceSpec(kind="s3")}
        return backend or "local", services
    lab = load_scenario(scenario).lab
    if backend is not None and backend != lab.backend:
        # Checked again for the other backend: what fits one may not fit the other.
        LabSpec.model_validate({"backend": backend, "services": lab.services})
    return backend or lab.backend, dict(lab.services)


BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="local (processes) or compose (containers; needs a docker engine). "
        "Default: the scenario's lab.backend, else local.",
    ),
]


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@lab_app.command("up")
@reports_errors
def lab_up_command(
    scenario: Annotated[
        Path | None,
        typer.Option("--scenario", help="Take the services from this scenario's lab block."),
    ] = None,
    as_json: JsonOpt = False,
    allow_external: AllowExternal = False,
    backend: BackendOpt = None,
) -> None:
    """Start the persistent lab (default: Redis named `redis`, an S3 server named `s3`).

    Heals what earlier runs left behind first. If a lab is already up, shows it."""
    from harness.labctl import lab_up, state_path

    journal = _journal()
    chosen, services = _lab_block(scenario, backend)
    up = lab_up(journal, services, allow_external, backend=chosen)
    _print_heal(up.healed, quiet_if_empty=True)
    record = up.lab.to_record()
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    verb = "lab up" if up.started else "lab already up"
    typer.echo(f"{verb}: {up.lab.lab_id}, {up.lab.backend} (state {state_path(journal)})")
    for name, svc in up.lab.services.items():
        server = svc.options.get("external")
        behind = f"external {server}" if server else f"upstream {svc.upstream}"
        typer.echo(f"  {name:<10} {svc.kind:<6} clients: {svc.client}  ({behind})")
    typer.echo(f"  toxiproxy  api: {record['toxiproxy']}")
    typer.echo(f"  data and logs: {up.lab.root}")


@lab_app.command("status")
@reports_errors
def lab_status_command(as_json: JsonOpt = False) -> None:
    """Show the running lab: processes, proxies, toxics, a PING per service, active
    faults. Exit 1 when no lab is up."""
    from harness.labctl import lab_status, render_faults

    status = lab_status(_journal())
    if as_json:
        typer.echo(json.dumps(status, indent=2))
    elif status is None:
        typer.echo("no lab is up (`harness lab up` starts one)")
    else:
        state = "up" if status["up"] else "DOWN (its processes are gone; `harness lab down`)"
        typer.echo(f"lab {status['lab_id']}: {state}")
        for name, svc in status["services"].items():
            proxy = ("proxy enabled" if svc.get("proxy_enabled") else "proxy DISABLED") + (
                f", toxics: {', '.join(svc['toxics'])}" if svc.get("toxics") else ""
            )
            if svc["external"] and "proxy_enabled" not in svc and "proxy_error" not in svc:
                proxy = "no proxy (https, reached directly)"
            ping = "no reply" if svc["ping_ms"] is None else f"answers in {svc['ping_ms']}ms"
            typer.echo(f"  {name:<10} {svc['client']:<16} {svc['process']:<20} {proxy}; {ping}")
        typer.echo(render_faults(status["faults"]))
    if status is None or not status["up"]:
        raise typer.Exit(1)


@lab_app.command("logs")
@reports_errors
def lab_logs_command(
    service: Annotated[
        str | None, typer.Argument(help="One service (or toxiproxy); default: all.")
    ] = None,
    tail: Annotated[int, typer.Option("--tail", min=1, help="Lines per service.")] = 50,
) -> None:
    """Show the last log lines of the running lab's services (container logs for the
    compose backend, the log files of the local one)."""
    from harness.labctl import lab_logs

    for name, lines in lab_logs(_journal(), service, tail).items():
        typer.echo(f"== {name}")
        for line in lines:
            typer.echo(f"  {line}")


@lab_app.command("down")
@reports_errors
def lab_down_command(
    keep_data: Annotated[
        bool, typer.Option("--keep-data", help="Keep the lab's data and logs directory.")
    ] = False,
) -> None:
    """Revert every fault on the lab and stop it."""
    from harness.labctl import lab_down

    lab_id, report = lab_down(_journal(), keep_data=keep_data)
    if lab_id is None:
        typer.echo("no lab is up")
        return
    _print_heal(report, quiet_if_empty=True)
    if report.failed:
        _err(f"lab {lab_id} left up: some faults could not be reverted; try again")
        raise typer.Exit(3)
    typer.echo(f"lab {lab_id} stopped")


@fault_app.command("apply")
@reports_errors
def fault_apply(
    kind: Annotated[str, typer.Argument(help="Fault kind, e.g. network.latency.")],
    params: Annotated[
        list[str] | None,
        typer.Argument(help="Parameters as key=value, e.g. latency=200ms jitter=20ms."),
    ] = None,
    target: Annotated[
        list[str],
        typer.Option("--target", "-t", help="Service to fault (repeat or comma-separate)."),
    ] = ["redis"],  # noqa: B006 (typer reads the default, never mutates it)
    for_: Annotated[
        str | None,
        typer.Option("--for", help="Revert after this long (30s, 2m), even if nothing runs."),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Stay until --for ends (or Ctrl-C), then revert."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything against the lab; apply nothing.")
    ] = False,
) -> None:
    """Apply a fault to the running lab (see `harness fault kinds`)."""
    from harness.clikit import positive_duration
    from harness.labctl import apply_adhoc, parse_params

    for_s = None if for_ is None else positive_duration("--for", for_)
    targets = [t for item in target for t in item.split(",") if t]
    journal = _journal()
    raw = parse_params(params or [])
    applied = apply_adhoc(journal, kind, targets, raw, for_s, wait, dry_run=dry_run)
    what = f"{kind} -> {', '.join(targets)}"
    if dry_run:
        typer.echo(f"dry run: {what} would be applied{f' for {for_}' if for_ else ''}")
        return
    if applied.fault.instantaneous:
        typer.echo(f"done: {what}")
        return
    if not wait:
        how = f"`harness fault revert {applied.fault_id}`"
        until = f"until {how}"
        if applied.expires_at is not None:
            until = f"for {for_}: the watchdog reverts it then (or {how})"
        typer.echo(f"applied {applied.fault_id}: {what} {until}")
        return
    _hold(journal, applied, what, for_s or 0.0)


def _hold(journal: Any, applied: Any, what: str, for_s: float) -> None:
    """--wait: hold the fault in this process, revert at the end or on Ctrl-C/SIGTERM."""
    import signal
    import time

    from harness.labctl import revert_adhoc

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    typer.echo(f"applied {applied.fault_id}: {what} for {for_s:g}s (Ctrl-C reverts now)")
    try:
        time.sleep(for_s)
    except KeyboardInterrupt:
        typer.echo("interrupted")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        revert_adhoc(journal, applied)
    typer.echo(f"reverted {applied.fault_id}")


@fault_app.command("list")
@reports_errors
def fault_list(as_json: JsonOpt = False) -> None:
    """Active faults: applied by hand or by a run in progress."""
    from harness.labctl import list_faults, render_faults

    faults = list_faults(_journal())
    typer.echo(json.dumps(faults, indent=2) if as_json else render_faults(faults))


@fault_app.command("revert")
@reports_errors
def fault_revert(
    ids: Annotated[list[str] | None, typer.Argument(help="Fault ids from `fault list`.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Revert every active fault.")] = False,
) -> None:
    """Revert faults by id, or all of them."""
    from harness.errors import InvalidInput
    from harness.labctl import revert_faults

    if not ids and not every:
        raise InvalidInput("name the faults to revert (see `harness fault list`) or use --all")
    report = revert_faults(_journal(), ids or [], every)
    _print_heal(report, quiet_if_empty=False)
    if report.failed:
        raise typer.Exit(3)


def _print_heal(report: Any, quiet_if_empty: bool) -> None:
    for line in report.reverted:
        typer.echo(f"reverted {line}")
    for line in report.gone:
        typer.echo(f"closed {line}")
    for lab_id in report.labs_stopped:
        typer.echo(f"stopped orphaned lab {lab_id}")
    for line in report.failed:
        _err(f"could not revert {line}")
    if report.empty and not quiet_if_empty:
        typer.echo("nothing to revert")


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
    _print_heal(report, quiet_if_empty=True)
    for line in report.skipped:
        typer.echo(f"left alone {line}; --force reverts it anyway")
    if report.empty:
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
