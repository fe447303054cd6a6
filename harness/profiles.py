"""Load profiles: how many users run (and, for throughput sweeps, at what pace) over time.

``load.profile`` picks a shape; every shape becomes a list of ``Stage``s (from a time
on: so many users, spawned or stopped at a rate, and optionally a paced operation
rate), which the load generator follows with a Locust ``LoadTestShape``
(``harness/workloads/shapes.py``) and which the sweep analysis cuts the history by.

* ``sustained`` (the default): ``load.users`` from the start, for the whole run.
* ``ramp_up``: 0 -> ``load.users`` linearly over ``ramp``, then hold.
* ``spike``: ``base_users``; at ``at`` a jump to ``load.users`` (spawned at
  ``spawn_rate``) for ``for``; back to ``base_users``.
* ``soak``: like ``ramp_up`` (its ramp defaults to 30 s), meant for long runs.
* ``capacity``: ``steps`` of user counts, ``step_duration`` each, with ``cooldown`` at
  0 users between steps; the run lasts as long as the steps.
* ``throughput``: ``load.users`` all along; the paced operations (``redis.kv`` every
  operation, ``redis.streams`` the producers' sends) are held to ``rates`` per second,
  a step each, with ``cooldown`` at rate 0 between steps.

This module imports neither locust nor anything that talks to a service.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from harness.units import Duration, format_duration

SWEEP_SPAWN_RATE = 100.0  # users per second: a step is reached well inside its settle time


class _Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SustainedProfile(_Profile):
    shape: Literal["sustained"]


class RampUpProfile(_Profile):
    shape: Literal["ramp_up"]
    ramp: Duration = Field(10.0, gt=0, description="time from 0 to load.users")


class SoakProfile(_Profile):
    shape: Literal["soak"]
    ramp: Duration = Field(30.0, gt=0, description="time from 0 to load.users")


class SpikeProfile(_Profile):
    shape: Literal["spike"]
    base_users: int = Field(ge=0, le=10_000, description="users before and after the spike")
    at: Duration = Field(gt=0, description="when the spike starts")
    for_: Duration = Field(alias="for", gt=0, description="how long the spike lasts")
    spawn_rate: float = Field(
        SWEEP_SPAWN_RATE, gt=0, le=10_000, description="users per second into the spike"
    )


class _Sweep(_Profile):
    step_duration: Duration = Field(10.0, gt=0, description="how long each step runs")
    cooldown: Duration = Field(0.0, ge=0, description="pause between steps")
    settle: Duration = Field(1.0, ge=0, description="start of each step left out of its stats")

    @model_validator(mode="after")
    def _settle_fits(self) -> _Sweep:
        if self.settle >= self.step_duration:
            raise ValueError(
                f"settle ({format_duration(self.settle)}) must be shorter than step_duration "
                f"({format_duration(self.step_duration)})"
            )
        return self

    def step_values(self) -> list[float]:
        raise NotImplementedError

    @property
    def length_s(self) -> float:
        n = len(self.step_values())
        return n * self.step_duration + (n - 1) * self.cooldown

    def step_spans(self) -> list[tuple[float, float]]:
        """(start_s, end_s) of every step from the load's start."""
        period = self.step_duration + self.cooldown
        return [
            (i * period, i * period + self.step_duration) for i in range(len(self.step_values()))
        ]


def _increasing(values: list[Any], what: str) -> None:
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError(f"{what} must increase from step to step, got {values}")


class CapacityProfile(_Sweep):
    shape: Literal["capacity"]
    steps: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(
        min_length=1, max_length=100, description="user counts, one per step"
    )
    spawn_rate: float = Field(SWEEP_SPAWN_RATE, gt=0, le=10_000, description="users per second")

    @model_validator(mode="after")
    def _steps_increase(self) -> CapacityProfile:
        _increasing(self.steps, "steps")
        return self

    def step_values(self) -> list[float]:
        return [float(s) for s in self.steps]


class ThroughputProfile(_Sweep):
    shape: Literal["throughput"]
    rates: list[Annotated[float, Field(gt=0, le=1_000_000)]] = Field(
        min_length=1, max_length=100, description="paced operations per second, one per step"
    )

    @model_validator(mode="after")
    def _rates_increase(self) -> ThroughputProfile:
        _increasing(self.rates, "rates")
        return self

    def step_values(self) -> list[float]:
        return list(self.rates)


PROFILE_MODELS: dict[str, type[_Profile]] = {
    "sustained": SustainedProfile,
    "ramp_up": RampUpProfile,
    "soak": SoakProfile,
    "spike": SpikeProfile,
    "capacity": CapacityProfile,
    "throughput": ThroughputProfile,
}


def _shape_tag(value: Any) -> str | None:
    shape = value.get("shape") if isinstance(value, dict) else getattr(value, "shape", None)
    return f"shape={shape}" if shape in PROFILE_MODELS else None


# Error locations carry the tag `shape=...` (left out of messages).
Profile = Annotated[
    Annotated[SustainedProfile, Tag("shape=sustained")]
    | Annotated[RampUpProfile, Tag("shape=ramp_up")]
    | Annotated[SoakProfile, Tag("shape=soak")]
    | Annotated[SpikeProfile, Tag("shape=spike")]
    | Annotated[CapacityProfile, Tag("shape=capacity")]
    | Annotated[ThroughputProfile, Tag("shape=throughput")],
    Discriminator(
        _shape_tag,
        custom_error_type="profile_shape",
        custom_error_message="expected shape: "
        + ", ".join(["sustained", "ramp_up", "spike", "soak", "capacity", "throughput"]),
    ),
]
SWEEPS = (CapacityProfile, ThroughputProfile)
SWEEP_SHAPES = ("capacity", "throughput")
# Workloads whose operations a throughput sweep can pace, and which of their operations.
PACED_OPS = {"redis.kv": ("set", "get"), "redis.streams": ("send",)}


