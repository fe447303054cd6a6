"""The lab's reference HTTP service: a small real app tier in front of a Redis stream.

``python -m harness.lab.httpapp --port P --redis-host H --redis-port R [--stream S]``

* ``POST /messages`` (a JSON body): XADD of the body to the stream; ``201`` with
  ``{"id": ENTRY_ID}``; ``400`` for a body that is not JSON; ``503`` when Redis could
  not be reached (nothing written), ``504`` when its reply was lost (maybe written).
* ``GET /messages?count=N``: the last N entries (at most 1000), newest first.
* ``GET /events``: server-sent events of the entries added after the subscription
  (``id:`` is the stream entry id, ``data:`` the JSON body). A ``Last-Event-ID``
  header resumes after that entry, so a client that reconnects loses nothing. A first
  comment (``: subscribed``) says the starting point is fixed; a comment every
  ``--keepalive`` seconds lets clients tell a quiet stream from a dead connection.
* ``GET /health``: ``200`` when Redis answers PING, ``503`` otherwise.

The lab starts it with Redis's Toxiproxy address, so faults on Redis hit the app as
they would a real service. Its Redis client never retries: a failure is an answer.
Only the standard library's HTTP server and redis-py are used.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

MAX_BODY_BYTES = 1 << 20
MAX_LIST = 1000
READ_BLOCK_MS = 500
_REDIS_ERRORS = (redis.RedisError, OSError)


class App:
    """What the handlers share: the Redis client, the stream and the timings."""

    def __init__(self, client: redis.Redis, stream: str, keepalive_s: float) -> None:
        # redis-py's stubs type replies as bytes | str | None for every decode setting;
        # this client never decodes, so replies are bytes.
        self.client: Any = client
        self.stream = stream
        self.keepalive_s = keepalive_s


def make_client(host: str, port: int, timeout_s: float) -> redis.Redis:
    # The socket timeout covers the blocking XREAD of /events plus a margin.
    return redis.Redis(
        host=host,
        port=port,
        socket_timeout=timeout_s + READ_BLOCK_MS / 1000,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        max_connections=512,
    )


class Handler(BaseHTTPRequestHandler):
    server_version = "chaos-httpapp/1"
    protocol_version = "HTTP/1.1"  # keep-alive: faults act per connection, as for clients
    # Headers and body go out in separate writes: with Nagle's algorithm the body would
    # wait for the client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True
    app: App

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would flood the lab's log

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self._health()
        elif url.path == "/events":
            self._events()
        elif url.path == "/messages":
            self._list(parse_qs(url.query))
        else:
            self._json(404, {"error": f"no such path {url.path}"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/messages":
            self._json(404, {"error": "POST only on /messages"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._json(413, {"error": f"body over {MAX_BODY_BYTES} bytes"})
            return
        body = self.rfile.read(length)
        try:
            json.loads(body)
        except ValueError:
            self._json(400, {"error": "the body is not JSON"})
            return
        try:
            entry_id = self.app.client.xadd(self.app.stream, {"data": body})
        except _REDIS_ERRORS as exc:
            # 503: Redis was not reached, nothing was written. 504: the command may have
            # been sent and its reply was lost, so the entry may exist (indeterminate).
            refused = isinstance(exc, redis.ConnectionError) and "connecting" in str(exc)
            self._json(503 if refused else 504, {"error": f"redis: {type(exc).__name__}: {exc}"})
            return
        self._json(201, {"id": entry_id.decode()})

    def _health(self) -> None:
        try:
            self.app.client.ping()
        except _REDIS_ERRORS as exc:
            self._json(503, {"status": "redis unavailable", "error": type(exc).__name__})
            return
        self._json(200, {"status": "ok"})

    def _list(self, query: dict[str, list[str]]) -> None:
        try:
            count = max(1, min(MAX_LIST, int(query.get("count", ["10"])[0])))
        except ValueError:
            self._json(400, {"error": "count must be a number"})
            return
        try:
            entries = self.app.client.xrevrange(self.app.stream, count=count)
        except _REDIS_ERRORS as exc:
            self._json(503, {"error": f"redis: {type(exc).__name__}: {exc}"})
            return
        out = [{"id": i.decode(), "data": json.loads(f[b"data"])} for i, f in entries]
        self._json(200, {"messages": out})

    def _events(self) -> None:
        """Server-sent events from the entry after ``Last-Event-ID``, or from now."""
        last = self.headers.get("Last-Event-ID")
        try:
            if not last:
                newest = self.app.client.xrevrange(self.app.stream, count=1)
                last = newest[0][0].decode() if newest else "0-0"
        except _REDIS_ERRORS as exc:
            self._json(503, {"error": f"redis: {type(exc).__name__}: {exc}"})
            return
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            self._write(b": subscribed\n\n")
            self._stream_from(last)
        except OSError:
            return  # the client went away (or a fault cut it off)

    def _stream_from(self, last: str) -> None:
        next_comment = time.monotonic() + self.app.keepalive_s
        while True:
            try:
                reply = self.app.client.xread({self.app.stream: last}, block=READ_BLOCK_MS)
            except _REDIS_ERRORS:
                # Redis is unreachable: keep the subscriber and its position, try again.
                time.sleep(0.1)
                reply = None
            for _, entries in _streams(reply):
                chunk = []
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    data = fields.get(b"data", b"{}").decode()
                    chunk.append(f"id: {last}\nevent: message\ndata: {data}\n\n")
                self._write("".join(chunk).encode())
            if time.monotonic() >= next_comment:
                next_comment = time.monotonic() + self.app.keepalive_s
                self._write(b": keep-alive\n\n")

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 refuses connections under a burst of users


def _streams(reply: Any) -> list[tuple[Any, list[Any]]]:
    """XREAD's answer as (stream, entries) pairs: RESP3 gives a map, RESP2 a list."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(reply.items())
    return [(stream, entries) for stream, entries in reply]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.lab.httpapp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-host", default="127.0.0.1")
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--stream", default="events")
    parser.add_argument("--keepalive", type=float, default=1.0, help="seconds between comments")
    parser.add_argument("--redis-timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    client = make_client(args.redis_host, args.redis_port, args.redis_timeout)
    handler = type("BoundHandler", (Handler,), {"app": App(client, args.stream, args.keepalive)})
    server = Server((args.host, args.port), handler)
    server.daemon_threads = True  # SSE threads never end by themselves

    def stop(*_: Any) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
