"""Warning and critical bands (``thresholds:``) and their verdicts.

Every metric is an upper bound: a value above ``warning`` is reported as a warning, a
value above ``critical`` fails the run (exit 1). The sweeps use the warning bands to
find the knee and the elbow (``harness/sweeps.py``); a sweep is meant to cross them,
so a sweep's run is judged per step there, not here.

Metrics, over the whole load:

* ``p95_ms``, ``p99_ms``: latency percentiles of acknowledged operations;
* ``error_rate``: (fail + info) / all operations;
* ``dropped_connections``: operations that failed because the connection was refused,
  reset, closed or timed out (not an error reply from the service);
* ``lost_messages``: the delivery check's ``lost`` (acknowledged, never received).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

LEVELS = ("ok", "warning", "critical")


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    warning: float | None = Field(None, ge=0, description="above this: reported")
    critical: float | None = Field(None, ge=0, description="above this: the run fails")

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.warning is None and self.critical is None:
            raise ValueError("expected warning, critical or both")
        if self.warning is not None and self.critical is not None and self.warning > self.critical:
            raise ValueError(
                f"warning ({self.warning:g}) must not be above critical ({self.critical:g})"
            )
        return self

    def level(self, observed: float) -> str:
        if self.critical is not None and observed > self.critical:
            return "critical"
        if self.warning is not None and observed > self.warning:
            return "warning"
        return "ok"


class ThresholdsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    p95_ms: Band | None = None
    p99_ms: Band | None = None
    error_rate: Band | None = None
    dropped_connections: Band | None = None
    lost_messages: Band | None = None

    def bands(self) -> dict[str, Band]:
        return {
            name: getattr(self, name) for name in type(self).model_fields if getattr(self, name)
        }

    def warnings(self) -> dict[str, float]:
        """The warning bound of every metric that has one."""
        return {n: b.warning for n, b in self.bands().items() if b.warning is not None}


# Exception class names (the history keeps ``Name: message``) of operations that never
# got an answer over their connection, as opposed to an error reply from the service.
_DROPPED = (
    "ConnectionError",
    "TimeoutError",
    "ConnectionResetError",
    "ConnectionRefusedError",
    "ConnectionAbortedError",
    "BrokenPipeError",
    "OSError",
    "ReadTimeoutError",
    "ConnectTimeoutError",
    "EndpointConnectionError",
    "ReadTimeout",
    "ConnectTimeout",
)


def is_dropped(error: str | None) -> bool:
    """True when an operation's recorded error means its connection failed."""
    return error is not None and error.split(":", 1)[0].strip() in _DROPPED


def evaluate(spec: ThresholdsSpec, observed: dict[str, float | None]) -> list[dict[str, Any]]:
    """One row per band: ``name``, ``warning``, ``critical``, ``observed`` and ``level``
    (``ok``, ``warning``, ``critical``, or ``no data`` when nothing was measured)."""
    rows = []
    for name, band in spec.bands().items():
        value = observed.get(name)
        rows.append(
            {
                "name": name,
                "warning": band.warning,
                "critical": band.critical,
                "observed": value,
                "level": "no data" if value is None else band.level(value),
            }
        )
    return rows


def run_thresholds(
    spec: ThresholdsSpec,
    workload: dict[str, Any],
    checks: dict[str, dict[str, Any]],
    records: list[dict[str, Any]],
    ops: set[str],
    sweep: bool,
) -> list[dict[str, Any]]:
    """The bands judged over the whole load. A sweep is meant to cross the latency and
    error-rate bands (its steps are judged in ``harness/sweeps.py``), so for a sweep only
    ``dropped_connections`` and ``lost_messages`` are judged here."""
    if not spec.bands():
        return []
    observed: dict[str, float | None] = {
        "dropped_connections": float(
            sum(1 for r in records if r.get("op") in ops and is_dropped(r.get("error")))
        ),
        "lost_messages": checks.get("delivery", {}).get("lost"),
    }
    if not sweep:
        observed["p95_ms"] = workload["p95_ms"]
        observed["p99_ms"] = workload["p99_ms"]
        ops_n = workload["ops"]
        observed["error_rate"] = (
            round((workload["fail"] + workload["info"]) / ops_n, 6) if ops_n else None
        )
    kept = spec.model_copy(
        update={} if not sweep else {"p95_ms": None, "p99_ms": None, "error_rate": None}
    )
    return evaluate(kept, observed)
