"""``harness heal``: revert every fault the journal says is still applied, then stop
every lab whose owning harness process is gone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faults.base import get_kind
from harness.errors import HarnessError
from harness.journal import Journal, owner_alive
from harness.lab.base import Lab
from harness.lab.procs import ManagedProcess


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


def _lab_from(record: dict[str, Any], journal: Journal) -> Lab | None:
    lab = record.get("lab") or {}
    if lab.get("backend") == "local":
        from harness.lab.local import LocalLab

        return LocalLab.from_record(lab, journal)
    return None


def _lab_running(record: dict[str, Any]) -> bool:
    """True while the lab's Toxiproxy server (the process every fault goes through or
    next to) is the same process that was journaled."""
    proxy = (record.get("lab") or {}).get("toxiproxy_process")
    return isinstance(proxy, dict) and ManagedProcess.from_record(proxy).alive()


def heal(
    journal: Journal | None = None,
    stop_orphan_labs: bool = True,
    prefix: str = "",
    include_live: bool = False,
) -> HealReport:
    """Idempotent: a second call finds nothing to do.

    Faults applied by a harness process that is still alive belong to a run in
    progress and are left alone unless ``include_live``; ``prefix`` limits healing to
    the faults of one run (their journal keys start with the run's tag)."""
    journal = journal or Journal()
    report = HealReport()
    state = journal.state()
    for key, rec in state.faults.items():
        if not key.startswith(prefix):
            continue
        if not include_live and not prefix and owner_alive(rec.get("owner")):
            report.skipped.append(f"{key} (its harness, pid {rec['owner']['pid']}, is running)")
            continue
        revert = rec["revert"]
        kind = get_kind(revert["kind"])
        lab_rec = state.labs.get(revert.get("lab_id", ""))
        if revert.get("lab_id") and (lab_rec is None or not _lab_running(lab_rec)):
            # The lab the fault lived in is gone (stopped, or the machine restarted):
            # its proxies and processes went with it, so there is nothing to undo.
            journal.fault_reverted(key)
            report.gone.append(f"{key} ({revert['kind']}): lab {revert['lab_id']} is gone")
            continue
        lab = _lab_from(lab_rec, journal) if lab_rec else None
        if kind is None:
            report.failed.append(f"{key}: unknown fault kind {revert['kind']}")
            continue
        try:
            kind.revert_from(revert["record"], lab)
        except Exception as exc:  # keep going: every other fault still gets reverted
            report.failed.append(f"{key} ({revert['kind']}): {type(exc).__name__}: {exc}")
            continue
        journal.fault_reverted(key)
        report.reverted.append(f"{key} ({revert['kind']} on {', '.join(rec['targets'])})")
    if stop_orphan_labs:
        for lab_id, rec in journal.state().labs.items():
            if owner_alive(rec.get("owner")) or rec.get("lab", {}).get("persistent"):
                continue
            lab = _lab_from(rec, journal)
            if lab is not None:
                try:
                    lab.down()
                except HarnessError as exc:  # a filesystem still busy: the next heal retries
                    report.failed.append(f"lab {lab_id}: {exc}")
                    continue
            else:
                journal.lab_down(lab_id)
            report.labs_stopped.append(lab_id)
    state = journal.state()
    if not state.faults and not state.labs:
        journal.compact()
    return report
