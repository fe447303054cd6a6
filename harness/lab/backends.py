"""Which lab backend runs a lab: ``local`` (processes) or ``compose`` (containers).

Everything outside ``harness/lab`` makes, restores and checks labs through these
functions, so the runner, ``harness lab`` and heal treat both alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.lab.compose import ComposeLab
from harness.lab.local import LocalLab

if TYPE_CHECKING:
    from harness.journal import Journal
    from harness.scenario import ServiceSpec

AnyLab = LocalLab | ComposeLab

BACKENDS = ("local", "compose")


def new_lab_id(backend: str) -> str:
    from harness.lab import common

    return common.new_lab_id(backend)


def make_lab(
    backend: str,
    root: Path,
    services: dict[str, ServiceSpec],
    journal: Journal | None = None,
    persistent: bool = False,
    lab_id: str | None = None,
    allow_external: bool = False,
) -> AnyLab:
    """A lab of ``backend``, not started yet."""
    cls: type[AnyLab] = ComposeLab if backend == "compose" else LocalLab
    return cls(
        root,
        services,
        journal,
        persistent=persistent,
        lab_id=lab_id,
        allow_external=allow_external,
    )


def lab_from_record(record: dict[str, Any], journal: Journal | None = None) -> AnyLab | None:
    """A handle on a journaled lab (its ``to_record``), or ``None`` for an unknown backend."""
    backend = record.get("backend")
    if backend == "compose":
        return ComposeLab.from_record(record, journal)
    if backend == "local":
        return LocalLab.from_record(record, journal)
    return None


def lab_alive(record: dict[str, Any]) -> bool:
    """True while the lab's Toxiproxy (the server every fault goes through or next to)
    is the one that was journaled: a process for ``local``, a container for ``compose``."""
    if record.get("backend") == "compose":
        try:
            return ComposeLab.from_record(record).alive()
        except HarnessError:
            return False  # no engine answers: nothing of the lab can be running
    from harness.lab.procs import ManagedProcess

    proxy = record.get("toxiproxy_process")
    return isinstance(proxy, dict) and ManagedProcess.from_record(proxy).alive()
