"""Fixtures for unit tests: fake Toxiproxy HTTP servers on loopback (fakes are for
unit tests only; the integration tests use the real server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from harness.lab.toxiproxy import ToxiproxyClient


class FakeServer:
    """Answers every request with ``status`` and ``body``; remembers what it was sent."""

    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.status = status
        self.body = body
        self.requests: list[tuple[str, str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sent = json.loads(self.rfile.read(length)) if length else None
                outer.requests.append((self.command, self.path, sent))
                payload = b"" if outer.body is None else json.dumps(outer.body).encode()
                if outer.status >= 400 and outer.body is None:
                    payload = b"proxy not found\n" if outer.status == 404 else b"nope\n"
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, timeout_s: float = 1.0) -> ToxiproxyClient:
        return ToxiproxyClient("127.0.0.1", self.port, timeout_s)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[FakeServer] = []

    def start(status: int = 200, body: Any = None) -> FakeServer:
        server = FakeServer(status, body)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def fake_toxiproxy() -> Iterator[FakeServer]:
    """A server that answers every request with 200 and ``{}``."""
    server = FakeServer(200, {})
    yield server
    server.close()