@dataclass(frozen=True)
class Stage:
    """From ``start_s`` on: ``users`` users (spawned or stopped at ``spawn_rate`` per
    second) and, when ``rate`` is set, the paced operations held to that many per second."""

    start_s: float
    users: int
    spawn_rate: float
    rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def stages(profile: Any, users: int, spawn_rate: float) -> list[Stage]:
    """The stages of ``profile`` (``None`` is ``sustained``) for ``load.users`` and
    ``load.spawn_rate``."""
    if profile is None or isinstance(profile, SustainedProfile):
        return [Stage(0.0, users, spawn_rate)]
    if isinstance(profile, RampUpProfile | SoakProfile):
        return [Stage(0.0, users, users / profile.ramp)]
    if isinstance(profile, SpikeProfile):
        return [
            Stage(0.0, profile.base_users, spawn_rate),
            Stage(profile.at, users, profile.spawn_rate),
            Stage(profile.at + profile.for_, profile.base_users, profile.spawn_rate),
        ]
    out: list[Stage] = []
    for (start, end), value in zip(profile.step_spans(), profile.step_values(), strict=True):
        if isinstance(profile, CapacityProfile):
            out.append(Stage(start, int(value), profile.spawn_rate))
            if profile.cooldown > 0:
                out.append(Stage(end, 0, profile.spawn_rate))
        else:
            out.append(Stage(start, users, spawn_rate, value))
            if profile.cooldown > 0:
                out.append(Stage(end, users, spawn_rate, 0.0))
    if profile.cooldown > 0:
        out.pop()  # no cooldown after the last step: the run ends there
    return out


def expected_users(stage_list: list[Stage], t_s: float) -> int:
    """The user count the stages ask for at ``t_s`` (once spawning has caught up)."""
    current = 0
    for stage in stage_list:
        if stage.start_s <= t_s:
            current = stage.users
    return current


def profile_problems(scenario: Any, at: Any) -> list[str]:
    """Cross-field checks of ``load.profile`` against the scenario, placed by ``at``."""
    profile = scenario.load.profile
    here = ("load", "profile")
    problems: list[str] = []
    if isinstance(profile, RampUpProfile | SoakProfile) and profile.ramp > scenario.duration:
        problems.append(
            at(
                (*here, "ramp"),
                f"the ramp ({format_duration(profile.ramp)}) is longer than "
                f"the scenario's duration {format_duration(scenario.duration)}",
            )
        )
    if isinstance(profile, SpikeProfile):
        end = profile.at + profile.for_
        if end > scenario.duration:
            problems.append(
                at(
                    (*here, "at"),
                    f"the spike ends at {format_duration(end)}, after the "
                    f"scenario's duration {format_duration(scenario.duration)}",
                )
            )
        if profile.base_users >= scenario.load.users:
            problems.append(
                at(
                    (*here, "base_users"),
                    f"expected fewer than load.users "
                    f"({scenario.load.users}, the spike's height), got {profile.base_users}",
                )
            )
    if isinstance(profile, SWEEPS):
        problems += _sweep_problems(scenario, profile, at)
    return problems


def _sweep_problems(
    scenario: Any, profile: CapacityProfile | ThroughputProfile, at: Any
) -> list[str]:
    problems = []
    here = ("load", "profile")
    if abs(scenario.duration - profile.length_s) > 1e-6:
        problems.append(
            at(
                ("duration",),
                f"a {profile.shape} sweep lasts its steps and cooldowns, "
                f"{format_duration(profile.length_s)}; leave duration out or set it to that, "
                f"got {format_duration(scenario.duration)}",
            )
        )
    warning = scenario.thresholds.warnings()
    if not {"p95_ms", "p99_ms", "error_rate"} & set(warning):
        problems.append(
            at(
                here,
                f"a {profile.shape} sweep needs a warning threshold for p95_ms, p99_ms "
                "or error_rate (thresholds: {p95_ms: {warning: 50}}): it defines the "
                + ("knee" if profile.shape == "capacity" else "elbow"),
            )
        )
    if isinstance(profile, ThroughputProfile) and scenario.load.workload not in PACED_OPS:
        problems.append(
            at(
                (*here, "shape"),
                f"a throughput sweep paces {' or '.join(PACED_OPS)}, not {scenario.load.workload}",
            )
        )
    return problems


def sweep_duration(raw_profile: Any) -> float | None:
    """The length of a sweep written in a scenario file (unvalidated data), or ``None``
    when it is not a valid sweep (its own errors are reported by validation)."""
    if not isinstance(raw_profile, dict) or raw_profile.get("shape") not in (
        "capacity",
        "throughput",
    ):
        return None
    model = CapacityProfile if raw_profile["shape"] == "capacity" else ThroughputProfile
    try:
        return model.model_validate(raw_profile).length_s
    except ValueError:
        return None


def describe(profile: Any, users: int, spawn_rate: float) -> list[str]:
    """The profile in words for ``--dry-run``: one line per stage."""
    name = "sustained" if profile is None else profile.shape
    lines = [f"profile: {name}"]
    for stage in stages(profile, users, spawn_rate):
        pace = "" if stage.rate is None else f", paced to {stage.rate:g} ops/s"
        lines.append(
            f"  from {stage.start_s:g}s: {stage.users} users (at {stage.spawn_rate:g}/s){pace}"
        )
    return lines
