"""Resource sampling of the lab's processes while the load runs: RSS and CPU per service.

A ``ResourceSampler`` is a daemon thread of the harness that, about once a second, asks a
``ResourceProbe`` for one ``ResourceSample`` per service and appends each to the history
as ``{op: "resources", t, service, pid, rss_bytes, cpu_percent}``. The soak analysis
(``harness/checks/trends.py``) and ``resources.csv`` are then functions of the history.

Why a thread and not a call from the schedule's tick: the tick runs in the main thread,
so a sample taken just before a planned fault would delay that fault by its whole cost,
and ticks stop while a slow action runs (a process restart blocks for hundreds of
milliseconds), which is exactly when a sample is interesting. A sample is a handful of
``/proc`` reads, each releasing the GIL, so the main thread waits at most for a few
microseconds of Python between them (``bench/resources.py`` measures both).

``ProcessProbe`` reads local processes with psutil; CPU percent is the delta of the
process's user+system CPU time over the delta of wall time since its previous sample (one
core = 100). A service restarted by a fault has a new pid (and start time): the probe
follows the lab's ``ManagedProcess`` to it and starts its CPU deltas afresh. A compose
lab will provide another probe (docker stats) with the same ``read`` method.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil

from harness.history import HistoryWriter
from harness.lab.procs import ManagedProcess

SAMPLE_INTERVAL_S = 1.0
RESOURCES_CSV = "resources.csv"
# A process is identified by its pid and its start time, so a reused pid is not followed.
Identity = tuple[int, float | None]


@dataclass(frozen=True)
class ResourceSample:
    t_ns: int
    service: str
    pid: int
    rss_bytes: int
    cpu_percent: float | None  # None for a process's first sample: no delta yet

    def to_record(self) -> dict[str, Any]:
        cpu = None if self.cpu_percent is None else round(self.cpu_percent, 2)
        return {
            "op": "resources",
            "t": self.t_ns,
            "service": self.service,
            "pid": self.pid,
            "rss_bytes": self.rss_bytes,
            "cpu_percent": cpu,
        }


class ResourceProbe(Protocol):
    """Reads one sample per service; what a lab backend provides to the sampler."""

    def read(self) -> list[ResourceSample]: ...


@dataclass
class _Tracked:
    identity: Identity
    proc: psutil.Process
    cpu_s: float
    t_ns: int


class ProcessProbe:
    """Samples local processes; ``targets()`` names each service's current process."""

    def __init__(self, targets: Callable[[], dict[str, Identity | None]]) -> None:
        self._targets = targets
        self._tracked: dict[str, _Tracked] = {}

    def read(self) -> list[ResourceSample]:
        out = []
        for service, identity in self._targets().items():
            sample = None if identity is None else self._sample(service, identity)
            if sample is None:
                self._tracked.pop(service, None)
            else:
                out.append(sample)
        return out

    def _sample(self, service: str, identity: Identity) -> ResourceSample | None:
        tracked = self._tracked.get(service)
        try:
            if tracked is None or tracked.identity != identity:
                proc = psutil.Process(identity[0])
                if identity[1] is not None and abs(proc.create_time() - identity[1]) > 0.01:
                    return None  # the pid now belongs to another process
                tracked = None
            else:
                proc = tracked.proc
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    return None  # exited, not yet reaped: its memory is gone
                times = proc.cpu_times()
                rss = proc.memory_info().rss
        except psutil.Error:
            return None
        now = time.monotonic_ns()
        cpu_s = times.user + times.system
        cpu = None
        if tracked is not None and now > tracked.t_ns:
            cpu = 100.0 * (cpu_s - tracked.cpu_s) / ((now - tracked.t_ns) / 1e9)
        self._tracked[service] = _Tracked(identity, proc, cpu_s, now)
        return ResourceSample(now, service, identity[0], rss, cpu)


def lab_targets(
    processes: dict[str, ManagedProcess], toxiproxy: ManagedProcess | None
) -> Callable[[], dict[str, Identity | None]]:
    """Each service's process as the lab knows it now (a restart replaces its pid in the
    same ``ManagedProcess``), plus the Toxiproxy server as ``toxiproxy``."""
    named = dict(processes)
    if toxiproxy is not None:
        named.setdefault("toxiproxy", toxiproxy)

    def current() -> dict[str, Identity | None]:
        # create_time is read before pid: a restart sets pid first, so a torn read gives
        # a mismatched start time, which the probe skips, never another process's figures.
        out: dict[str, Identity | None] = {}
        for name, proc in named.items():
            created = proc.create_time
            pid = proc.pid
            out[name] = None if pid is None else (pid, created)
        return out

    return current


class ResourceSampler:
    """A daemon thread writing a probe's samples to the history every ``interval_s``."""

    def __init__(
        self, probe: ResourceProbe, history: HistoryWriter, interval_s: float = SAMPLE_INTERVAL_S
    ) -> None:
        self.probe = probe
        self.history = history
        self.interval_s = interval_s
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread (idempotent); afterwards nothing more is written."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        next_ns = time.monotonic_ns()
        while not self._stop.is_set():
            try:
                for sample in self.probe.read():
                    self.history.write(sample.to_record())
            except Exception as exc:  # a sampler problem must never end the run
                self.errors.append(f"resource sampling failed: {type(exc).__name__}: {exc}")
                return
            # Aimed at a fixed cadence, so the samples' spacing does not drift with their cost.
            next_ns += int(self.interval_s * 1e9)
            self._stop.wait(max(next_ns - time.monotonic_ns(), 0) / 1e9)


def resource_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("op") == "resources"]


def write_resources_csv(path: Path, samples: list[dict[str, Any]], t0_ns: int) -> None:
    """``t_s`` (from the start of the load), ``service``, ``pid``, ``rss_mb``, ``cpu_percent``."""
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["t_s", "service", "pid", "rss_mb", "cpu_percent"])
        for r in samples:
            cpu = r.get("cpu_percent")
            out.writerow(
                [
                    f"{(r['t'] - t0_ns) / 1e9:.3f}",
                    r["service"],
                    r["pid"],
                    f"{r['rss_bytes'] / 1e6:.3f}",
                    "" if cpu is None else f"{cpu:.1f}",
                ]
            )
