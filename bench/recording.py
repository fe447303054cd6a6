"""Benchmark 2: the cost of recording the history.

The ``redis.kv`` user with ``record: true`` (every operation appended to the history
and counted into live windows) against the same user with ``record: false``, in
interleaved rounds on one lab (A/B, B/A, ...). Each segment starts a fresh load generator
(10 users) and empties Redis first.

Operations are counted by Redis (successful SET + GET calls from ``INFO
commandstats``) over the steady part of each segment, independently of the load
generator's own counts. Measured per segment: acked
ops/s and the load generator's CPU microseconds per acked operation.
"""

from __future__ import annotations

import contextlib
import os
import time
import timeit
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from common import (
    Check,
    Section,
    SteadyWindow,
    finish_load,
    lab_pids,
    loadgen_config,
    median,
    redis_flush,
    running_lab,
    started_loadgen,
    steady_window,
    table,
)

from harness.history import HistoryWriter
from harness.lab.local import LocalLab
from harness.loadproc import START_MARGIN_S
from harness.workloads.values import digest, value_for

USERS = 10
TARGET_OVERHEAD = 0.10
TAIL_S = 0.3
QUIET_CORES = 0.1


@dataclass(frozen=True)
class Shape:
    rounds: int
    segment_s: float
    warmup_s: float


FULL = Shape(rounds=6, segment_s=8.0, warmup_s=2.0)
QUICK = Shape(rounds=2, segment_s=4.0, warmup_s=1.5)


@dataclass(frozen=True)
class Segment:
    record: bool
    window: SteadyWindow
    totals: dict[str, int]

    @property
    def cpu_us_per_op(self) -> float:
        return self.window.cpu_s["loadgen"] / self.window.acked * 1e6


def measure_segment(lab: LocalLab, run_dir: Path, record: bool, shape: Shape) -> Segment:
    """One load generator run; acked ops and loadgen CPU over its steady part."""
    upstream = lab.services["redis"].upstream
    redis_flush(upstream)
    with started_loadgen(run_dir, loadgen_config(lab, run_dir, USERS, record)) as loadgen:
        assert loadgen.proc is not None
        pin(loadgen.proc.pid, lab)
        t0_ns = time.monotonic_ns() + int(START_MARGIN_S * 1e9)
        stop_ns = t0_ns + int(shape.segment_s * 1e9)
        loadgen.go(t0_ns, stop_ns)
        window = steady_window(
            upstream,
            {"loadgen": loadgen.proc.pid, **lab_pids(lab)},
            t0_ns + int(shape.warmup_s * 1e9),
            stop_ns - int(TAIL_S * 1e9),
        )
        totals = finish_load(loadgen, stop_ns)
    return Segment(record, window, totals)


