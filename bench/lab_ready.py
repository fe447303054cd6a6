"""Benchmark 3: local lab ready time.

Wall time of ``LocalLab.up()`` (Toxiproxy server answering ``/version``, redis-server
answering ``PING``, the proxy created, journal records fsynced) for a one-Redis lab,
repeated on fresh directories; every lab is torn down (``down()`` is timed too). A
subclass times the lab's start steps to split the total.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from common import Check, Section, ensure_stopped, median, new_journal, percentile, table

from harness.lab.base import Endpoint
from harness.lab.local import LocalLab
from harness.scenario import RedisServiceSpec, ServiceSpec

TARGET_MEDIAN_S = 2.0
FULL_RUNS = 12
QUICK_RUNS = 4


class TimedLab(LocalLab):
    """A ``LocalLab`` that records how long each start step took (seconds)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, {"redis": RedisServiceSpec()}, journal=new_journal(root))
        self.steps: dict[str, float] = {}

    def _start_toxiproxy(self, binary: str) -> None:
        start = time.perf_counter()
        super()._start_toxiproxy(binary)
        self.steps["toxiproxy"] = time.perf_counter() - start

    def _start_service(self, name: str, spec: ServiceSpec, binaries: dict[str, str]) -> None:
        start = time.perf_counter()
        super()._start_service(name, spec, binaries)
        self.steps["redis+proxy"] = time.perf_counter() - start

    def _create_proxy(self, name: str, upstream: str) -> Endpoint:
        start = time.perf_counter()
        try:
            return super()._create_proxy(name, upstream)
        finally:
            self.steps["proxy"] = time.perf_counter() - start


@dataclass
class Trial:
    up_s: float
    down_s: float
    steps: dict[str, float] = field(default_factory=dict)


def one_trial(root: Path) -> Trial:
    """Bring one lab up and down; both timed."""
    lab = TimedLab(root)
    try:
        start = time.perf_counter()
        lab.up()
        up_s = time.perf_counter() - start
    finally:
        start = time.perf_counter()
        lab.down()
        down_s = time.perf_counter() - start
        ensure_stopped(lab)
    return Trial(up_s, down_s, lab.steps)


def run(work: Path, quick: bool) -> Section:
    runs = QUICK_RUNS if quick else FULL_RUNS
    trials = [one_trial(work / "lab-ready" / f"run{i}") for i in range(1, runs + 1)]
    return section(trials)


def _row(label: str, values: list[float]) -> list[object]:
    return [
        label,
        f"{median(values) * 1000:.0f}",
        f"{min(values) * 1000:.0f}",
        f"{percentile(values, 90) * 1000:.0f}",
        f"{max(values) * 1000:.0f}",
    ]


def section(trials: list[Trial]) -> Section:
    ups = [t.up_s for t in trials]
    redis_only = [t.steps["redis+proxy"] - t.steps["proxy"] for t in trials]
    rows = [
        _row("`up()` total", ups),
        _row(
            "Toxiproxy server start until `/version` answers",
            [t.steps["toxiproxy"] for t in trials],
        ),
        _row("redis-server start until `PING` answers (+ journal)", redis_only),
        _row("proxy creation", [t.steps["proxy"] for t in trials]),
        _row("`down()`", [t.down_s for t in trials]),
    ]
    body = [
        f"{len(trials)} labs (one Redis, default `everysec` AOF), each on a fresh "
        "directory with its own journal, brought up and torn down in turn.",
        "",
        *table(["step", "median ms", "min ms", "p90 ms", "max ms"], rows),
    ]
    med = median(ups)
    check = Check(
        f"local lab ready time, median of {len(trials)}",
        f"<= {TARGET_MEDIAN_S:g} s",
        f"{med:.3f} s",
        med <= TARGET_MEDIAN_S,
    )
    return Section("3. Local lab ready time", [check], body)
