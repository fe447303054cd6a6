"""Benchmark 1: fault injection drift.

Drives the real schedule (``harness.timeline.run_schedule``, the loop
``harness/runner.py`` uses) over a plan of short network faults on a local lab, then
reads the fault records from the history. Measured, per fault action:

* drift = ``t_end - planned_ns``: from the planned instant until the action returned;
* lag = ``t_start - planned_ns``: the scheduler's part (wake-up);
* call = ``t_end - t_start``: the Toxiproxy HTTP calls themselves.

The plan runs twice on one lab: with no load, then while a 10-user ``redis.kv`` load runs
through the proxy (and writes to the same history, as in a real run).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    Check,
    CpuMeter,
    Section,
    finish_load,
    lab_pids,
    loadgen_config,
    median,
    ms,
    new_journal,
    percentile,
    running_lab,
    started_loadgen,
    table,
)

from faults.base import get_kind
from harness.history import HISTORY_FILE, HistoryWriter, read_history
from harness.journal import Journal
from harness.lab.local import LocalLab
from harness.lab.toxiproxy import ToxiproxyClient
from harness.loadproc import START_MARGIN_S
from harness.scenario import DiskSpec, PlannedFault, RedisServiceSpec
from harness.timeline import PREPARE_AHEAD_NS, Event, Nemesis, build_events
from harness.timeline import run_schedule as run_timeline

KINDS = ("network.latency", "network.down", "network.blackhole")
PROCESS_KINDS = ("process.pause", "process.kill", "process.stop")
DISK_KINDS = ("disk.fill", "disk.readonly", "disk.io_error", "disk.slow")
TARGET_P99_MS = {"network": 10.0, "process": 50.0, "disk": 100.0}
LOAD_USERS = 10


@dataclass(frozen=True)
class PlanShape:
    count: int
    length_s: float
    spacing_s: float
    first_at_s: float = 0.5
    kinds: tuple[str, ...] = KINDS

    @property
    def end_s(self) -> float:
        return self.first_at_s + (self.count - 1) * self.spacing_s + self.length_s

    @property
    def family(self) -> str:
        return self.kinds[0].split(".")[0]


FULL = PlanShape(count=100, length_s=0.1, spacing_s=0.15)
QUICK = PlanShape(count=30, length_s=0.1, spacing_s=0.15)
# A process fault's revert starts the service again and waits until it answers PING,
# which takes longer as the load grows the AOF Redis replays (0.7 s by the end here):
# the spacing leaves room for it, since the schedule runs one action at a time and a
# late revert would delay the next apply.
PROCESS_FULL = PlanShape(count=60, length_s=0.2, spacing_s=1.5, kinds=PROCESS_KINDS)
PROCESS_QUICK = PlanShape(count=15, length_s=0.2, spacing_s=1.5, kinds=PROCESS_KINDS)
DISK_FULL = PlanShape(count=60, length_s=0.2, spacing_s=0.4, kinds=DISK_KINDS)
DISK_QUICK = PlanShape(count=16, length_s=0.2, spacing_s=0.4, kinds=DISK_KINDS)
# The disk plan's Redis: its data on a 32 MiB ext4 lab filesystem, run under libfiu, and
# keeping no file open for writing (disk.readonly needs that; see the README).
DISK_SPEC = RedisServiceSpec(durability="off", disk=DiskSpec(size=32 << 20, io_errors=True))


def fault_plan(shape: PlanShape) -> list[PlannedFault]:
    """``count`` faults cycling through ``shape.kinds``, default params, on ``redis``."""
    plan = []
    for index in range(shape.count):
        name = shape.kinds[index % len(shape.kinds)]
        kind = get_kind(name)
        assert kind is not None, name
        plan.append(
            PlannedFault(
                fault_id=f"f{index + 1}",
                kind=name,
                targets=("redis",),
                at_s=shape.first_at_s + index * shape.spacing_s,
                for_s=shape.length_s,
                params=kind.params_model(),
            )
        )
    return plan


CallCounts = dict[tuple[str, str], int]


@contextmanager
def counting_toxiproxy_requests() -> Iterator[list[int]]:
    """Count the HTTP requests every ``ToxiproxyClient`` makes meanwhile (a one-element
    list, read it before and after an action). Instrumentation only: the wrapped
    method is called unchanged and restored on the way out."""
    original = ToxiproxyClient._call
    counter = [0]

    def counted(client: ToxiproxyClient, *args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return original(client, *args, **kwargs)

    ToxiproxyClient._call = counted  # type: ignore[method-assign,assignment]
    try:
        yield counter
    finally:
        ToxiproxyClient._call = original  # type: ignore[method-assign]


def run_schedule(
    lab: LocalLab, journal: Journal, history_path: Path, plan: list[PlannedFault], t0_ns: int
) -> CallCounts:
    """Apply and revert every planned fault on time, in the runner's loop. Returns the
    number of Toxiproxy requests each (fault id, action) made."""
    history = HistoryWriter(history_path)
    nemesis = Nemesis(lab, journal, history, t0_ns, uuid.uuid4().hex[:8])
    calls: CallCounts = {}
    try:
        with counting_toxiproxy_requests() as counter:
            seen = [0]

            def count(event: Event) -> None:
                calls[(event.fault.fault_id, event.action)] = counter[0] - seen[0]
                seen[0] = counter[0]

            run_timeline(nemesis, build_events(plan, t0_ns), on_event=count)
    finally:
        nemesis.revert_all()
        history.close()
    if nemesis.errors:
        raise RuntimeError(f"fault actions failed: {nemesis.errors[:3]}")
    return calls


@dataclass(frozen=True)
class Action:
    kind: str
    action: str
    lag_ns: int
    call_ns: int
    requests: int

    @property
    def drift_ns(self) -> int:
        return self.lag_ns + self.call_ns


def fault_actions(history_path: Path, calls: CallCounts) -> list[Action]:
    """First-attempt fault actions from the history, with their timings."""
    out = []
    for rec in read_history(history_path):
        if rec.get("op") != "fault" or rec.get("attempt") or rec.get("planned_ns") is None:
            continue
        out.append(
            Action(
                kind=rec["kind"],
                action=rec["action"],
                lag_ns=rec["t_start"] - rec["planned_ns"],
                call_ns=rec["t_end"] - rec["t_start"],
                requests=calls.get((rec["fault_id"], rec["action"]), 0),
            )
        )
    return out


@dataclass(frozen=True)
class Pass:
    label: str
    actions: list[Action]
    load_totals: dict[str, int] | None
    other_cores: float
    shape: PlanShape

    def drifts(self, action: str, kind: str | None = None) -> list[float]:
        return [
            a.drift_ns
            for a in self.actions
            if a.action == action and (kind is None or a.kind == kind)
        ]


def unloaded_pass(lab: LocalLab, journal: Journal, work: Path, shape: PlanShape) -> Pass:
    history = work / "no-load-history.jsonl"
    meter = CpuMeter(list(lab_pids(lab).values()))
    t0_ns = time.monotonic_ns() + int(START_MARGIN_S * 1e9)
    calls = run_schedule(lab, journal, history, fault_plan(shape), t0_ns)
    label = f"{shape.family}, no load"
    return Pass(label, fault_actions(history, calls), None, meter.other_cores(), shape)


def loaded_pass(lab: LocalLab, journal: Journal, work: Path, shape: PlanShape) -> Pass:
    """The same plan while the load generator runs through the proxy; both write the
    same history file, as in a real run."""
    run_dir = work / f"loaded-{shape.family}"
    config = loadgen_config(lab, run_dir, LOAD_USERS, record=True)
    with started_loadgen(run_dir, config) as loadgen:
        assert loadgen.proc is not None
        # Process faults replace the Redis process: its CPU counts as "other" there.
        pids = {k: v for k, v in lab_pids(lab).items() if shape.family != "process" or k != "redis"}
        meter = CpuMeter([*pids.values(), loadgen.proc.pid])
        t0_ns = time.monotonic_ns() + int(START_MARGIN_S * 1e9)
        stop_ns = t0_ns + int((shape.end_s + 0.5) * 1e9)
        loadgen.go(t0_ns, stop_ns)
        calls = run_schedule(lab, journal, run_dir / HISTORY_FILE, fault_plan(shape), t0_ns)
        other = meter.other_cores()
        totals = finish_load(loadgen, stop_ns)
    actions = fault_actions(run_dir / HISTORY_FILE, calls)
    label = f"{shape.family}, under load ({LOAD_USERS} users)"
    return Pass(label, actions, totals, other, shape)


def run(work: Path, quick: bool) -> Section:
    """The network plan without and with load, then the process plan under load, on one
    lab; the section for the report."""
    shape = QUICK if quick else FULL
    process = PROCESS_QUICK if quick else PROCESS_FULL
    root = work / "drift"
    journal = new_journal(root)
    with running_lab(root / "lab", journal) as lab:
        passes = [
            unloaded_pass(lab, journal, root, shape),
            loaded_pass(lab, journal, root, shape),
            loaded_pass(lab, journal, root, process),
        ]
    with running_lab(root / "disk-lab", journal, DISK_SPEC) as lab:
        passes.append(loaded_pass(lab, journal, root, DISK_QUICK if quick else DISK_FULL))
    return section(passes)


# -- report ------------------------------------------------------------------------------


def _stats_row(label: str, values: Sequence[float]) -> list[object]:
    return [
        label,
        len(values),
        ms(median(values)),
        ms(percentile(values, 99)),
        ms(max(values)),
    ]


def _summary_rows(passes: list[Pass]) -> list[list[object]]:
    rows: list[list[object]] = []
    for p in passes:
        rows.append(_stats_row(f"{p.label}: apply", p.drifts("apply")))
        rows.append(_stats_row(f"{p.label}: revert", p.drifts("revert")))
    return rows


def _breakdown_rows(passes: list[Pass]) -> list[list[object]]:
    rows: list[list[object]] = []
    for p in passes:
        for action in ("apply", "revert"):
            for kind in p.shape.kinds:
                picked = [a for a in p.actions if a.action == action and a.kind == kind]
                rows.append(
                    [
                        p.label,
                        f"{action} {kind}",
                        ms(median([a.drift_ns for a in picked])),
                        ms(percentile([a.drift_ns for a in picked], 99)),
                        ms(median([a.lag_ns for a in picked])),
                        ms(percentile([a.lag_ns for a in picked], 99)),
                        ms(median([a.call_ns for a in picked])),
                        ms(percentile([a.call_ns for a in picked], 99)),
                        f"{median([a.requests for a in picked]):g}",
                    ]
                )
    return rows


def _checks(passes: list[Pass]) -> list[Check]:
    out = []
    for p in passes:
        p99 = percentile(p.drifts("apply"), 99) / 1e6
        target = TARGET_P99_MS[p.shape.family]
        out.append(
            Check(
                f"injection drift p99, apply, {p.label}",
                f"<= {target:g} ms",
                f"{p99:.2f} ms (p50 {median(p.drifts('apply')) / 1e6:.2f}, "
                f"n={len(p.drifts('apply'))})",
                p99 <= target,
            )
        )
    return out


def _journal_note() -> str:
    return (
        f"each fault is journaled {PREPARE_AHEAD_NS / 1e6:g} ms ahead of its planned time "
        "with `Nemesis.prepare`"
    )


def _plan_text(shape: PlanShape) -> str:
    return (
        f"{shape.count} {shape.family} faults on `redis`, cycling "
        + ", ".join(f"`{k}`" for k in shape.kinds)
        + f" (default params), each {shape.length_s * 1000:g} ms long, one every "
        f"{shape.spacing_s * 1000:g} ms"
    )


def section(passes: list[Pass]) -> Section:
    shapes = list(dict.fromkeys(p.shape for p in passes))
    body = [
        "Plans: "
        + "; ".join(_plan_text(s) for s in shapes)
        + ". Each is driven by `harness.timeline.run_schedule`, the loop "
        "`harness/runner.py` uses ("
        + _journal_note()
        + "). Drift = `t_end - planned_ns` of each fault record in the history; p99 is "
        "nearest-rank. The targets apply to `apply` (the fault in effect); a process "
        "fault's revert includes starting Redis again (replaying its AOF, which grows "
        "with the load) and waiting until it answers PING; the schedule runs one action "
        "at a time, so the plan spaces process faults wider than that. "
        "The disk plan runs on a second lab whose Redis keeps its data on a 32 MiB ext4 "
        "lab filesystem (loop device) and runs under libfiu, with durability `off` so "
        "that no file stays open for writing (`disk.readonly` needs that); `disk.fill` "
        "allocates a ballast of the whole free space, `disk.io_error` talks to libfiu "
        "through `fiu-ctrl`, `disk.slow` creates a blkio cgroup and moves the process.",
        "",
        *table(["pass: action", "n", "p50 ms", "p99 ms", "max ms"], _summary_rows(passes)),
        "Drift split into the scheduler's part (lag = `t_start - planned_ns`: wake-up) "
        "and the action itself "
        "(call = `t_end - t_start`); 'requests' is the median number of HTTP requests "
        "the action sent to Toxiproxy:",
        "",
        *table(
            [
                "pass",
                "action",
                "drift p50",
                "drift p99",
                "lag p50",
                "lag p99",
                "call p50",
                "call p99",
                "requests",
            ],
            _breakdown_rows(passes),
        ),
        "(all in ms)",
        "",
        "CPU used by other tenants of the machine during each pass (busy CPU not used by "
        "the lab, the load generator or the benchmark, hypervisor steal included; in the "
        "process pass, Redis counts as other, since its pid changes): "
        + "; ".join(f"{p.label}: {p.other_cores:.2f} cores" for p in passes)
        + ".",
        "",
    ]
    loaded = [p for p in passes if p.load_totals is not None]
    for p in loaded:
        totals = p.load_totals or {}
        body.append(
            f"Load during the loaded pass (load generator `done` totals): "
            f"ok={totals.get('ok')}, fail={totals.get('fail')}, info={totals.get('info')}."
        )
        body.append("")
    return Section("1. Fault injection drift", _checks(passes), body)
