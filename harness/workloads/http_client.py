"""One keep-alive HTTP connection per Locust user that says how far a request got.

Locust's own HTTP sessions fire their own ``request`` events and do not tell a refused
connection from a reply lost after the request was sent, which is the difference
between ``fail`` and ``info`` in the history. So the HTTP users speak HTTP/1.1 with the
standard library's ``http.client`` (cooperative under Locust's gevent patching) and
record each request themselves, as the Redis users do. Imported only in the load
generator, after locust.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any

import gevent
from locust import User

from harness.workloads.stopping import RecordsBeforeStopping

_ERRORS = (OSError, http.client.HTTPException)


def require_loopback(host: str) -> None:
    """The workloads only ever talk to the lab's proxy on loopback."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"HTTP target {host} is not a loopback address: refused")


@dataclass
class Reply:
    """How far a request got: ``phase`` is ``connect``, ``send``, ``recv`` or ``done``."""

    phase: str
    status: int | None = None
    body: bytes = b""
    error: BaseException | None = None
    response: http.client.HTTPResponse | None = None

    def error_text(self) -> str | None:
        return None if self.error is None else f"{type(self.error).__name__}: {self.error}"


class HttpClientUser(RecordsBeforeStopping, User):
    """A Locust user with one HTTP connection to the target, reopened after any error."""

    abstract = True
    host_addr: str
    port: int
    params: Any
    process: str
    fire: Any
    conn: http.client.HTTPConnection | None = None

    def exchange(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        stream_timeout: float | None = None,
    ) -> Reply:
        """One request. With ``stream_timeout`` the response is left unread in
        ``Reply.response`` (server-sent events), its socket timeout set to that, and the
        connection is the caller's to close."""
        phase = "connect"
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host_addr, self.port, timeout=self.params.connect_timeout
                )
                self.conn.connect()
                assert self.conn.sock is not None
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.conn.sock.settimeout(self.params.op_timeout)
            phase = "send"
            self.conn.request(method, path, body=body, headers=headers or {})
            phase = "recv"
            if stream_timeout is not None:
                assert self.conn.sock is not None
                self.conn.sock.settimeout(stream_timeout)
            response = self.conn.getresponse()
            if stream_timeout is not None:
                return Reply("done", response.status, response=response)
            data = response.read()
            if response.will_close:
                self.close()
            return Reply("done", response.status, data)
        except _ERRORS as exc:
            self.close()
            if phase == "connect" and self.params.reconnect_backoff:
                gevent.sleep(self.params.reconnect_backoff)
            return Reply(phase, error=exc)
        except gevent.GreenletExit as exc:  # see harness/workloads/stopping.py
            self.close()
            return Reply(phase, error=self.interrupted(exc))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def on_stop(self) -> None:
        self.close()

    def record(self, context: dict[str, Any], length: int = 0) -> None:
        """One history record through Locust's request event (``type`` in ``context``
        makes it an operation; without one it goes to the history only)."""
        if self.stopped is not None and "type" in context:
            context["stopped"] = True  # cut off by the stop: not counted in the statistics
        t_start = context.get("t_start", context.get("t_end", time.monotonic_ns()))
        self.fire(
            request_type="http",
            name=context.get("op", ""),
            response_time=(context.get("t_end", t_start) - t_start) / 1e6,
            response_length=length,
            exception=None,
            context=context,
        )
        self.raise_if_stopped()
