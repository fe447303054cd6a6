"""Benchmark 11: the compose lab on the real docker engine.

* Up and down times of a compose lab (Toxiproxy + Redis containers, images present),
  median of several cycles: ``ComposeLab.up()`` returns once every healthcheck passed,
  ``down()`` once nothing labelled with the lab is left.
* Drift of container faults: the real schedule (``drift.run_schedule``) applies and
  reverts ``process.pause``, ``process.kill`` and ``network.down`` on the containers of
  one lab; drift = from the planned instant until the action returned (a kill waits
  until the container has exited, its revert until Redis answers on the lab network).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from common import Check, Section, median, ms, new_journal, percentile, table
from drift import PlanShape, fault_actions, fault_plan, run_schedule

from harness.lab.compose import ComposeLab, docker_client
from harness.loadproc import START_MARGIN_S
from harness.scenario import RedisServiceSpec

CYCLES, QUICK_CYCLES = 5, 2
TARGET_UP_S = 10.0
KINDS = ("process.pause", "process.kill", "network.down")
SHAPE = PlanShape(count=30, length_s=0.3, spacing_s=2.0, kinds=KINDS)
QUICK_SHAPE = PlanShape(count=9, length_s=0.3, spacing_s=2.0, kinds=KINDS)


def _lab(work: Path, index: int) -> ComposeLab:
    root = work / f"compose-{index}"
    return ComposeLab(root, {"redis": RedisServiceSpec()}, journal=new_journal(root))


def up_down_times(work: Path, cycles: int) -> tuple[list[float], list[float]]:
    ups, downs = [], []
    for index in range(cycles):
        lab = _lab(work, index)
        start = time.monotonic()
        try:
            lab.up()
            ups.append(time.monotonic() - start)
        finally:
            start = time.monotonic()
            lab.down()
            downs.append(time.monotonic() - start)
    return ups, downs


def container_drift(work: Path, shape: PlanShape) -> list[Any]:
    lab = _lab(work, 99)
    journal = new_journal(work / "drift")
    try:
        lab.up()
        t0_ns = time.monotonic_ns() + int(START_MARGIN_S * 1e9)
        history = work / "compose-drift-history.jsonl"
        calls = run_schedule(lab, journal, history, fault_plan(shape), t0_ns)  # type: ignore[arg-type]
        return fault_actions(history, calls)
    finally:
        lab.down()


def run(work: Path, quick: bool) -> Section:
    engine = docker_client().version()
    ups, downs = up_down_times(work, QUICK_CYCLES if quick else CYCLES)
    actions = container_drift(work, QUICK_SHAPE if quick else SHAPE)
    rows = []
    for kind in KINDS:
        for action in ("apply", "revert"):
            values = [a.drift_ns for a in actions if a.kind == kind and a.action == action]
            rows.append(
                [
                    kind,
                    action,
                    len(values),
                    ms(median(values)),
                    ms(percentile(values, 99)),
                    ms(max(values) if values else 0),
                ]
            )
    up_median = median(ups)
    section = Section(
        "11. Compose lab: up/down times and container fault drift",
        checks=[
            Check(
                "compose lab up (images present)",
                f"<= {TARGET_UP_S:g} s",
                f"median {up_median:.2f} s",
                up_median <= TARGET_UP_S,
            )
        ],
    )
    section.body = [
        f"Docker engine {engine.get('Version')} (API {engine.get('ApiVersion')}); images "
        "built by `make images`. A lab of Toxiproxy and Redis (`appendfsync everysec`).",
        "",
        *table(
            ["", "cycles", "median s", "min s", "max s"],
            [
                [
                    "up (until every healthcheck passes)",
                    len(ups),
                    f"{up_median:.2f}",
                    f"{min(ups):.2f}",
                    f"{max(ups):.2f}",
                ],
                [
                    "down (nothing labelled left)",
                    len(downs),
                    f"{median(downs):.2f}",
                    f"{min(downs):.2f}",
                    f"{max(downs):.2f}",
                ],
            ],
        ),
        f"Container fault drift, no load, {len(actions)} actions "
        f"({shape_text(QUICK_SHAPE if quick else SHAPE)}):",
        "",
        *table(["kind", "action", "n", "median ms", "p99 ms", "max ms"], rows),
    ]
    return section


def shape_text(shape: PlanShape) -> str:
    return (
        f"{shape.count} faults of {shape.length_s:g} s every {shape.spacing_s:g} s, "
        f"cycling {', '.join(shape.kinds)}"
    )
