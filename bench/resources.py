"""Benchmark 9: the resource sampler's cost, and whether it delays the schedule.

On a running lab (redis-server and the Toxiproxy server, no load), times
``ProcessProbe.read()`` (one sample of each process: a few ``/proc`` reads through
psutil) many times, in wall time and in the calling thread's CPU time. Then measures how
late the main thread wakes from 2 ms sleeps (what ``harness.timeline.sleep_until`` does
before a fault) with no sampler, with the sampler thread at its production cadence (1 s)
and at 100 Hz, a hundred times the production rate, writing to a history file as in a run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from common import Check, Section, median, percentile, running_lab, table

from harness.history import HistoryWriter
from harness.lab.local import LocalLab
from harness.resources import SAMPLE_INTERVAL_S, ProcessProbe, ResourceSampler, lab_targets

TARGET_P99_US = 1000.0
TARGET_EXTRA_LATENESS_US = 1000.0
SLEEP_S = 0.002


def time_reads(probe: ProcessProbe, n: int) -> tuple[list[float], list[float], int]:
    """Wall and thread-CPU microseconds per ``read()``; the number of processes read."""
    probe.read()  # the first read opens the processes; a run pays it once per pid
    wall, cpu = [], []
    count = 0
    for _ in range(n):
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        count = len(probe.read())
        cpu.append((time.thread_time_ns() - c0) / 1000)
        wall.append((time.perf_counter_ns() - w0) / 1000)
    return wall, cpu, count


def lateness(lab: LocalLab, history: Path, interval_s: float | None, n: int) -> list[float]:
    """Microseconds by which each of ``n`` 2 ms sleeps overslept, with a sampler thread
    at ``interval_s`` (None: no sampler) running meanwhile."""
    writer = HistoryWriter(history)
    sampler = None
    if interval_s is not None:
        probe = ProcessProbe(lab_targets(lab.processes, lab.toxiproxy_proc))
        sampler = ResourceSampler(probe, writer, interval_s)
        sampler.start()
    late = []
    try:
        for _ in range(n):
            target = time.monotonic_ns() + int(SLEEP_S * 1e9)
            time.sleep(SLEEP_S)
            late.append((time.monotonic_ns() - target) / 1000)
    finally:
        if sampler is not None:
            sampler.stop()
        writer.close()
    return late


def _row(label: str, values: list[float]) -> list[object]:
    return [
        label,
        len(values),
        f"{median(values):.0f}",
        f"{percentile(values, 99):.0f}",
        f"{max(values):.0f}",
    ]


def run(work: Path, quick: bool) -> Section:
    reads = 300 if quick else 3000
    rounds, sleeps = (2, 250) if quick else (6, 500)
    root = work / "resources"
    intervals = {
        "no sampler": None,
        f"sampler every {SAMPLE_INTERVAL_S:g} s (as in a run)": SAMPLE_INTERVAL_S,
        "sampler every 10 ms (100x)": 0.01,
    }
    passes: dict[str, list[float]] = {label: [] for label in intervals}
    with running_lab(root / "lab") as lab:
        probe = ProcessProbe(lab_targets(lab.processes, lab.toxiproxy_proc))
        wall, cpu, processes = time_reads(probe, reads)
        # Interleaved rounds, so that a noisy neighbour on the machine falls on every pass.
        for r in range(rounds):
            for i, (label, interval) in enumerate(intervals.items()):
                passes[label] += lateness(lab, root / f"h{r}-{i}.jsonl", interval, sleeps)
    return section(wall, cpu, processes, passes)


def section(
    wall: list[float], cpu: list[float], processes: int, passes: dict[str, list[float]]
) -> Section:
    cost = [
        _row(f"`read()`, wall ({processes} processes)", wall),
        _row("`read()`, CPU of the sampling thread", cpu),
        _row("per process, wall", [w / processes for w in wall]),
    ]
    late_rows = [_row(label, values) for label, values in passes.items()]
    body = [
        "`harness.resources.ProcessProbe.read()` on a running lab (redis-server and the "
        "Toxiproxy server, no load): one sample of each process (RSS, CPU times, status "
        "through psutil's `oneshot`). Microseconds:",
        "",
        *table(["measure", "n", "median us", "p99 us", "max us"], cost),
        f"How late the main thread wakes from {SLEEP_S * 1000:g} ms sleeps (microseconds "
        "past the deadline), without and with the sampler thread writing to a history "
        f"file, in {len(next(iter(passes.values())))} sleeps per pass taken in interleaved rounds; "
        "the schedule waits for a fault's planned time the same way. The sampler is "
        "a thread rather than a call from the schedule's tick so that a sample never runs "
        "between a wake-up and a fault's apply; what it can cost the main thread is the "
        "GIL for the stretch of Python between two `/proc` reads.",
        "",
        *table(["pass", "sleeps", "median us", "p99 us", "max us"], late_rows),
    ]
    base = percentile(next(iter(passes.values())), 99)
    fast = percentile(passes["sampler every 10 ms (100x)"], 99)
    p99 = percentile(cpu, 99)
    checks = [
        # CPU time, not wall time: on a shared machine the wall-time tail is the thread
        # being descheduled, which costs the schedule nothing (the next table shows that).
        Check(
            f"resource sample cost p99 ({processes} processes, CPU time of the sampler)",
            f"<= {TARGET_P99_US:g} us",
            f"{p99:.0f} us (median {median(cpu):.0f}; wall median {median(wall):.0f}, "
            f"p99 {percentile(wall, 99):.0f}; n={len(cpu)})",
            p99 <= TARGET_P99_US,
        ),
        Check(
            "extra wake-up lateness p99 with the sampler at 100x its rate",
            f"<= {TARGET_EXTRA_LATENESS_US:g} us",
            f"{fast - base:+.0f} us ({fast:.0f} vs {base:.0f})",
            fast - base <= TARGET_EXTRA_LATENESS_US,
        ),
    ]
    return Section("9. Resource sampler cost", checks, body)


if __name__ == "__main__":
    import run_all

    sys.exit(run_all.main(["--only", "resources", *sys.argv[1:]]))
