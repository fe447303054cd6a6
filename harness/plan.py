"""``--dry-run``: the plan of a run in words, and the checks that can fail before a start."""

from __future__ import annotations

from harness.errors import LabError
from harness.lab.external import ENDPOINT_VARIABLES, FROM_ENV
from harness.lab.s3 import CREDENTIAL_VARIABLES
from harness.loadsplit import shares
from harness.profiles import describe
from harness.scenario import (
    HttpServiceSpec,
    RedisServiceSpec,
    Scenario,
    ServiceSpec,
    is_external,
)
from harness.timeline import build_events
from harness.units import format_size


def render_plan(scenario: Scenario) -> str:
    phase = scenario.phases()[0]
    lines = [f"scenario {scenario.name}: {scenario.duration:g}s on the {scenario.lab.backend} lab"]
    lines.append("lab:")
    lines.append("  toxiproxy-server on a free 127.0.0.1 port")
    for name, svc in scenario.lab.services.items():
        if is_external(svc):
            lines.append(f"  {name}: {_external_words(name, svc)}")
            continue
        if isinstance(svc, HttpServiceSpec):
            what = f"reference HTTP app (stream {svc.stream} on redis service '{svc.redis}')"
        elif isinstance(svc, RedisServiceSpec):
            what = f"redis-server (durability {svc.durability})"
        else:
            what = f"versitygw S3 server (posix backend, bucket {svc.bucket})"
        lines.append(
            f"  {name}: {what}{_disk_words(svc)}, clients through Toxiproxy proxy '{name}'"
        )
    load = phase.load
    lines.append(
        f"load: {load.workload} on {load.target}, {load.users} users "
        f"(spawn {load.spawn_rate:g}/s), params {scenario.workload_params().model_dump()}"
    )
    lines += describe(load.profile, load.users, load.spawn_rate)
    if load.processes > 1:
        split = shares(load.users, load.spawn_rate, load.processes, None)
        lines.append(
            f"load generators: {len(split)} processes ("
            + ", ".join(f"{s.name} {s.users} users" for s in split)
            + ")"
        )
    bands = scenario.thresholds.bands()
    if bands:
        lines.append(
            "thresholds: "
            + "; ".join(
                f"{n} warning {b.warning if b.warning is not None else '-'}, "
                f"critical {b.critical if b.critical is not None else '-'}"
                for n, b in bands.items()
            )
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


def _external_words(name: str, svc: ServiceSpec) -> str:
    assert is_external(svc)
    proxied = f"through Toxiproxy proxy '{name}'"
    if svc.endpoint == FROM_ENV:
        where = f"at the URL in {' or '.join(ENDPOINT_VARIABLES)}"
        reached = f"{proxied} (http) or directly (https)"
    elif svc.endpoint.startswith("https:"):
        where, reached = f"at {svc.endpoint}", "directly (https: no proxy, no network faults)"
    else:
        where, reached = f"at {svc.endpoint}", proxied
    keys = "the scenario" if svc.credentials else " / ".join(CREDENTIAL_VARIABLES)
    return (
        f"external S3 server {where} (not started by the lab; bucket {svc.bucket}, "
        f"credentials from {keys}), clients {reached}"
    )


def _disk_words(svc: ServiceSpec) -> str:
    if svc.disk is None:
        return ""
    how = "loop-mounted ext4" if svc.disk.fs == "ext4" else "tmpfs"
    fiu = " under fiu-run -x" if svc.disk.io_errors else ""
    return f" on its own {format_size(svc.disk.size)} {how}{fiu}"


def preflight(scenario: Scenario, allow_external: bool = False) -> None:
    """Raise ``LabError`` (exit 3) if the lab could not start on this machine or a fault
    could not be applied there: everything missing at once, each with how to get it.
    First, an external server not on loopback without ``allow_external`` (the user's
    ``--allow-external``) is ``InvalidInput`` (exit 2)."""
    from faults.base import get_kind
    from harness.lab import disk, fiu
    from harness.lab.local import external_endpoints, find_service_binaries, find_toxiproxy_server

    external_endpoints(dict(scenario.lab.services), allow_external)
    find_toxiproxy_server()
    find_service_binaries(dict(scenario.lab.services))
    missing = []
    for name, svc in scenario.lab.services.items():
        if svc.disk is not None:
            needs = disk.missing(svc.disk) + (fiu.missing() if svc.disk.io_errors else [])
            missing += [f"service '{name}' (its disk: block) needs {need}" for need in needs]
    for kind_name in sorted({entry.fault for entry in scenario.timeline}):
        kind = get_kind(kind_name)
        missing += [f"{kind_name} needs {need}" for need in (kind.unmet_needs() if kind else [])]
    if missing:
        raise LabError("this machine lacks what the scenario needs:\n  " + "\n  ".join(missing))
