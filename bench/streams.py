"""Benchmark 8: Redis Streams messages per second end to end, per load-generator core.

A load generator with 8 ``redis.streams`` users (4 producers, 4 consumers of one
group; default params, recording on, as in a real run) against a local lab, repeated a
few times with a fresh generator and stream. Over the steady part of each repetition:
messages received by the consumers (receipts in the history, so sent, read and
recorded end to end) per second, and per CPU-second of the load generator, which runs
both sides.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from common import (
    Section,
    SteadyWindow,
    finish_load,
    lab_pids,
    median,
    running_lab,
    started_loadgen,
    steady_window,
    table,
)
from throughput import FULL, QUICK, TAIL_S, Shape

from harness.history import HISTORY_FILE, read_history
from harness.lab.local import LocalLab
from harness.loadproc import START_MARGIN_S, loadgen_config
from harness.workloads.params import RedisStreamsParams

USERS = 8


@dataclass(frozen=True)
class Repetition:
    window: SteadyWindow
    received: int
    sent_ok: int

    @property
    def per_s(self) -> float:
        return self.received / self.window.seconds

    @property
    def per_cpu_s(self) -> float:
        return self.received / self.window.cpu_s["loadgen"]


def measure(lab: LocalLab, run_dir: Path, shape: Shape) -> Repetition:
    config = loadgen_config(
        lab.services["redis"].client,
        RedisStreamsParams(),
        seed=0,
        key_prefix=uuid.uuid4().hex[:8],
        history=run_dir / HISTORY_FILE,
        users=USERS,
        spawn_rate=100.0,
        workload="redis.streams",
    )
    with started_loadgen(run_dir, config) as loadgen:
        assert loadgen.proc is not None
        pids = {"loadgen": loadgen.proc.pid, **lab_pids(lab)}
        t0_ns = time.monotonic_ns() + int(START_MARGIN_S * 1e9)
        stop_ns = t0_ns + int(shape.duration_s * 1e9)
        loadgen.go(t0_ns, stop_ns)
        start_ns = t0_ns + int(shape.warmup_s * 1e9)
        end_ns = stop_ns - int(TAIL_S * 1e9)
        window = steady_window(None, pids, start_ns, end_ns)
        finish_load(loadgen, stop_ns)
    received = sent_ok = 0
    for rec in read_history(run_dir / HISTORY_FILE):
        if not start_ns <= rec.get("t_end", 0) < end_ns:
            continue
        if rec.get("op") == "recv":
            received += 1
        elif rec.get("op") == "send" and rec["type"] == "ok":
            sent_ok += 1
    return Repetition(window, received, sent_ok)


def run(work: Path, quick: bool) -> Section:
    shape = QUICK if quick else FULL
    root = work / "streams"
    with running_lab(root / "lab") as lab:
        reps = [measure(lab, root / f"rep{i}", shape) for i in range(1, shape.repetitions + 1)]
    rows = [
        [
            i,
            f"{r.sent_ok / r.window.seconds:,.0f}",
            f"{r.per_s:,.0f}",
            f"{r.window.cpu_s['loadgen'] / r.window.seconds * 100:.0f}%",
            f"{r.per_cpu_s:,.0f}",
            f"{r.window.other_cores:.2f}",
        ]
        for i, r in enumerate(reps, start=1)
    ]
    body = [
        f"{shape.repetitions} repetitions of {USERS} `redis.streams` users (4 producers, "
        "4 consumers of one group, 128-byte payloads, default params, recording on) for "
        f"{shape.duration_s:g} s through Toxiproxy, a fresh load generator and stream each "
        f"time. Counted from {shape.warmup_s:g} s after the start to {TAIL_S:g} s before "
        "the stop: acknowledged XADDs and receipts (messages read by a consumer and "
        "recorded) from the history, and the load generator's CPU (user+system), which "
        "runs producers and consumers alike.",
        "",
        *table(
            [
                "rep",
                "acked sends/s",
                "received msgs/s",
                "loadgen CPU",
                "received per loadgen CPU-s",
                "other tenants, cores",
            ],
            rows,
        ),
        "",
        f"Median: **{median([r.per_s for r in reps]):,.0f} messages/s end to end**, "
        f"**{median([r.per_cpu_s for r in reps]):,.0f} per load-generator CPU-second**.",
    ]
    return Section("8. Redis Streams messages per load-generator core", [], body)


if __name__ == "__main__":
    import sys

    import run_all

    sys.exit(run_all.main(["--only", "streams", *sys.argv[1:]]))
