"""``harness heal``: revert every fault the journal says is still applied, then stop
every lab whose owning harness process is gone.

The same code serves the watchdog (which runs it whenever a harness dies or an ad-hoc
fault expires), ``harness fault revert`` and ``harness lab down``.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from faults.base import get_kind
from harness.errors import HarnessError
from harness.journal import Journal, JournalState, owner_alive
from harness.lab.backends import lab_alive, lab_from_record
from harness.lab.base import Lab


@dataclass
class HealReport:
    reverted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    labs_stopped: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def empty(self) -> bool:
        return not (self.reverted or self.failed or self.labs_stopped or self.gone or self.skipped)


def lab_from(record: dict[str, Any], journal: Journal) -> Lab | None:
    """A handle on a journaled lab (``record`` is its ``lab-up`` journal record)."""
    return lab_from_record(record.get("lab") or {}, journal)


def lab_running(record: dict[str, Any]) -> bool:
    """True while the lab's Toxiproxy (the server every fault goes through or next to)
    is the one that was journaled."""
    return lab_alive(record.get("lab") or {})


def fault_id(key: str) -> str:
    """What users call a fault: the part of its journal key after the run tag."""
    return key.split("/", 1)[-1]


def _shown(key: str) -> str:
    # A run's faults keep their run tag in messages: ids repeat across runs.
    return fault_id(key) if key.startswith("adhoc/") else key


def held_by(rec: dict[str, Any], now: float) -> str | None:
    """Why a journaled fault is still wanted (and heal leaves it), or ``None``."""
    if rec.get("adhoc"):
        expires = rec.get("expires_at")
        if expires is None:
            return f"applied by hand; `harness fault revert {fault_id(rec['key'])}` ends it"
        if expires > now:
            return f"applied by hand, expires in {expires - now:.0f}s"
        return None
    owner = rec.get("owner")
    if owner_alive(owner):
        assert owner is not None
        return f"its harness, pid {owner['pid']}, is running"
    return None


def heal(
    journal: Journal | None = None,
    stop_orphan_labs: bool = True,
    prefix: str = "",
    include_live: bool = False,
    keys: Collection[str] | None = None,
    lab_id: str | None = None,
    now: float | None = None,
) -> HealReport:
    """Revert journaled faults; idempotent: a second call finds nothing to do.

    Faults still wanted (their harness is running, or they were applied by hand and have
    not expired) are left alone unless ``include_live``. ``prefix`` limits healing to the
    faults of one run (their journal keys start with the run's tag) and ignores whether
    they are wanted; ``keys`` and ``lab_id`` select faults by key or by lab."""
    journal = journal or Journal()
    now = time.time() if now is None else now
    report = HealReport()
    state = journal.state()
    for key, rec in state.faults.items():
        if not key.startswith(prefix) or (keys is not None and key not in keys):
            continue
        revert = rec["revert"]
        if lab_id is not None and revert.get("lab_id") != lab_id:
            continue
        reason = None if (include_live or prefix) else held_by(rec, now)
        lab_rec = state.labs.get(revert.get("lab_id", ""))
        if reason is not None and not (rec.get("adhoc") and _lab_gone(revert, lab_rec)):
            report.skipped.append(f"{_shown(key)} ({reason})")
            continue
        _revert_one(journal, state, key, rec, report)
    if stop_orphan_labs:
        for orphan_id, rec in journal.state().labs.items():
            if owner_alive(rec.get("owner")) or rec.get("lab", {}).get("persistent"):
                continue
            lab = lab_from(rec, journal)
            if lab is not None:
                try:
                    lab.down()
                except HarnessError as exc:  # a filesystem still busy: the next heal retries
                    report.failed.append(f"lab {orphan_id}: {exc}")
                    continue
            else:
                journal.lab_down(orphan_id)
            report.labs_stopped.append(orphan_id)
    state = journal.state()
    if not state.faults and not state.labs:
        journal.compact()
    return report


def _lab_gone(revert: dict[str, Any], lab_rec: dict[str, Any] | None) -> bool:
    return bool(revert.get("lab_id")) and (lab_rec is None or not lab_running(lab_rec))


def _revert_one(
    journal: Journal, state: JournalState, key: str, rec: dict[str, Any], report: HealReport
) -> None:
    revert = rec["revert"]
    lab_rec = state.labs.get(revert.get("lab_id", ""))
    name = f"{_shown(key)} ({revert['kind']})"
    if _lab_gone(revert, lab_rec):
        # The lab the fault lived in is gone (stopped, or the machine restarted): its
        # proxies and processes went with it, so there is nothing to undo.
        journal.fault_reverted(key)
        report.gone.append(f"{name}: lab {revert['lab_id']} is gone")
        return
    kind = get_kind(revert["kind"])
    if kind is None:
        report.failed.append(f"{name}: unknown fault kind")
        return
    lab = lab_from(lab_rec, journal) if lab_rec else None
    try:
        kind.revert_from(revert["record"], lab)
    except Exception as exc:  # keep going: every other fault still gets reverted
        report.failed.append(f"{name}: {type(exc).__name__}: {exc}")
        return
    journal.fault_reverted(key)
    report.reverted.append(f"{_shown(key)} ({revert['kind']} on {', '.join(rec['targets'])})")
