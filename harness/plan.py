"""``--dry-run``: the plan of a run in words, and the checks that can fail before a start."""

from __future__ import annotations

from harness.scenario import Scenario
from harness.timeline import build_events


def render_plan(scenario: Scenario) -> str:
    phase = scenario.phases()[0]
    lines = [f"scenario {scenario.name}: {scenario.duration:g}s on the {scenario.lab.backend} lab"]
    lines.append("lab:")
    lines.append("  toxiproxy-server on a free 127.0.0.1 port")
    for name, svc in scenario.lab.services.items():
        lines.append(
            f"  {name}: redis-server (durability {svc.durability}), "
            f"clients through Toxiproxy proxy '{name}'"
        )
    load = phase.load
    lines.append(
        f"load: {load.workload} on {load.target}, {load.users} users "
        f"(spawn {load.spawn_rate:g}/s), params {scenario.workload_params().model_dump()}"
    )
    lines.append("timeline:")
    lines.append(f"  {0:7.2f}s  load starts")
    for event in build_events(phase.faults, 0):
        pf = event.fault
        verb = "apply " if event.action == "apply" else "revert"
        params = pf.params.model_dump() if event.action == "apply" else {}
        lines.append(
            f"  {event.at_ns / 1e9:7.2f}s  {verb} {pf.kind} -> {', '.join(pf.targets)} "
            f"[{pf.fault_id}]" + (f" {params}" if params else "")
        )
    lines.append(f"  {scenario.duration:7.2f}s  load stops; faults healed; checks; lab down")
    checks = [n for n, c in scenario.checks.model_dump().items() if c is not None]
    lines.append(f"checks: {', '.join(checks) or 'none'}")
    lines.append(f"total duration: {scenario.duration:g}s of load (plus lab start and checks)")
    return "\n".join(lines)


def preflight(scenario: Scenario) -> None:
    """Raise ``LabError`` (exit 3) if the lab could not start on this machine."""
    from harness.lab.local import find_redis_server, find_toxiproxy_server

    find_toxiproxy_server()
    if scenario.lab.services:
        find_redis_server()
