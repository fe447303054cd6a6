"""Benchmark 4: acked Redis operations per load-generator core.

A load generator (10 ``redis.kv`` users, recording on, as in a real run) against a
local lab, repeated a few times on the same lab (fresh generator, Redis emptied before
each). Over the steady part of each repetition it samples Redis's count of successful
SET + GET calls and the user+system CPU seconds of the load generator, redis-server and
the Toxiproxy server. Reported: acked ops/s and acked ops per load-generator
CPU-second (the load generator is one gevent process, so at most one core); the target
is checked on the median over the repetitions.
"""

from __future__ import annotations

import time
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

from harness.lab.local import LocalLab
from harness.loadproc import START_MARGIN_S

USERS = 10
TARGET_OPS_PER_CPU_S = 5000.0
TAIL_S = 0.3
PROCESSES = ("loadgen", "toxiproxy", "redis")


@dataclass(frozen=True)
class Shape:
    repetitions: int
    duration_s: float
    warmup_s: float


FULL = Shape(repetitions=3, duration_s=8.0, warmup_s=2.0)
QUICK = Shape(repetitions=1, duration_s=5.0, warmup_s=1.5)


@dataclass(frozen=True)
class Repetition:
    window: SteadyWindow
    totals: dict[str, int]

    def ops_per_cpu_s(self, process: str = "loadgen") -> float:
        return self.window.ops_per_cpu_s(process)

    def core_share(self, process: str = "loadgen") -> float:
        return self.window.cpu_s[process] / self.window.seconds


def measure(lab: LocalLab, run_dir: Path, shape: Shape) -> Repetition:
    """One load generator run; acked ops and per-process CPU over its steady part."""
    upstream = lab.services["redis"].upstream
    redis_flush(upstream)
    with started_loadgen(run_dir, loadgen_config(lab, run_dir, USERS, record=True)) as loadgen:
        assert loadgen.proc is not None
        pids = {"loadgen": loadgen.proc.pid, **lab_pids(lab)}
        t0_ns = time.monotonic_ns() + int(START_MARGIN_S * 1e9)
        stop_ns = t0_ns + int(shape.duration_s * 1e9)
        loadgen.go(t0_ns, stop_ns)
        window = steady_window(
            upstream,
            pids,
            t0_ns + int(shape.warmup_s * 1e9),
            stop_ns - int(TAIL_S * 1e9),
        )
        totals = finish_load(loadgen, stop_ns)
    return Repetition(window, totals)


def run(work: Path, quick: bool) -> Section:
    shape = QUICK if quick else FULL
    root = work / "throughput"
    with running_lab(root / "lab") as lab:
        reps = [measure(lab, root / f"rep{i}", shape) for i in range(1, shape.repetitions + 1)]
    return section(shape, reps)


# -- report ------------------------------------------------------------------------------


def _rows(reps: list[Repetition]) -> list[list[object]]:
    rows: list[list[object]] = []
    for index, rep in enumerate(reps, start=1):
        w = rep.window
        rows.append(
            [
                index,
                f"{w.ops_per_s:,.0f}",
                *(f"{rep.core_share(p) * 100:.0f}%" for p in PROCESSES),
                *(f"{rep.ops_per_cpu_s(p):,.0f}" for p in PROCESSES),
                f"{w.other_cores:.2f}",
                f"{rep.totals.get('ok', 0):,} / {rep.totals.get('fail', 0)} / "
                f"{rep.totals.get('info', 0)}",
            ]
        )
    return rows


def section(shape: Shape, reps: list[Repetition]) -> Section:
    per_core = median([r.ops_per_cpu_s() for r in reps])
    rate = median([r.window.ops_per_s for r in reps])
    share = median([r.core_share() for r in reps])
    header = [
        "rep",
        "acked ops/s",
        *(f"{p} CPU" for p in PROCESSES),
        *(f"ops per {p} CPU-s" for p in PROCESSES),
        "other tenants, cores",
        "`done` ok / fail / info",
    ]
    body = [
        f"{shape.repetitions} repetitions of {USERS} `redis.kv` users (default params: 70% "
        f"SET of 256-byte values, no wait, recording on) for {shape.duration_s:g} s through "
        "Toxiproxy, fresh load generator each time, Redis emptied before each. Acked "
        f"SET+GET calls are counted by Redis and CPU (user+system) is sampled from "
        f"{shape.warmup_s:g} s after the start to {TAIL_S:g} s before the stop; CPU is in "
        "% of one core; 'other tenants' is the machine's busy CPU (hypervisor steal "
        "included) not used by these processes or the benchmark.",
        "",
        *table(header, _rows(reps)),
        f"Median: **{rate:,.0f} acked ops/s**, the load generator at {share * 100:.0f}% of "
        f"a core, **{per_core:,.0f} acked ops per load-generator CPU-second**.",
        "",
    ]
    check = Check(
        f"acked ops per load-generator CPU-second, median of {len(reps)}",
        f">= {TARGET_OPS_PER_CPU_S:,.0f}",
        f"{per_core:,.0f} ({rate:,.0f} ops/s, loadgen at {share * 100:.0f}% of a core)",
        per_core >= TARGET_OPS_PER_CPU_S,
    )
    return Section("4. Acked Redis ops per load-generator core", [check], body)
