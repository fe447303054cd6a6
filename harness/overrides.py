"""Durations and user counts overridden from the command line or the environment.

``harness chaos run FILE --duration 10m --users 50``, or ``HARNESS_DURATION`` and
``HARNESS_USERS``: the command line wins over the environment, which wins over the
file. An override is written into the scenario's data before validation, so it is
checked by the same rules, and a problem it causes names it instead of a file line.

* ``users`` sets ``load.users`` (the peak of every shape); for a capacity sweep it also
  scales ``steps`` so that the largest is the new count.
* ``duration`` sets ``duration``; for a sweep, whose length comes from its steps, it sets
  ``step_duration`` so that the steps and cooldowns fill the new duration.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.profiles import SWEEP_SHAPES
from harness.units import parse_duration

ENV_VARIABLES = {"duration": "HARNESS_DURATION", "users": "HARNESS_USERS"}
Loc = tuple[Any, ...]


@dataclass(frozen=True)
class Override:
    field: str  # duration | users
    value: str
    source: str  # --duration, HARNESS_USERS...

    @property
    def label(self) -> str:
        return (
            f"{self.source} {self.value}"
            if self.source.startswith("--")
            else (f"{self.source}={self.value}")
        )


def gather(duration: str | None, users: str | None, environ: Mapping[str, str]) -> list[Override]:
    """The overrides in force: each flag given, else its environment variable."""
    out = []
    for field, flag in (("duration", duration), ("users", users)):
        variable = ENV_VARIABLES[field]
        if flag is not None:
            out.append(Override(field, flag, f"--{field}"))
        elif environ.get(variable, "").strip():
            out.append(Override(field, environ[variable].strip(), variable))
    return out


@dataclass
class Applied:
    data: dict[str, Any]
    labels: dict[Loc, str]  # location in the scenario -> the override that set it
    problems: list[str]

    def label_for(self, loc: Loc) -> str | None:
        for where, label in self.labels.items():
            if loc[: len(where)] == where:
                return label
        return None


def apply(data: dict[str, Any], overrides: list[Override]) -> Applied:
    """``data`` (a scenario file's mapping) with the overrides written into it."""
    out = Applied({**data}, {}, [])
    load = out.data.get("load")
    if not isinstance(load, dict):
        return out
    load = out.data["load"] = {**load}
    profile = load.get("profile")
    if isinstance(profile, dict):
        profile = load["profile"] = {**profile}
    sweep = isinstance(profile, dict) and profile.get("shape") in SWEEP_SHAPES
    for override in overrides:
        if override.field == "users":
            _users(out, load, profile, override)
        elif sweep:
            assert isinstance(profile, dict)
            _sweep_duration(out, profile, override)
        else:
            out.data["duration"] = override.value
            out.labels[("duration",)] = override.label
    return out


def _users(out: Applied, load: dict[str, Any], profile: Any, override: Override) -> None:
    value = override.value
    if not value.isdigit():
        out.problems.append(f"{override.label}: expected a whole number of users, got {value!r}")
        return
    users = int(value)
    load["users"] = users
    out.labels[("load", "users")] = override.label
    steps = profile.get("steps") if isinstance(profile, dict) else None
    if isinstance(profile, dict) and profile.get("shape") == "capacity" and _ints(steps):
        assert isinstance(steps, list)
        scaled = [max(1, round(s * users / max(steps))) for s in steps]
        if any(b <= a for a, b in itertools.pairwise(scaled)):
            out.problems.append(
                f"{override.label}: the capacity steps {steps} scaled to end at {users} users "
                f"are {scaled}, which do not increase; ask for more users"
            )
            return
        profile["steps"] = scaled
        out.labels[("load", "profile", "steps")] = override.label


def _sweep_duration(out: Applied, profile: dict[str, Any], override: Override) -> None:
    try:
        total = parse_duration(override.value)
        cooldown = parse_duration(profile.get("cooldown", 0))
        settle = parse_duration(profile.get("settle", 1.0))
    except ValueError as exc:
        out.problems.append(f"{override.label}: {exc}")
        return
    values = profile.get("steps", profile.get("rates"))
    n = len(values) if isinstance(values, list) and values else 1
    step = (total - (n - 1) * cooldown) / n
    if step <= settle:
        least = n * settle + (n - 1) * cooldown
        out.problems.append(
            f"{override.label}: leaves each of the {n} steps {step:g}s after the cooldowns, "
            f"not longer than its settle time {settle:g}s; ask for more than {least:g}s"
        )
        return
    profile["step_duration"] = step
    out.data.pop("duration", None)  # the sweep's length follows from its steps again
    out.labels[("load", "profile", "step_duration")] = override.label
    out.labels[("duration",)] = override.label


def _ints(values: Any) -> bool:
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)
    )


def name_duration(problems: list[str], applied: Applied) -> list[str]:
    """Problems that compare something with the scenario's duration (a fault that no
    longer fits, a ramp longer than the run) say which override set the duration."""
    label = applied.labels.get(("duration",))
    if label is None:
        return problems
    return [
        f"{p} (duration set by {label})" if "the scenario's duration" in p else p for p in problems
    ]
