"""One chaos run: lab up -> load -> faults on the timeline -> heal -> checks -> lab down.

Fault revert and lab teardown always happen, in ``finally``; SIGINT and SIGTERM are
turned into ``Interrupted`` once, and further signals are ignored while cleaning up so
that a second Ctrl-C cannot cut a revert short.
"""

from __future__ import annotations

import signal
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from harness.checks.collect import final_read, written_keys
from harness.checks.drain import drain
from harness.checks.sweep import objects_to_read, sweep
from harness.errors import EXIT_INTERRUPTED, Interrupted, InvalidInput
from harness.heal import heal
from harness.history import HISTORY_FILE, HistoryWriter, read_history
from harness.journal import Journal
from harness.lab.backends import AnyLab, make_lab
from harness.lab.s3 import check_s3_target, s3_target
from harness.loadgroup import LoadGroup
from harness.loadproc import START_MARGIN_S
from harness.loadsplit import shares
from harness.profiles import Stage, stages
from harness.progress import Progress
from harness.report import write_reports
from harness.resources import ResourceSampler
from harness.result import analyse, write_result
from harness.runindex import index_path, record_run
from harness.scenario import PlannedFault, Scenario
from harness.timeline import Event, Gate, Nemesis, build_events, run_schedule, sleep_until
from harness.workloads.messages import stream_key


@dataclass
class RunOutcome:
    run_dir: Path
    result: dict[str, Any] | None
    exit_code: int
    errors: list[str] = field(default_factory=list)


class RunObserver(Protocol):
    """Watches a run as it goes (live metrics): started once the load runs, fed every
    tick and every fault action, stopped at the end whatever happened."""

    def start(self) -> None: ...
    def on_tick(
        self, elapsed_s: float, active: list[PlannedFault], tick: dict[str, Any]
    ) -> None: ...
    def on_event(self, event: Event) -> None: ...
    def stop(self) -> None: ...


@dataclass(frozen=True)
class Hooks:
    """Optional parts of a run: ``gate`` decides each apply (``harness gameday``; the
    load then runs up to ``max_wait_s`` longer, as long as the gate held the timeline),
    ``observers`` watch it (``--prometheus-port``)."""

    gate: Gate | None = None
    max_wait_s: float = 0.0
    observers: tuple[RunObserver, ...] = ()


