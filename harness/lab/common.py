"""What the local and compose labs hold and do the same way: who the lab is, where it
lives, its services, filesystems and Toxiproxy, and the record that is journaled and
read back by another harness process."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import LabError
from harness.lab.base import ServiceHandle, record_lab
from harness.lab.disk import LabDisk
from harness.lab.toxiproxy import ToxiproxyClient
from harness.scenario import spec_record

if TYPE_CHECKING:
    from harness.journal import Journal
    from harness.scenario import ServiceSpec


def new_lab_id(backend: str) -> str:
    return f"{backend}-{uuid.uuid4().hex[:12]}"


class LabBase:
    backend: ClassVar[str]

    def __init__(
        self,
        root: Path,
        services: dict[str, ServiceSpec],
        journal: Journal | None,
        ready_deadline_s: float,
        persistent: bool,
        lab_id: str | None,
    ) -> None:
        self.lab_id = lab_id or new_lab_id(self.backend)
        # Absolute: services run with their data directory as working directory.
        self.root = root.resolve()
        # A persistent lab (`harness lab up`) outlives the process that started it, and
        # keeps its description in a state file of its own too.
        self.persistent = persistent
        self.state_file: Path | None = None
        self.specs = services
        self.journal = journal
        self.ready_deadline_s = ready_deadline_s
        self.services: dict[str, ServiceHandle] = {}
        self.disks: dict[str, LabDisk] = {}
        self.toxiproxy: ToxiproxyClient | None = None
        self._down = False

    def disk(self, name: str) -> LabDisk:
        try:
            return self.disks[name]
        except KeyError:
            raise LabError(f"service '{name}' has no lab filesystem (no disk: block)") from None

    def to_record(self) -> dict[str, Any]:
        return {
            "lab_id": self.lab_id,
            "backend": self.backend,
            "root": str(self.root),
            "persistent": self.persistent,
            "state_file": str(self.state_file) if self.state_file else None,
            "specs": {n: spec_record(s) for n, s in self.specs.items()},
            "toxiproxy": self.toxiproxy.address if self.toxiproxy else None,
            "services": {n: s.to_record() for n, s in self.services.items()},
            "disks": {n: d.to_record() for n, d in self.disks.items()},
        }

    def _restore(self, record: dict[str, Any]) -> None:
        """What ``to_record`` wrote, back onto a handle made from the record's specs."""
        if record.get("state_file"):
            self.state_file = Path(record["state_file"])
        if record.get("toxiproxy"):
            self.toxiproxy = ToxiproxyClient.from_address(record["toxiproxy"])
        self.services = {
            n: ServiceHandle.from_record(s) for n, s in record.get("services", {}).items()
        }
        self.disks = {n: LabDisk.from_record(d) for n, d in record.get("disks", {}).items()}

    def _journal(self) -> None:
        """Record the lab as it is now (after every process start: pids change)."""
        record_lab(self.journal, self.state_file, self.to_record())
