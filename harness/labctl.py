"""A lab that outlives a run, and faults applied to it by hand.

``harness lab up`` starts a persistent local lab and writes ``lab.json`` (its pids,
ports and paths) in the state directory; ``lab status`` and ``lab down`` read it back.
Ad-hoc faults (``harness fault apply``) are journaled like a run's, marked ``adhoc``:
they stay until ``harness fault revert``, ``lab down``, or their ``--for`` expiry, which
the watchdog enforces even though the command that applied them has exited.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from faults.base import Fault, FaultTarget, get_kind, kinds
from harness.errors import EnvironmentProblem, FaultError, InvalidInput
from harness.heal import HealReport, fault_id, heal, lab_running
from harness.journal import Journal
from harness.lab.backends import AnyLab, lab_from_record, make_lab, new_lab_id
from harness.lab.local import service_ready
from harness.lab.s3 import tcp_open
from harness.scenario import EXCLUSIVE, ServiceSpec, explain_errors
from harness.units import format_duration

STATE_FILE = "lab.json"
ADHOC_PREFIX = "adhoc/"


def state_path(journal: Journal) -> Path:
    return journal.path.parent / STATE_FILE


def _read_state(journal: Journal) -> dict[str, Any] | None:
    try:
        data = json.loads(state_path(journal).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        path = state_path(journal)
        raise EnvironmentProblem(f"cannot read the lab state {path}: {exc}") from None
    return data if isinstance(data, dict) else None


def current_lab(journal: Journal) -> AnyLab | None:
    """The running persistent lab, or ``None`` if none is up (or it died)."""
    record = _read_state(journal)
    if record is None:
        return None
    journaled = journal.state().labs.get(record.get("lab_id", ""))
    if journaled is None or not lab_running(journaled):
        return None
    return lab_from_record(journaled["lab"], journal)


def require_lab(journal: Journal) -> AnyLab:
    lab = current_lab(journal)
    if lab is None:
        raise EnvironmentProblem("no lab is up: start one with `harness lab up`")
    return lab


# -- lab up / down / status ---------------------------------------------------------------


@dataclass
class LabUp:
    lab: AnyLab
    started: bool
    healed: HealReport


def lab_up(
    journal: Journal,
    services: dict[str, ServiceSpec],
    allow_external: bool = False,
    backend: str = "local",
) -> LabUp:
    """Heal what earlier runs left, then start the persistent lab (or return the one
    already up). External servers off loopback need ``allow_external``."""
    healed = heal(journal)
    existing = current_lab(journal)
    if existing is not None:
        return LabUp(existing, False, healed)
    _forget_dead_lab(journal)
    lab_id = new_lab_id(backend)
    lab = make_lab(
        backend,
        journal.path.parent / "labs" / lab_id,
        services,
        journal,
        persistent=True,
        lab_id=lab_id,
        allow_external=allow_external,
    )
    lab.state_file = state_path(journal)
    lab.up()
    return LabUp(lab, True, healed)


def _forget_dead_lab(journal: Journal) -> None:
    """A lab whose processes died (a reboot, a kill) is cleaned out of the state."""
    record = _read_state(journal)
    if record is None:
        return
    journaled = journal.state().labs.get(record.get("lab_id", ""))
    lab = lab_from_record(journaled["lab"], journal) if journaled is not None else None
    if lab is not None:
        lab.down()  # stops whatever survived; journals lab-down
        heal(journal, lab_id=lab.lab_id, include_live=True, stop_orphan_labs=False)
    state_path(journal).unlink(missing_ok=True)


def lab_down(journal: Journal, keep_data: bool = False) -> tuple[str | None, HealReport]:
    """Revert every fault on the lab, stop it and forget it. ``(None, ...)`` if no lab."""
    record = _read_state(journal)
    if record is None:
        return None, HealReport()
    lab_id = str(record.get("lab_id"))
    report = heal(journal, lab_id=lab_id, include_live=True, stop_orphan_labs=False)
    if report.failed:
        return lab_id, report  # leave it up: the faults are still recorded for a retry
    _forget_dead_lab(journal)
    if not keep_data:
        shutil.rmtree(record["root"], ignore_errors=True)
    return lab_id, report


def lab_status(journal: Journal) -> dict[str, Any] | None:
    """What is running: per service its process, proxy, toxics and a PING through the
    proxy; and the active faults."""
    record = _read_state(journal)
    if record is None:
        return None
    lab = current_lab(journal)
    status: dict[str, Any] = {
        "lab_id": record.get("lab_id"),
        "root": record.get("root"),
        "state_file": str(state_path(journal)),
        "up": lab is not None,
        "toxiproxy": record.get("toxiproxy"),
        "services": {},
        "faults": list_faults(journal),
    }
    if lab is None:
        return status
    for name, svc in lab.services.items():
        server = svc.options.get("external")
        entry: dict[str, Any] = {
            "kind": svc.kind,
            "client": str(svc.client),
            "upstream": str(svc.upstream),
            "external": server,
            "process": f"external {server}" if server else _process_state(lab, name),
        }
        if svc.proxy:
            try:
                assert lab.toxiproxy is not None
                proxy = lab.toxiproxy.get_proxy(svc.proxy)
                entry["proxy_enabled"] = proxy.enabled
                entry["toxics"] = [t.name for t in proxy.toxics]
            except Exception as exc:
                entry["proxy_error"] = f"{type(exc).__name__}: {exc}"
        entry["ping_ms"] = _ping_ms(svc.kind, svc.client.host, svc.client.port, tls=not svc.proxy)
        status["services"][name] = entry
    return status


def lab_logs(journal: Journal, service: str | None, tail: int) -> dict[str, list[str]]:
    """The last ``tail`` log lines of each service of the running lab (and Toxiproxy's)."""
    lab = require_lab(journal)
    names = ["toxiproxy", *lab.services]
    if service is not None and service not in names:
        raise InvalidInput(f"the lab has no service '{service}' (services: {', '.join(names)})")
    return {name: lab.log_tail(name, tail) for name in names if service in (None, name)}


def _process_state(lab: AnyLab, name: str) -> str:
    return lab.process_state(name)


def _ping_ms(kind: str, host: str, port: int, tls: bool = False) -> float | None:
    """How long the service takes to answer (an https server reached directly: to accept
    a connection), or ``None``."""
    start = time.monotonic()
    try:
        ok = tcp_open(host, port, 0.5) if tls else service_ready(kind, host, port, timeout_s=0.5)
    except OSError:
        return None
    return round((time.monotonic() - start) * 1000, 2) if ok else None


# -- ad-hoc faults --------------------------------------------------------------------------


def parse_params(items: list[str]) -> dict[str, Any]:
    """``key=value`` words to a params mapping; values are read as YAML scalars
    (``200ms`` stays text, ``0.5`` is a number)."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"fault parameter '{item}': expected key=value, e.g. latency=200ms")
        if key in params:
            raise InvalidInput(f"fault parameter '{key}' is given twice")
        try:
            params[key] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            params[key] = value
    return params


def _validated(kind: type[Fault], raw: dict[str, Any]) -> BaseModel:
    try:
        return kind.params_model.model_validate(raw)
    except ValidationError as exc:

        def at(loc: tuple[Any, ...], message: str) -> str:
            return f"parameter {'.'.join(str(p) for p in loc[1:])}: {message}"

        problems = explain_errors(exc, ("params",), at, kind.params_model)
        raise InvalidInput(f"{kind.kind}: " + "; ".join(problems)) from None


@dataclass
class Applied:
    fault_id: str
    fault: Fault
    expires_at: float | None


def apply_adhoc(
    journal: Journal,
    kind_name: str,
    targets: list[str],
    raw_params: dict[str, Any],
    for_s: float | None,
    foreground: bool = False,
    dry_run: bool = False,
) -> Applied:
    """Apply one fault to the running lab. The revert is journaled first; with
    ``for_s`` the watchdog reverts it then. ``foreground`` faults belong to this
    process instead (the caller waits and reverts; if it dies, the watchdog does).
    ``dry_run``: every check, nothing journaled or applied."""
    lab = require_lab(journal)
    kind = get_kind(kind_name)
    if kind is None:
        raise InvalidInput(f"unknown fault kind '{kind_name}' (known: {', '.join(kinds())})")
    for name in targets:
        if name not in lab.services:
            raise InvalidInput(
                f"--target: the lab has no service '{name}' (services: {', '.join(lab.services)})"
            )
    if len(set(targets)) != len(targets):
        raise InvalidInput("--target: a service is listed twice")
    if lab.backend not in kind.backends:
        raise InvalidInput(
            f"{kind_name} is not available on the {lab.backend} backend "
            f"(available on: {', '.join(kind.backends)})"
        )
    for name in targets:
        spec = lab.specs.get(name)
        why = kind.target_problem(name, spec) if spec is not None else None
        if why is not None:
            raise InvalidInput(f"--target: {kind_name} cannot act on service '{name}': {why}")
    if missing := kind.unmet_needs():
        raise EnvironmentProblem(f"{kind_name} needs {'; '.join(missing)}")
    params = _validated(kind, raw_params)
    if kind.instantaneous and for_s is not None:
        raise InvalidInput(f"{kind_name} is instantaneous: --for does not apply")
    _check_exclusive(journal, lab, kind_name, targets)
    new_id = f"f-{uuid.uuid4().hex[:6]}"
    fault = kind(
        new_id,
        FaultTarget(lab, [lab.services[n] for n in targets]),
        params,
        tag=f"adhoc-{new_id}",
    )
    if fault.needs_foreground() and not foreground:
        raise InvalidInput(
            f"{kind_name} keeps acting after it is applied, from the process that applied "
            "it: add --wait (the command then stays until --for ends or Ctrl-C)"
        )
    if foreground and for_s is None and not kind.instantaneous:
        raise InvalidInput("--wait needs --for (how long to hold the fault)")
    expires_at = None if for_s is None or foreground else time.time() + for_s
    if dry_run:
        return Applied(new_id, fault, expires_at)
    key = ADHOC_PREFIX + new_id
    journal.fault_applying(
        key,
        kind_name,
        targets,
        {"kind": kind_name, "lab_id": lab.lab_id, "record": fault.revert_record()},
        adhoc=not foreground,
        expires_at=expires_at,
        params=params.model_dump(mode="json"),
    )
    try:
        fault.apply()
    except Exception as exc:
        _undo(journal, key, fault)
        raise FaultError(f"applying {kind_name} failed: {type(exc).__name__}: {exc}") from None
    if kind.instantaneous:
        _undo(journal, key, fault)
    return Applied(new_id, fault, expires_at)


def _undo(journal: Journal, key: str, fault: Fault) -> None:
    fault.revert()
    journal.fault_reverted(key)


def revert_adhoc(journal: Journal, applied: Applied) -> None:
    _undo(journal, ADHOC_PREFIX + applied.fault_id, applied.fault)


def _check_exclusive(journal: Journal, lab: AnyLab, kind_name: str, targets: list[str]) -> None:
    group = EXCLUSIVE.get(kind_name)
    if group is None:
        return
    for key, rec in journal.state().faults.items():
        if rec["revert"].get("lab_id") != lab.lab_id or EXCLUSIVE.get(rec["kind"]) != group:
            continue
        shared = set(rec["targets"]) & set(targets)
        if shared:
            raise InvalidInput(
                f"{rec['kind']} {fault_id(key)} is already active on {', '.join(sorted(shared))}; "
                f"revert it first (`harness fault revert {fault_id(key)}`)"
            )


def list_faults(journal: Journal) -> list[dict[str, Any]]:
    """Every active fault, ad-hoc or from a run, oldest first."""
    now = time.time()
    out = []
    for key, rec in journal.state().faults.items():
        expires = rec.get("expires_at")
        out.append(
            {
                "id": fault_id(key),
                "key": key,
                "kind": rec["kind"],
                "targets": rec["targets"],
                "lab_id": rec["revert"].get("lab_id"),
                "applied_at": rec.get("wall"),
                "age_s": round(now - float(rec.get("wall", now)), 1),
                "expires_in_s": None if expires is None else round(expires - now, 1),
                "params": rec.get("params", {}),
                "by": "hand" if rec.get("adhoc") else f"pid {rec['owner']['pid']}",
            }
        )
    return out


def render_faults(faults: list[dict[str, Any]]) -> str:
    if not faults:
        return "no active faults"
    lines = [f"{'ID':<14} {'KIND':<20} {'TARGETS':<16} {'AGE':>7} {'EXPIRES':>8}  BY"]
    for f in faults:
        expires = "-" if f["expires_in_s"] is None else format_duration(max(f["expires_in_s"], 0))
        lines.append(
            f"{f['id']:<14} {f['kind']:<20} {','.join(f['targets']):<16} "
            f"{format_duration(max(f['age_s'], 0)):>7} {expires:>8}  {f['by']}"
        )
    return "\n".join(lines)


def revert_faults(journal: Journal, ids: list[str], every: bool) -> HealReport:
    """Revert faults by id (as ``fault list`` shows them), or all of them."""
    active = journal.state().faults
    if every:
        return heal(journal, include_live=True, stop_orphan_labs=False)
    keys = []
    for wanted in ids:
        found = [k for k in active if fault_id(k) == wanted or k == wanted]
        if not found:
            raise InvalidInput(f"no active fault '{wanted}' (see `harness fault list`)")
        keys += found
    return heal(journal, include_live=True, stop_orphan_labs=False, keys=keys)
