"""A port the lab picked is taken before its server binds it (another listener, or a
client's ephemeral port): the real server fails to bind, and the lab starts it again on
another port instead of failing `lab up`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.errors import LabError
from harness.journal import Journal
from harness.lab import procs
from harness.lab.local import LocalLab
from harness.scenario import LabSpec

pytestmark = pytest.mark.services

SERVICES = {
    "redis": {"kind": "redis"},
    "store": {"kind": "s3"},
    "app": {"kind": "http", "redis": "redis"},
}


@pytest.fixture
def taken() -> Iterator[socket.socket]:
    """A port somebody else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def _lab(tmp_path: Path) -> LocalLab:
    services = LabSpec.model_validate({"services": SERVICES}).services
    return LocalLab(tmp_path / "lab", dict(services), Journal(tmp_path / "journal.jsonl"))


def test_every_server_whose_port_was_taken_starts_again_on_another(
    tmp_path: Path, taken: socket.socket, monkeypatch: pytest.MonkeyPatch, no_leftovers: None
) -> None:
    held = taken.getsockname()[1]
    real = procs.free_port
    handed: list[int] = []

    def first_the_taken_one() -> int:
        # Every server is first offered the taken port, then a free one.
        port = held if len(handed) % 2 == 0 else real()
        handed.append(port)
        return port

    monkeypatch.setattr(procs, "free_port", first_the_taken_one)
    lab = _lab(tmp_path)
    lab.up()
    try:
        # Toxiproxy, Redis, versitygw and the HTTP app: each tried the taken port first.
        assert handed.count(held) == 4 and len(handed) == 8
        assert lab.toxiproxy is not None and lab.toxiproxy.port != held
        assert all(svc.upstream.port != held for svc in lab.services.values())
        log = (tmp_path / "lab" / "redis.log").read_text()
        assert f"{held}" in log and "Address already in use" in log
        client = lab.services["redis"].client
        assert redis.Redis(host=client.host, port=client.port, socket_timeout=2).ping()
    finally:
        lab.down()


def test_a_port_that_stays_taken_fails_lab_up_with_the_servers_reason(
    tmp_path: Path, taken: socket.socket, monkeypatch: pytest.MonkeyPatch, no_leftovers: None
) -> None:
    held = taken.getsockname()[1]
    monkeypatch.setattr(procs, "free_port", lambda: held)
    lab = _lab(tmp_path)
    with pytest.raises(LabError, match=r"(?i)address already in use"):
        lab.up()
