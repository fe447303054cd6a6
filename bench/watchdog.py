"""Benchmark 5: heal time of the watchdog after the harness is killed with SIGKILL.

Each trial runs the real ``harness chaos run`` command on a scenario that holds one
fault for a long time, waits until the history shows the fault applied, then sends the
harness SIGKILL. Nobody calls ``harness heal``: the watchdog process the harness
started must notice, revert the fault and stop the orphaned lab. Measured from the
SIGKILL:

* reverted: the journal holds no active fault (the watchdog closes a fault's record
  only after its revert succeeded);
* clean: additionally no lab is left in the journal and every lab process has exited.

Trials cycle through the fault kinds in ``TRIALS``: two per family, the disk ones on a
Redis whose data is on a 16 MiB ext4 lab filesystem.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from common import REPO, Check, Section, median, table

from harness.journal import Journal

TARGET_S = 5.0
FULL_TRIALS = 3  # per kind
QUICK_TRIALS = 1

SCENARIO = """
name: watchdog-bench
duration: 60s
lab: {{services: {{redis: {lab}}}}}
load: {{workload: redis.kv, users: 2, spawn_rate: 50}}
timeline:
  - {{id: held, at: 1s, for: 50s, fault: {kind}, target: redis}}
"""
DISK = "{durability: rdb, disk: {size: 16MiB}}"
# Each kind with the Redis service spec it needs.
TRIALS = {
    "network.down": "{}",
    "network.latency": "{}",
    "process.pause": "{}",
    "process.stop": "{}",
    "disk.fill": DISK,
    "disk.readonly": DISK,
}
TRIAL_KINDS = tuple(TRIALS)


@dataclass(frozen=True)
class Trial:
    kind: str
    reverted_s: float
    clean_s: float


def _applied(run_dir: Path) -> bool:
    try:
        with open(run_dir / "history.jsonl") as handle:
            return any('"action":"apply"' in line for line in handle)
    except FileNotFoundError:
        return False


def _lab_pids(run_dir: Path) -> list[int]:
    with open(run_dir / "history.jsonl") as handle:
        for line in handle:
            rec = json.loads(line)
            if rec.get("op") == "run":
                lab = rec["lab"]
                procs = [lab["toxiproxy_process"], *lab["processes"].values()]
                return [p["pid"] for p in procs if p]
    return []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def trial(work: Path, index: int, kind: str) -> Trial:
    root = work / f"trial-{index}"
    root.mkdir(parents=True)
    scenario = root / "scenario.yaml"
    scenario.write_text(SCENARIO.format(kind=kind, lab=TRIALS[kind]))
    run_dir = root / "run"
    harness = subprocess.Popen(
        [sys.executable, "-m", "harness", "chaos", "run", str(scenario), "--out", str(run_dir)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not _applied(run_dir):
        if time.monotonic() > deadline or harness.poll() is not None:
            harness.kill()
            raise RuntimeError(f"{kind}: the fault was never applied (see {run_dir})")
        time.sleep(0.01)
    pids = _lab_pids(run_dir)
    journal = Journal()
    harness.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    harness.wait()
    reverted = clean = None
    while clean is None and time.monotonic() - killed < 30:
        state = journal.state()
        now = time.monotonic() - killed
        if reverted is None and not state.faults:
            reverted = now
        if reverted is not None and not state.labs and not any(_alive(p) for p in pids):
            clean = now
        time.sleep(0.005)
    if reverted is None or clean is None:
        raise RuntimeError(f"{kind}: not healed within 30 s of SIGKILL (see {run_dir})")
    return Trial(kind, reverted, clean)


def run(work: Path, quick: bool) -> Section:
    per_kind = QUICK_TRIALS if quick else FULL_TRIALS
    trials = []
    for index in range(per_kind * len(TRIAL_KINDS)):
        trials.append(trial(work / "watchdog", index, TRIAL_KINDS[index % len(TRIAL_KINDS)]))
    return section(trials)


def section(trials: list[Trial]) -> Section:
    worst = max(t.clean_s for t in trials)
    checks = [
        Check(
            "watchdog heal time after SIGKILL of the harness (max over trials)",
            f"<= {TARGET_S:g} s",
            f"{worst:.2f} s (n={len(trials)})",
            worst <= TARGET_S,
        )
    ]
    rows = []
    for kind in TRIAL_KINDS:
        picked = [t for t in trials if t.kind == kind]
        if picked:
            rows.append(
                [
                    kind,
                    len(picked),
                    f"{median([t.reverted_s for t in picked]):.2f}",
                    f"{max(t.reverted_s for t in picked):.2f}",
                    f"{median([t.clean_s for t in picked]):.2f}",
                    f"{max(t.clean_s for t in picked):.2f}",
                ]
            )
    body = [
        "Each trial: `harness chaos run` of a scenario holding one fault for 50 s under a "
        "2-user `redis.kv` load, SIGKILL of the harness as soon as the history shows the "
        "fault applied, then no command at all: the watchdog (polling the journal every "
        "0.2 s) reverts the fault and stops the orphaned lab. Seconds from the SIGKILL "
        "until the journal holds no active fault (reverted), and until the lab is also "
        "stopped and every lab process has exited (clean):",
        "",
        *table(["fault", "trials", "reverted p50", "reverted max", "clean p50", "clean max"], rows),
    ]
    return Section("5. Watchdog heal time after SIGKILL", checks, body)