class _Signals:
    """SIGINT/SIGTERM -> ``Interrupted`` in the main thread, at most once."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.shielded = False

    def handler(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = self.received or signum
        if first and not self.shielded:
            raise Interrupted(f"interrupted by {signal.Signals(signum).name}")

    @contextmanager
    def installed(self) -> Iterator[_Signals]:
        previous = {s: signal.signal(s, self.handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def default_run_dir(scenario: Scenario, base: Path = Path("runs")) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = base / f"{stamp}-{scenario.name}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = base / f"{stamp}-{scenario.name}-{suffix}"
    return path


def prepare_run_dir(run_dir: Path) -> None:
    """Create an empty run directory; ``InvalidInput`` if it holds files or cannot be made."""
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise InvalidInput(f"run directory {run_dir} is not empty: choose another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create run directory {run_dir}: {exc.strerror}") from None


def run_scenario(
    scenario: Scenario,
    run_dir: Path,
    progress: Progress,
    journal: Journal | None = None,
    attach: AnyLab | None = None,
    allow_external: bool = False,
    hooks: Hooks = Hooks(),
    scenario_file: Path | None = None,
) -> RunOutcome:
    """Run ``scenario`` on a lab of its own, or on the running lab ``attach`` (which is
    left running, with the faults of this run reverted). ``allow_external``: the user's
    ``--allow-external`` (external servers off loopback). The finished run is added to
    the run index (``harness/runindex.py``) under ``scenario_file``."""
    journal = journal or Journal(watchdog=True)
    prepare_run_dir(run_dir)
    (run_dir / "scenario.json").write_text(scenario.model_dump_json(indent=2, by_alias=True))
    healed = heal(journal)
    for line in healed.reverted:
        progress.always(f"healed a fault left by an earlier run: {line}")
    for line in healed.failed:
        progress.always(f"warning: could not heal a fault left by an earlier run: {line}")
    for lab_id in healed.labs_stopped:
        progress.always(f"stopped lab {lab_id}, left running by an earlier run")
    signals = _Signals()
    errors: list[str] = []
    interrupted: Interrupted | None = None
    with signals.installed():
        try:
            _run(
                scenario, run_dir, progress, journal, signals, errors, attach, allow_external, hooks
            )
        except Interrupted as exc:
            interrupted = exc
    if interrupted is None and signals.received is not None:
        # The signal arrived while cleaning up: the run still counts as interrupted.
        interrupted = Interrupted(f"interrupted by {signal.Signals(signals.received).name}")
    progress.close()
    if interrupted is not None:
        # What happened before the signal is still worth a result (status "error").
        errors.insert(0, str(interrupted))
        try:
            result = analyse(run_dir, scenario, errors)
        except (OSError, ValueError):
            pass  # interrupted before the load started: nothing to analyse
        else:
            result["run_dir"] = str(run_dir)
            write_result(run_dir / "result.json", result)
            _write_reports(run_dir, result, progress)
            _index_run(run_dir, result, scenario_file, progress)
        return RunOutcome(run_dir, None, EXIT_INTERRUPTED, errors)
    result = analyse(run_dir, scenario, errors)
    result["run_dir"] = str(run_dir)
    write_result(run_dir / "result.json", result)
    _write_reports(run_dir, result, progress)
    _index_run(run_dir, result, scenario_file, progress)
    code = {"pass": 0, "fail": 1}.get(result["status"], 3)
    return RunOutcome(run_dir, result, code, errors)


def _write_reports(run_dir: Path, result: dict[str, Any], progress: Progress) -> None:
    """report.html, junit.xml and summary.md next to result.json. They are views of it:
    one that cannot be written is a warning, never a lost result or another exit code."""
    try:
        write_reports(run_dir, result)
    except Exception as exc:
        progress.always(f"warning: could not write the reports: {type(exc).__name__}: {exc}")


def _run(
    scenario: Scenario,
    run_dir: Path,
    progress: Progress,
    journal: Journal,
    signals: _Signals,
    errors: list[str],
    attach: AnyLab | None,
    allow_external: bool = False,
    hooks: Hooks = Hooks(),
) -> None:
    run_tag = uuid.uuid4().hex[:8]
    phase = scenario.phases()[0]
    lab = attach or make_lab(
        scenario.lab.backend,
        run_dir / "lab",
        dict(scenario.lab.services),
        journal,
        allow_external=allow_external,
    )
    history = HistoryWriter(run_dir / HISTORY_FILE)
    loadgen: LoadGroup | None = None
    nemesis: Nemesis | None = None
    sampler: ResourceSampler | None = None
    # When the load began and when it may run until; None until it began.
    clock: tuple[int, int] | None = None
    ended = False
    try:
        if attach is None:
            progress.note(f"lab: starting {', '.join(scenario.lab.services)} behind Toxiproxy")
            lab.up()
        else:
            progress.note(f"lab: attached to {lab.lab_id} ({', '.join(lab.services)})")
        target = lab.services[phase.load.target]
        params = scenario.workload_params()
        s3 = None
        if target.kind == "s3":
            s3 = s3_target(target, scenario.lab.services.get(phase.load.target))
            check_s3_target(s3)  # a bad endpoint, bucket or credentials: exit 3 now
        load = phase.load
        split = shares(load.users, load.spawn_rate, load.processes, _stage_list(load))
        loadgen = LoadGroup.build(
            run_dir,
            split,
            scenario.seed,
            env=s3.client_env() if s3 else None,
            client=target.client,
            params=params,
            key_prefix=run_tag,
            history=run_dir / HISTORY_FILE,
            workload=load.workload,
            s3=s3,
        )
        loadgen.start(ready_deadline_s=_ready_deadline(params))
        t0_ns = time.monotonic_ns() + int(START_MARGIN_S * 1e9)
        stop_ns = t0_ns + int(phase.duration_s * 1e9)
        history.write(
            {
                "op": "run",
                "t0_ns": t0_ns,
                "wall": time.time() + START_MARGIN_S,
                "scenario": scenario.name,
                "run_tag": run_tag,
                "lab": lab.to_record(),
                "loadgen_pid": loadgen.pids[0],
                "loadgen_pids": loadgen.pids,
            }
        )
        # A gate may hold the timeline: the load may run that much longer, no more.
        max_wait_ns = int(hooks.max_wait_s * 1e9) if hooks.gate is not None else 0
        loadgen.go(t0_ns, stop_ns + max_wait_ns)
        clock = (t0_ns, stop_ns + max_wait_ns)
        if hooks.gate is not None:
            hooks.gate.begin(history, t0_ns)
        for observer in hooks.observers:
            observer.start()
        # RSS and CPU of the lab's processes, once a second, from a thread of its own.
        sampler = ResourceSampler(lab.resource_probe(), history)
        sampler.start()
        nemesis = Nemesis(lab, journal, history, t0_ns, run_tag)
        progress.note(
            f"load: {phase.load.users} {phase.load.workload} users for {phase.duration_s:g}s; "
            f"{len(phase.faults)} faults scheduled"
        )

        def tick() -> None:
            assert nemesis is not None and loadgen is not None
            elapsed = (time.monotonic_ns() - t0_ns) / 1e9
            active = [f"{pf.fault_id} {pf.kind}" for _, pf in nemesis.active.values()]
            last = loadgen.last_tick()
            progress.update(elapsed, active, last)
            for observer in hooks.observers:
                observer.on_tick(elapsed, [pf for _, pf in nemesis.active.values()], last)

        def report(event: Event) -> None:
            for observer in hooks.observers:
                observer.on_event(event)
            if event.action == "apply":
                progress.note(
                    f"{(event.at_ns - t0_ns) / 1e9:6.1f}s  apply  {event.fault.kind} "
                    f"-> {', '.join(event.fault.targets)} ({event.fault.fault_id})"
                )
            else:
                progress.note(
                    f"{(event.at_ns - t0_ns) / 1e9:6.1f}s  revert {event.fault.kind} "
                    f"({event.fault.fault_id})"
                )

        shift_ns = run_schedule(
            nemesis, build_events(phase.faults, t0_ns), tick, report, hooks.gate
        )
        end_record: dict[str, Any] = {}
        if hooks.gate is not None:
            # The load ends as long after the planned end as the gate held the timeline.
            stop_ns += min(shift_ns, max_wait_ns)
            end_record["load_end_s"] = (stop_ns - t0_ns) / 1e9
            sleep_until(stop_ns, tick)
            loadgen.stop_early(stop_ns)
        sleep_until(stop_ns, tick)
        sampler.stop()
        # The generator stops itself at stop_ns; give its users their stop timeout.
        if not loadgen.wait(params.op_timeout * 2 + 15.0):  # type: ignore[attr-defined]
            errors.append("the load generator did not stop in time; it was terminated")
        else:
            errors.extend(loadgen.early_exits(stop_ns))
        for record in loadgen.done_records():
            history.write(record)
        history.write(
            {"op": "run-end", "t_end": time.monotonic_ns(), "wall": time.time(), **end_record}
        )
        ended = True
    finally:
        signals.shielded = True
        if clock is not None and not ended:
            # Cut short (a signal, an abort, a failure): the load ran until now, and the
            # result's duration and rates are of that, not of the planned duration.
            _guarded(errors, "recording the end of the load", lambda: _cut_short(history, *clock))
        for observer in hooks.observers:
            _guarded(errors, "stopping live metrics", observer.stop)
        if sampler is not None:
            sampler.stop()
            errors.extend(sampler.errors)

        def revert() -> None:
            if nemesis is not None:
                nemesis.revert_all()
                errors.extend(nemesis.errors)
            # Anything journaled but not yet in the nemesis's hands (a signal between the
            # journal write and the apply) is reverted from the journal.
            leftover = heal(journal, stop_orphan_labs=False, prefix=f"{run_tag}/")
            errors.extend(f"revert failed: {f}" for f in leftover.failed)

        def collect() -> None:
            # Nothing to read back when the load never started (a refused preflight).
            started = loadgen is not None
            wanted = scenario.checks.integrity or scenario.checks.delivery
            if started and signals.received is None and lab.services and wanted:
                _collect_integrity(scenario, run_dir, lab, history, run_tag, progress)

        # Each step runs even if an earlier one failed (a full disk, say); the lab is
        # always stopped last.
        try:
            _guarded(errors, "reverting faults", revert)
            if loadgen is not None:
                _guarded(errors, "stopping the load generator", loadgen.close)
            _guarded(errors, "the final read", collect)
        finally:
            if attach is None:
                _guarded(errors, "stopping the lab", lab.down)
            _guarded(errors, "closing the history", history.close)


def _cut_short(history: HistoryWriter, t0_ns: int, until_ns: int) -> None:
    now_ns = min(time.monotonic_ns(), until_ns)
    load_end_s = round(max(now_ns - t0_ns, 0) / 1e9, 3)
    history.write({"op": "run-end", "t_end": now_ns, "wall": time.time(), "load_end_s": load_end_s})


def _index_run(
    run_dir: Path, result: dict[str, Any], scenario_file: Path | None, progress: Progress
) -> None:
    """Add the run to the run index. The run directory is the record that matters: an
    index that cannot be written (a full disk, a corrupt file) costs a warning, not the run."""
    path = index_path()
    try:
        record_run(path, run_dir, result, scenario_file)
    except (sqlite3.Error, OSError) as exc:
        progress.always(f"warning: run not added to the run index {path}: {exc}")


def _stage_list(load: Any) -> list[Stage] | None:
    """The load profile's stages for the load generators; None for a sustained load."""
    if load.profile is None or load.profile.shape == "sustained":
        return None
    return stages(load.profile, load.users, load.spawn_rate)


