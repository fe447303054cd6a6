"""Helpers shared by the benchmarks: environment, lab and load generator lifecycles,
Redis-side operation counts, CPU samples, statistics and the report structure.

Every lab and load generator started here is stopped in ``finally``. The heal journal
is private to the benchmark (``HARNESS_STATE_DIR`` points into its work directory), so
a benchmark never touches a user's journal.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis

from harness.history import HISTORY_FILE
from harness.journal import Journal
from harness.lab.base import Endpoint
from harness.lab.local import LocalLab
from harness.loadproc import LoadGenerator
from harness.loadproc import loadgen_config as harness_loadgen_config
from harness.scenario import LoadSpec, RedisServiceSpec, ServiceSpec
from harness.workloads.params import RedisKVParams

REPO = Path(__file__).resolve().parents[1]
LOAD_READY_DEADLINE_S = 60.0


# -- environment -------------------------------------------------------------------------


def prepare_environment(keep: bool = False) -> Path:
    """Create the benchmark's work directory and point the harness at a private heal
    journal and at the repository's Toxiproxy server binary (unless one is set)."""
    work = Path(tempfile.mkdtemp(prefix="chaos-bench-"))
    os.environ["HARNESS_STATE_DIR"] = str(work / "state")
    os.environ.setdefault("HARNESS_TOXIPROXY_BIN", str(REPO / ".bin" / "server"))
    if keep:
        print(f"bench: work directory {work}", file=sys.stderr)
    return work


def new_journal(root: Path) -> Journal:
    """A heal journal inside ``root`` (never the user's state directory)."""
    return Journal(root / "journal.jsonl")


def machine_info() -> dict[str, str]:
    """nproc, CPU model, Python version, kernel, date: quoted at the top of the report."""
    return {
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load average (1/5/15 min) at start": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "code": git_revision(),
    }


def git_revision() -> str:
    """The commit benchmarked, plus the files (outside bench/ and docs/) that differ from
    it: the harness changes under the benchmark while others work on it."""
    try:
        head = _git("rev-parse", "--short", "HEAD").strip()
        status = _git("status", "--porcelain", "--untracked-files=no").splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = sorted(
        line[3:] for line in status if not line[3:].startswith(("bench/", "docs/benchmarks.md"))
    )
    if not changed:
        return f"commit {head}"
    return f"commit {head} + uncommitted changes to " + ", ".join(f"`{c}`" for c in changed)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
    ).stdout


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# -- lab and load generator --------------------------------------------------------------


@contextmanager
def running_lab(
    root: Path,
    journal: Journal | None = None,
    spec: RedisServiceSpec | None = None,
    services: dict[str, ServiceSpec] | None = None,
) -> Iterator[LocalLab]:
    """A local lab behind Toxiproxy, always torn down: ``services``, or else one Redis
    named ``redis`` (``spec``, default spec)."""
    services = services or {"redis": spec or RedisServiceSpec()}
    lab = LocalLab(root, services, journal=journal or new_journal(root))
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
        ensure_stopped(lab)


def ensure_stopped(lab: LocalLab) -> None:
    """Raise if ``down()`` left any of the lab's processes running."""
    procs = [*lab.processes.values()]
    if lab.toxiproxy_proc is not None:
        procs.append(lab.toxiproxy_proc)
    alive = [f"{p.name} (pid {p.pid})" for p in procs if p.alive()]
    if alive:
        raise RuntimeError(f"lab processes left running after down(): {', '.join(alive)}")


def lab_pids(lab: LocalLab) -> dict[str, int]:
    """The lab's processes by name: ``toxiproxy`` and one per service."""
    procs = {"toxiproxy": lab.toxiproxy_proc, **lab.processes}
    return {name: p.pid for name, p in procs.items() if p is not None and p.pid is not None}


def loadgen_config(
    lab: LocalLab, run_dir: Path, users: int, record: bool, spawn_rate: float | None = None
) -> dict[str, Any]:
    """The load generator's configuration for ``redis.kv``, built as the runner builds it."""
    return harness_loadgen_config(
        lab.services["redis"].client,
        RedisKVParams(record=record),
        seed=0,
        key_prefix=uuid.uuid4().hex[:8],
        history=run_dir / HISTORY_FILE,
        users=users,
        spawn_rate=spawn_rate or LoadSpec.model_fields["spawn_rate"].default,
    )


