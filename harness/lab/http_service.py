"""How the local lab runs its reference HTTP app (``harness/lab/httpapp.py``): the
command line, the readiness probe, and the order services start in (an app after the
Redis it needs, so it can be given that Redis's proxy)."""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.lab.base import Endpoint
    from harness.scenario import ServiceSpec


def httpapp_argv(host: str, port: int, redis: Endpoint, stream: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "harness.lab.httpapp",
        "--host",
        host,
        "--port",
        str(port),
        "--redis-host",
        redis.host,
        "--redis-port",
        str(redis.port),
        "--stream",
        stream,
    ]


def health_ok(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True when ``GET /health`` answers 200 (the app is serving and reaches Redis)."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.settimeout(max(timeout_s, 1.0))  # /health itself waits on a Redis PING
        sock.sendall(b"GET /health HTTP/1.0\r\nHost: lab\r\n\r\n")
        return sock.recv(16).startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))


def start_order(specs: dict[str, ServiceSpec]) -> list[tuple[str, ServiceSpec]]:
    """Services in the order they start: every app after the services it depends on
    (apps depend only on redis services, so apps last; otherwise as written)."""
    items = list(specs.items())
    return [i for i in items if i[1].kind != "http"] + [i for i in items if i[1].kind == "http"]