def _ready_deadline(params: Any) -> float:
    """How long the load generator may take to become ready: a minute, plus time to
    upload a shared pool (at a pessimistic 10 MB/s) for ``s3.concurrent_access``."""
    pool = getattr(params, "objects", 0) * getattr(params, "object_size", 0)
    return 60.0 + pool / 10e6


def _guarded(errors: list[str], what: str, step: Callable[[], None]) -> None:
    try:
        step()
    except Exception as exc:
        errors.append(f"{what} failed: {type(exc).__name__}: {exc}")


def _collect_integrity(
    scenario: Scenario,
    run_dir: Path,
    lab: AnyLab,
    history: HistoryWriter,
    run_tag: str,
    progress: Progress,
) -> None:
    target = lab.services[scenario.load.target]
    if scenario.checks.delivery is not None:
        if scenario.load.workload != "redis.streams":
            return  # Pub/Sub keeps nothing to read back
        progress.note("checks: draining the stream's consumer group")
        drain(target.client, stream_key(run_tag), history, scenario.checks.delivery.drain_deadline)
        return
    assert scenario.checks.integrity is not None
    records = list(read_history(run_dir / HISTORY_FILE))
    deadline = scenario.checks.integrity.final_read_deadline
    if target.kind == "s3":
        s3 = s3_target(target, scenario.lab.services.get(scenario.load.target))
        objects = objects_to_read(records)
        progress.note(f"checks: final sweep of {len(objects)} objects written (and any listed)")
        sweep(s3, f"{run_tag}/", objects, history, deadline)
        return
    keys = written_keys(records)
    progress.note(f"checks: final read of {len(keys)} keys written")
    attempted = {r["key"] for r in records if r.get("op") == "set"}
    final_read(
        target.client,
        keys,
        attempted,
        run_tag,
        history,
        deadline,
    )