@contextmanager
def started_loadgen(
    run_dir: Path, config: dict[str, Any], env: dict[str, str] | None = None
) -> Iterator[LoadGenerator]:
    """A load generator process that is ready (Locust imported, users defined), always
    closed (SIGTERM, then SIGKILL) on the way out. ``env`` adds to its environment (an
    S3 target's credentials)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    loadgen = LoadGenerator(run_dir, config, env=env)
    try:
        loadgen.start(LOAD_READY_DEADLINE_S)
        yield loadgen
    finally:
        loadgen.close()
        if loadgen.proc is not None and loadgen.proc.poll() is None:
            raise RuntimeError(f"the load generator (pid {loadgen.proc.pid}) is still running")


def finish_load(loadgen: LoadGenerator, stop_ns: int) -> dict[str, int]:
    """Wait for the generator to stop by itself after ``stop_ns``; its ``done`` totals."""
    remaining_s = max(stop_ns - time.monotonic_ns(), 0) / 1e9
    if not loadgen.wait(remaining_s + 15.0):
        raise RuntimeError("the load generator did not report 'done' in time")
    return dict(loadgen.totals)


# -- measurements ------------------------------------------------------------------------


def redis_acked_calls(endpoint: Endpoint) -> int:
    """Successful SET + GET calls Redis has executed since its stats were last reset,
    read from ``INFO commandstats`` directly on the upstream port (not via the proxy)."""
    client = redis.Redis(endpoint.host, endpoint.port, socket_timeout=2.0)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    total = 0
    for name in ("cmdstat_set", "cmdstat_get"):
        entry = stats.get(name, {})
        total += (
            int(entry.get("calls", 0))
            - int(entry.get("failed_calls", 0))
            - int(entry.get("rejected_calls", 0))
        )
    return total


def redis_flush(endpoint: Endpoint) -> None:
    """Empty the dataset and reset the command stats (between benchmark rounds)."""
    client = redis.Redis(endpoint.host, endpoint.port, socket_timeout=10.0)
    try:
        client.flushall()
        client.config_resetstat()
    finally:
        client.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy, all cores, including time the
    hypervisor stole for other virtual machines."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq + t.steal)


@dataclass(frozen=True)
class Sample:
    """Redis acked calls, per-process and machine-wide CPU seconds at one instant."""

    t_ns: int
    acked: int
    cpu_s: dict[str, float]
    busy_s: float


def take_sample(endpoint: Endpoint | None, pids: dict[str, int]) -> Sample:
    """``acked`` is 0 without a Redis ``endpoint`` (the caller counts operations itself)."""
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    acked = redis_acked_calls(endpoint) if endpoint is not None else 0
    return Sample(time.monotonic_ns(), acked, cpu, busy_cpu_seconds())


@dataclass(frozen=True)
class SteadyWindow:
    """What happened between two samples taken while the load ran at full speed.

    ``other_cores`` is the machine's busy CPU not used by the measured processes (nor
    this benchmark process), in cores: how much the other tenants of the machine
    competed with the benchmark during the window.
    """

    seconds: float
    acked: int
    cpu_s: dict[str, float]
    other_cores: float

    @property
    def ops_per_s(self) -> float:
        return self.acked / self.seconds

    def ops_per_cpu_s(self, process: str) -> float:
        return self.acked / self.cpu_s[process] if self.cpu_s[process] > 0 else math.inf


def steady_window(
    endpoint: Endpoint | None, pids: dict[str, int], start_ns: int, end_ns: int
) -> SteadyWindow:
    """Sleep until ``start_ns``, sample, sleep until ``end_ns``, sample again. ``pids``
    names the processes whose CPU is reported; this process is counted as ours too.
    Without a Redis ``endpoint`` the window's ``acked`` is 0."""
    watched = dict(pids)
    if os.getpid() not in pids.values():
        watched["bench"] = os.getpid()
    sleep_until_ns(start_ns)
    first = take_sample(endpoint, watched)
    sleep_until_ns(end_ns)
    last = take_sample(endpoint, watched)
    seconds = (last.t_ns - first.t_ns) / 1e9
    cpu = {name: last.cpu_s[name] - first.cpu_s[name] for name in watched}
    other = (last.busy_s - first.busy_s) - sum(cpu.values())
    return SteadyWindow(
        seconds=seconds,
        acked=last.acked - first.acked,
        cpu_s={name: cpu[name] for name in pids},
        other_cores=max(other, 0.0) / seconds,
    )


class CpuMeter:
    """Machine-wide busy CPU minus the CPU of the given processes and of this one,
    between construction and ``other_cores()``: the other tenants' share, in cores."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = [*pids, os.getpid()]
        self.t0 = time.monotonic()
        self.busy0 = busy_cpu_seconds()
        self.own0 = sum(cpu_seconds(pid) for pid in self.pids)

    def other_cores(self) -> float:
        seconds = time.monotonic() - self.t0
        own = sum(cpu_seconds(pid) for pid in self.pids) - self.own0
        return max(busy_cpu_seconds() - self.busy0 - own, 0.0) / seconds


def sleep_until_ns(deadline_ns: int) -> None:
    time.sleep(max(deadline_ns - time.monotonic_ns(), 0) / 1e9)


# -- statistics --------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the smallest value with at least ``pct``% at or below)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


# -- report structure --------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One target from the issue and what this run measured against it."""

    metric: str
    target: str
    measured: str
    met: bool


@dataclass
class Section:
    """One benchmark's part of docs/benchmarks.md."""

    title: str
    checks: list[Check] = field(default_factory=list)
    body: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        return "\n".join([f"## {self.title}", "", *self.body]).rstrip() + "\n"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A markdown table as lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def ms(value_ns: float) -> str:
    """Nanoseconds as milliseconds with two decimals."""
    return f"{value_ns / 1e6:.2f}"
