"""The load split across several load-generator processes (``load.processes``).

One Python process saturates about one core; a CPU-bound load (many users doing small
Redis operations) needs more than one generator to use a second core. Each process
runs its share of the users: every stage of the profile is split the same way (users
as evenly as possible, spawn rate and paced rate in proportion), so the processes
together follow the profile the scenario asks for. A process whose share is 0 users
all along is not started.

Each process names its records' ``process`` field with a prefix of its own (``g1/``,
``g2/``, ...), so checkers that key on it (producers, subscribers, keys) see distinct
processes. With one process there is no prefix and the history is unchanged.

After the load, the harness writes one ``{op: "loadgen-done", generator, users, ok,
fail, info, records}`` per process with what that process says it wrote;
``generator_rows`` compares that with what the history holds, so records lost on the
way (a torn append, a process killed before its last flush) are an error, not a
silently smaller history.

This module imports neither locust nor anything that talks to a service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.profiles import Stage

MAX_PROCESSES = 64
# Workloads whose users share in-process state the others would need to see.
UNSPLITTABLE = {
    "s3.concurrent_access": "its shared pool's versions are known to one load generator",
}


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` integers that differ by at most 1, larger ones first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


@dataclass(frozen=True)
class Share:
    """One load generator's part of the load."""

    name: str  # g1, g2, ...
    prefix: str  # prepended to its records' process field; "" when it runs alone
    users: int
    spawn_rate: float
    stages: list[Stage] | None  # None: ``users`` all along


def _fraction(part: int, total: int, parts: int) -> float:
    # A stage at 0 users (a cooldown) still needs a stop rate: split it evenly.
    return part / total if total > 0 else 1.0 / parts


def _split_stages(stage_list: list[Stage], parts: int) -> list[list[Stage]]:
    out: list[list[Stage]] = [[] for _ in range(parts)]
    for stage in stage_list:
        for i, users in enumerate(split_evenly(stage.users, parts)):
            f = _fraction(users, stage.users, parts)
            rate = None if stage.rate is None else stage.rate * f
            out[i].append(Stage(stage.start_s, users, stage.spawn_rate * f, rate))
    return out


def shares(
    users: int, spawn_rate: float, processes: int, stage_list: list[Stage] | None
) -> list[Share]:
    """The shares of the processes that run (those with users at some point)."""
    if processes == 1:
        return [Share("g1", "", users, spawn_rate, stage_list)]
    per_stage = _split_stages(stage_list, processes) if stage_list else None
    out = []
    for i, part in enumerate(split_evenly(users, processes)):
        own = per_stage[i] if per_stage else None
        peak = max(s.users for s in own) if own else part
        if peak == 0:
            continue
        rate = spawn_rate * _fraction(part, users, processes)
        out.append(Share(f"g{i + 1}", f"g{i + 1}/", part, rate, own))
    return out


def split_problems(scenario: Any, at: Any) -> list[str]:
    """Cross-field checks of ``load.processes``, placed by ``at``."""
    load = scenario.load
    why = UNSPLITTABLE.get(load.workload)
    if load.processes > 1 and why is not None:
        return [
            at(
                ("load", "processes"),
                f"{load.workload} runs in one process ({why}): expected 1, got {load.processes}",
            )
        ]
    return []


def _owner(record: dict[str, Any], prefixes: dict[str, str]) -> str | None:
    name = record.get("generator")
    if name is not None:
        return str(name)
    process = record.get("process")
    if isinstance(process, str) and "/" in process:
        return prefixes.get(process.split("/", 1)[0] + "/")
    return None


def generator_rows(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Per load generator: its users, its totals and how many of the records it says it
    wrote the history holds; and an error for each generator whose records are not all
    there. Empty for a run with a single, unprefixed generator."""
    done = [r for r in records if r.get("op") == "loadgen-done" and r.get("prefix")]
    if not done:
        return [], []
    prefixes = {r["prefix"]: r["generator"] for r in done}
    found = dict.fromkeys(prefixes.values(), 0)
    peak = dict.fromkeys(prefixes.values(), 0)
    for rec in records:
        owner = None if rec.get("op") == "loadgen-done" else _owner(rec, prefixes)
        if owner in found:
            found[owner] += 1
            if rec.get("op") == "users":
                peak[owner] = max(peak[owner], rec["count"])
    rows, errors = [], []
    for r in done:
        name = r["generator"]
        row = {k: r.get(k) for k in ("generator", "users", "ok", "fail", "info")}
        row.update(peak_users=peak[name], records_written=r.get("records"), records=found[name])
        rows.append(row)
        if r.get("records") is not None and r["records"] != found[name]:
            errors.append(
                f"load generator {name} wrote {r['records']} history records, "
                f"the history holds {found[name]}"
            )
    return rows, errors
