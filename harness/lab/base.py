"""What every lab backend offers: named services, each reached through a Toxiproxy proxy."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from harness.journal import Journal
    from harness.lab.disk import LabDisk


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ServiceHandle:
    """How to reach one service: ``client`` goes through Toxiproxy, ``upstream`` does not."""

    name: str
    kind: str
    client: Endpoint
    upstream: Endpoint
    proxy: str
    toxiproxy: str
    # Kind-specific facts a client needs (S3: the bucket, the region, and the credentials
    # file's path or, for an external server, its URL under "external"; never a secret).
    options: dict[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "client": [self.client.host, self.client.port],
            "upstream": [self.upstream.host, self.upstream.port],
            "proxy": self.proxy,
            "toxiproxy": self.toxiproxy,
            "options": dict(self.options),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ServiceHandle:
        return cls(
            name=record["name"],
            kind=record["kind"],
            client=Endpoint(*record["client"]),
            upstream=Endpoint(*record["upstream"]),
            proxy=record["proxy"],
            toxiproxy=record["toxiproxy"],
            options=dict(record.get("options", {})),
        )


class Lab(Protocol):
    """A running set of services. Process faults act through these methods so that the
    compose backend can implement them for containers."""

    lab_id: str
    services: dict[str, ServiceHandle]

    def up(self) -> None: ...

    def down(self) -> None: ...

    def kill_service(self, name: str, sig: int) -> None:
        """Send ``sig`` to the service and wait until it has exited."""

    def stop_service(self, name: str, grace_s: float) -> None:
        """Stop gracefully (SIGTERM, SIGKILL after ``grace_s``)."""

    def begin_stop(self, name: str, grace_s: float) -> None:
        """Send SIGTERM and return at once; the service shuts down at its own pace.
        ``finish_stop`` (and ``start_service``) send SIGKILL once ``grace_s`` is over."""

    def finish_stop(self, name: str) -> None:
        """Wait until a service given ``begin_stop`` has exited, with SIGKILL at the end
        of its grace period."""

    def start_service(self, name: str) -> None:
        """Start the service again and wait until it is ready."""

    def pause_service(self, name: str) -> None:
        """Freeze every process of the service (SIGSTOP of its process tree; a container:
        ``docker pause``) and return once all are frozen. Its sockets stay open, so
        connections are still accepted but nothing is answered."""

    def resume_service(self, name: str) -> None:
        """Undo ``pause_service`` (SIGCONT of the tree; ``docker unpause``). Idempotent: a
        service that is running normally, or not at all, is left as it is."""

    def service_running(self, name: str) -> bool: ...

    def service_pid(self, name: str) -> int | None:
        """The pid of the service's process while it runs (disk faults act on it)."""

    def disk(self, name: str) -> LabDisk:
        """The filesystem the lab made for the service's data (``LabError`` if none)."""

    def to_record(self) -> dict[str, Any]: ...


def record_lab(journal: Journal | None, state_file: Path | None, record: dict[str, Any]) -> None:
    """Journal a lab as it is now, and rewrite a persistent lab's state file (atomically)."""
    if journal is not None:
        journal.lab_up(record)
    if state_file is not None:
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, state_file)
