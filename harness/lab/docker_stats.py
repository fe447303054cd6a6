"""Resource samples of the compose lab's containers: docker stats, as the sampler wants.

``DockerStatsProbe.read`` asks the engine for one stats snapshot per container
(``one_shot``: no second sample inside the engine, so a call costs milliseconds rather
than a second) and turns it into the same ``ResourceSample`` the local lab's process
probe gives: memory in use without the page cache (what ``docker stats`` shows), and
CPU percent from the container's CPU time between two of our own samples (one core =
100). A restarted container starts its CPU deltas afresh.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from harness.resources import ResourceSample

if TYPE_CHECKING:
    from docker.models.containers import Container


def memory_in_use(stats: dict[str, Any]) -> int:
    """Usage less the page cache: cgroup v1 ``total_inactive_file``/``cache``, v2
    ``inactive_file``."""
    memory = stats.get("memory_stats") or {}
    usage = int(memory.get("usage") or 0)
    detail = memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file", "cache"):
        if key in detail:
            return max(usage - int(detail[key]), 0)
    return usage


class DockerStatsProbe:
    """Samples containers; ``containers()`` names each service's container now."""

    def __init__(self, containers: Callable[[], dict[str, Container]]) -> None:
        self._containers = containers
        # Per service: (container start time, CPU ns, sample time ns) of the last sample.
        self._last: dict[str, tuple[str, int, int]] = {}

    def read(self) -> list[ResourceSample]:
        out = []
        for service, container in self._containers().items():
            sample = None
            with contextlib.suppress(Exception):  # gone between listing and asking
                sample = self._sample(service, container)
            if sample is None:
                self._last.pop(service, None)
            else:
                out.append(sample)
        return out

    def _sample(self, service: str, container: Container) -> ResourceSample | None:
        stats = cast("dict[str, Any]", container.stats(stream=False, one_shot=True))
        t_ns = time.monotonic_ns()
        state = container.attrs.get("State", {})
        pid = int(state.get("Pid") or 0)
        if not pid:
            return None
        started = str(state.get("StartedAt"))
        cpu_ns = int(((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage", 0))
        cpu_percent = None
        last = self._last.get(service)
        if last is not None and last[0] == started and t_ns > last[2]:
            cpu_percent = max(cpu_ns - last[1], 0) / (t_ns - last[2]) * 100.0
        self._last[service] = (started, cpu_ns, t_ns)
        return ResourceSample(t_ns, service, pid, memory_in_use(stats), cpu_percent)