def pin(loadgen_pid: int, lab: LocalLab) -> None:
    """Load generator on the last core, the lab on the others, the same in both arms, so
    the arms differ only in recording and not in which processes share a core."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return
    os.sched_setaffinity(loadgen_pid, {cores[-1]})
    for pid in lab_pids(lab).values():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, set(cores[:-1]))


def recorder_step_costs(work: Path, count: int = 50_000) -> dict[str, float]:
    """Microseconds per call of what the generator's ``request`` listener adds when
    recording: one buffered history line (``HistoryWriter.write_op`` with the generator's
    256 KiB buffer, flushes to disk included) and one latency count (the HDR histogram is
    filled once per distinct value per second, not per operation). Measured in this
    process, without gevent or Locust."""
    record = {
        "t_start": time.monotonic_ns(),
        "t_end": time.monotonic_ns(),
        "process": "u3",
        "op": "set",
        "key": "0123abcd:u3:12345",
        "digest": digest(value_for("0123abcd:u3:12345", 256)),
        "type": "ok",
        "error": None,
    }
    writer = HistoryWriter(work / "micro-history.jsonl", buffer_bytes=256 * 1024)
    try:
        history_us = timeit.timeit(lambda: writer.write_op(record), number=count) / count * 1e6
    finally:
        writer.close()
    latencies: dict[int, int] = defaultdict(int)

    def count_latency() -> None:
        latencies[523] += 1

    count_us = timeit.timeit(count_latency, number=count) / count * 1e6
    return {"history line": history_us, "latency count": count_us}


def run(work: Path, quick: bool) -> Section:
    """Interleaved rounds, alternating which arm runs first."""
    shape = QUICK if quick else FULL
    root = work / "recording"
    rounds: list[tuple[Segment, Segment]] = []
    with running_lab(root / "lab") as lab:
        for index in range(1, shape.rounds + 1):
            # Alternate which arm goes first (ABBA...), so a drift over the run (the AOF
            # growing, a neighbour waking up) does not always favour the same arm.
            order = (True, False) if index % 2 else (False, True)
            seg = {
                rec: measure_segment(lab, root / f"r{index}-{'on' if rec else 'off'}", rec, shape)
                for rec in order
            }
            rounds.append((seg[True], seg[False]))
    return section(shape, rounds, recorder_step_costs(root))


# -- report ------------------------------------------------------------------------------


def signed_pct(ratio: float) -> str:
    """``0.123`` -> ``+12.3%``; no negative zero."""
    text = f"{ratio * 100:+.1f}%"
    return "0.0%" if text in ("+0.0%", "-0.0%") else text


def overhead(on: Segment, off: Segment) -> float:
    """Throughput lost to recording: 1 - on/off."""
    return 1.0 - on.window.ops_per_s / off.window.ops_per_s


def _round_rows(rounds: list[tuple[Segment, Segment]]) -> list[list[object]]:
    rows: list[list[object]] = []
    for index, (on, off) in enumerate(rounds, start=1):
        rows.append(
            [
                index,
                f"{on.window.ops_per_s:,.0f}",
                f"{off.window.ops_per_s:,.0f}",
                signed_pct(overhead(on, off)),
                f"{on.cpu_us_per_op:.0f}",
                f"{off.cpu_us_per_op:.0f}",
                f"{on.window.other_cores:.2f} / {off.window.other_cores:.2f}",
                f"{on.totals.get('ok', 0):,} / {off.totals.get('ok', 0):,}",
            ]
        )
    return rows


def _quiet_note(rounds: list[tuple[Segment, Segment]]) -> list[str]:
    """The median over the rounds in which nobody else used the machine."""
    quiet = [
        (on, off)
        for on, off in rounds
        if max(on.window.other_cores, off.window.other_cores) < QUIET_CORES
    ]
    if not quiet:
        return [f"No round had both segments below {QUIET_CORES:g} cores of other tenants.", ""]
    return [
        f"Rounds in which other tenants used under {QUIET_CORES:g} cores in both segments: "
        f"{len(quiet)} of {len(rounds)}; their median overhead "
        f"{signed_pct(median([overhead(on, off) for on, off in quiet]))}, CPU per op "
        f"{median([on.cpu_us_per_op for on, _ in quiet]):.0f} us with recording vs "
        f"{median([off.cpu_us_per_op for _, off in quiet]):.0f} us without.",
        "",
    ]


def section(
    shape: Shape, rounds: list[tuple[Segment, Segment]], steps: dict[str, float]
) -> Section:
    on_rates = [on.window.ops_per_s for on, _ in rounds]
    off_rates = [off.window.ops_per_s for _, off in rounds]
    per_round = [overhead(on, off) for on, off in rounds]
    med_overhead = median(per_round)
    ratio_of_medians = 1.0 - median(on_rates) / median(off_rates)
    cpu_on = median([on.cpu_us_per_op for on, _ in rounds])
    cpu_off = median([off.cpu_us_per_op for _, off in rounds])
    body = [
        f"{shape.rounds} rounds, each a segment of {shape.segment_s:g} s with `record: "
        f"true` and one with `record: false` (alternating which goes first), {USERS} "
        "`redis.kv` users, fresh load generator "
        "per segment pinned to one core with the lab on the other, Redis flushed before "
        f"each. Ops are acked SET+GET calls counted by "
        f"Redis between {shape.warmup_s:g} s after the start and {TAIL_S:g} s before the "
        "stop; CPU is the load generator process's user+system time over the same span; "
        "'other tenants' is the machine's busy CPU not used by the lab, the load generator "
        "or the benchmark over that span, hypervisor steal included (noise from other "
        "users of the machine).",
        "",
        *table(
            [
                "round",
                "record on ops/s",
                "record off ops/s",
                "overhead",
                "on CPU us/op",
                "off CPU us/op",
                "other tenants, cores (on / off)",
                "loadgen `done` ok (on / off)",
            ],
            _round_rows(rounds),
        ),
        f"Median: record on {median(on_rates):,.0f} ops/s, record off "
        f"{median(off_rates):,.0f} ops/s; median of the per-round overheads "
        f"{signed_pct(med_overhead)} (1 - ratio of medians: {signed_pct(ratio_of_medians)}). "
        f"Load generator CPU per acked op: {cpu_on:.0f} us with recording, {cpu_off:.0f} us "
        f"without ({(cpu_on / cpu_off - 1) * 100:+.0f}%).",
        "",
        "The listener's own steps, timed in this process (no gevent, no Locust): "
        + ", ".join(f"{name} {us:.2f} us" for name, us in steps.items())
        + f" per operation, {sum(steps.values()):.2f} us together: "
        f"{sum(steps.values()) / cpu_off * 100:.0f}% of the {cpu_off:.0f} us of load "
        "generator CPU per op without recording (median above), roughly the throughput "
        "cost to expect while the generator is CPU-bound.",
        "",
        *_quiet_note(rounds),
    ]
    check = Check(
        "recording overhead (median of per-round 1 - on/off ops/s)",
        f"<= {TARGET_OVERHEAD * 100:g}%",
        signed_pct(med_overhead),
        med_overhead <= TARGET_OVERHEAD,
    )
    return Section("2. Recording overhead", [check], body)
