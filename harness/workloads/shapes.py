"""The Locust side of load profiles (``harness/profiles.py``): a ``LoadTestShape`` that
follows the stages, and a pacer that holds paced operations to a stage's rate.

Imported only by the load generator, after locust. The shape is driven by Locust's own
shape worker (``runner.start_shape()``), which asks it for (users, spawn rate) once a
second, so a stage takes effect within a second of its start; the analysis leaves each
step's first ``settle`` out for that reason (and for the spawning itself).
"""

from __future__ import annotations

import time
from typing import Any

from locust import LoadTestShape, User


def _stage_at(stages: list[dict[str, Any]], t_s: float) -> int:
    index = 0
    for i, stage in enumerate(stages):
        if stage["start_s"] <= t_s:
            index = i
    return index


class StageShape(LoadTestShape):
    """Users and spawn rate of the stage the load is in, timed from ``t0_ns`` (the
    moment the harness started the load, on the shared monotonic clock)."""

    def __init__(self, stages: list[dict[str, Any]]) -> None:
        super().__init__()
        self.stages = stages
        self.t0_ns = time.monotonic_ns()

    def get_run_time(self) -> float:
        return (time.monotonic_ns() - self.t0_ns) / 1e9

    def tick(self) -> tuple[int, float]:
        stage = self.stages[_stage_at(self.stages, self.get_run_time())]
        return int(stage["users"]), float(stage["spawn_rate"])


class Pacer:
    """Hands out start times for paced operations, one every 1/rate seconds across all
    users, following the stages' rates. A user that falls behind does not earn a burst
    later: a slot is never earlier than now. During a stage at rate 0 (a cooldown) the
    next slot is the start of the next paced stage."""

    def __init__(self, stages: list[dict[str, Any]], t0_ns: int) -> None:
        self.starts_ns = [t0_ns + int(s["start_s"] * 1e9) for s in stages]
        self.rates = [float(s.get("rate") or 0.0) for s in stages]
        self.next_ns = t0_ns

    def _rate_at(self, t_ns: int) -> tuple[float, int | None]:
        """The rate at ``t_ns`` and when the next stage starts (None: none does)."""
        index = 0
        for i, start in enumerate(self.starts_ns):
            if start <= t_ns:
                index = i
        later = self.starts_ns[index + 1] if index + 1 < len(self.starts_ns) else None
        return self.rates[index], later

    def delay(self) -> float:
        now = time.monotonic_ns()
        slot = max(self.next_ns, now)
        rate, later = self._rate_at(slot)
        while rate <= 0:
            if later is None:
                return 1.0  # nothing paced is left; the load ends on its own
            slot = later
            rate, later = self._rate_at(slot)
        self.next_ns = slot + int(1e9 / rate)
        return (slot - now) / 1e9


def pace(user_classes: list[type[User]], paced: list[type[User]], pacer: Pacer) -> None:
    """Make the ``paced`` classes wait for the pacer between tasks instead of their own
    ``wait_time``."""
    for cls in user_classes:
        if any(issubclass(cls, p) for p in paced):

            def paced_wait(user: User) -> float:
                return pacer.delay()

            cls.wait_time = paced_wait
