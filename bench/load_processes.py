"""Benchmark 10: acked Redis operations per second with one vs two load-generator
processes (``load.processes``).

The same ``redis.kv`` load (20 users, no wait, recording on) against one local lab,
run by one process and by two (10 users each), alternating within each repetition so
both see the same machine. Redis counts the acked SET + GET calls over the steady part
of each run; the CPU of the load generators, Toxiproxy and Redis is sampled alongside.
Reported: the medians and their ratio, which is what ``docs/scaling.md`` quotes.

    .venv/bin/python bench/run_all.py --only load_processes
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from common import (
    LOAD_READY_DEADLINE_S,
    Section,
    SteadyWindow,
    lab_pids,
    median,
    redis_flush,
    running_lab,
    steady_window,
    table,
)
from throughput import FULL, QUICK, TAIL_S, Shape

from harness.history import HISTORY_FILE
from harness.lab.local import LocalLab
from harness.loadgroup import LoadGroup
from harness.loadproc import START_MARGIN_S
from harness.loadsplit import shares
from harness.workloads.params import RedisKVParams

USERS = 20
SPAWN_RATE = 100.0
COUNTS = (1, 2)


def measure(lab: LocalLab, run_dir: Path, processes: int, shape: Shape) -> SteadyWindow:
    """One load with ``processes`` generators, built as the runner builds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    upstream = lab.services["redis"].upstream
    redis_flush(upstream)
    group = LoadGroup.build(
        run_dir,
        shares(USERS, SPAWN_RATE, processes, None),
        0,
        client=lab.services["redis"].client,
        params=RedisKVParams(record=True),
        key_prefix=uuid.uuid4().hex[:8],
        history=run_dir / HISTORY_FILE,
    )
    try:
        group.start(LOAD_READY_DEADLINE_S)
        pids = {f"loadgen{i}": pid for i, pid in enumerate(group.pids, start=1)}
        pids.update(lab_pids(lab))
        t0_ns = time.monotonic_ns() + int(START_MARGIN_S * 1e9)
        stop_ns = t0_ns + int(shape.duration_s * 1e9)
        group.go(t0_ns, stop_ns)
        window = steady_window(
            upstream, pids, t0_ns + int(shape.warmup_s * 1e9), stop_ns - int(TAIL_S * 1e9)
        )
        if not group.wait(15.0) or group.early_exits(stop_ns):
            raise RuntimeError(f"a load generator did not finish cleanly in {run_dir}")
    finally:
        group.close()
    if any(gen.proc is not None and gen.proc.poll() is None for gen in group.generators):
        raise RuntimeError("a load generator is still running")
    return window


def run(work: Path, quick: bool) -> Section:
    shape = QUICK if quick else FULL
    root = work / "load_processes"
    results: dict[int, list[SteadyWindow]] = {n: [] for n in COUNTS}
    with running_lab(root / "lab") as lab:
        for rep in range(1, shape.repetitions + 1):
            for n in COUNTS:
                results[n].append(measure(lab, root / f"rep{rep}-p{n}", n, shape))
    return section(shape, results)


def _loadgen_cores(w: SteadyWindow) -> float:
    return sum(v for k, v in w.cpu_s.items() if k.startswith("loadgen")) / w.seconds


def section(shape: Shape, results: dict[int, list[SteadyWindow]]) -> Section:
    rows = []
    for n in COUNTS:
        for rep, w in enumerate(results[n], start=1):
            rows.append(
                [
                    n,
                    rep,
                    f"{w.ops_per_s:,.0f}",
                    f"{_loadgen_cores(w):.2f}",
                    f"{w.cpu_s['toxiproxy'] / w.seconds:.2f}",
                    f"{w.cpu_s['redis'] / w.seconds:.2f}",
                    f"{w.other_cores:.2f}",
                ]
            )
    rates = {n: median([w.ops_per_s for w in results[n]]) for n in COUNTS}
    ratio = rates[2] / rates[1] if rates[1] else float("nan")
    cores = {n: median([_loadgen_cores(w) for w in results[n]]) for n in COUNTS}
    others = {n: median([w.other_cores for w in results[n]]) for n in COUNTS}
    header = [
        "processes",
        "rep",
        "acked ops/s",
        "load generators, cores",
        "toxiproxy, cores",
        "redis, cores",
        "other tenants, cores",
    ]
    body = [
        f"{USERS} `redis.kv` users (default params: 70% SET of 256-byte values, no wait, "
        f"recording on) for {shape.duration_s:g} s through Toxiproxy, run by one load "
        f"generator and by two ({USERS // 2} users each), alternating, {shape.repetitions} "
        "repetitions each on one lab, Redis emptied before each run. Acked SET+GET calls "
        f"are counted by Redis from {shape.warmup_s:g} s after the start to {TAIL_S:g} s "
        "before the stop; CPU in cores (1.00 = one core busy).",
        "",
        *table(header, rows),
        f"Median: **{rates[1]:,.0f} acked ops/s with one process, {rates[2]:,.0f} with "
        f"two: {ratio:.2f}x**; the load generators used {cores[1]:.2f} and {cores[2]:.2f} "
        f"cores, other tenants of the machine {others[1]:.2f} and {others[2]:.2f}. The "
        "load generators, Toxiproxy and Redis share the machine's cores with everything "
        "else on it (the generators at niceness 5): when the columns add up to about "
        "all the cores, a second generator gains only the CPU it takes from the others, "
        "and the ratio moves from one run to the next with what the other tenants do.",
        "",
    ]
    return Section("10. One vs two load-generator processes", [], body)
