"""The drain of a ``redis.streams`` run, after heal: claim every entry still pending on
any consumer and read every entry never delivered, acknowledging them, until the group
has nothing pending; each entry read is a receipt in the history, and a ``drain``
record says whether the group was emptied (``pending`` 0) before the deadline.

Kept apart from the checker (``checks/delivery.py``): this talks to Redis.
"""

from __future__ import annotations

import time
from typing import Any

from harness.checks.collect import checker_record
from harness.history import HistoryWriter
from harness.lab.base import Endpoint
from harness.workloads.messages import GROUP, receipt

CONSUMER = "drain"
BATCH = 500


def drain(endpoint: Endpoint, stream: str, history: HistoryWriter, deadline_s: float) -> bool:
    import redis

    client = redis.Redis(
        host=endpoint.host, port=endpoint.port, socket_timeout=5, socket_connect_timeout=2
    )
    end = time.monotonic() + deadline_s
    pending: int | None = None
    error = None
    try:
        while True:
            try:
                taken = _claim_all(client, stream, history) + _read_new(client, stream, history)
                pending = int(client.xpending(stream, GROUP)["pending"])
                if pending == 0 and taken == 0:
                    history.write(checker_record("drain", "ok", pending=0, error=None))
                    return True
                continue
            except redis.RedisError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= end:
                history.write(checker_record("drain", "fail", pending=pending, error=error))
                return False
            time.sleep(0.2)
    finally:
        client.close()


def _claim_all(client: Any, stream: str, history: HistoryWriter) -> int:
    taken = 0
    start = "0-0"
    while True:
        reply = client.xautoclaim(stream, GROUP, CONSUMER, 0, start, count=BATCH)
        start, entries = reply[0], reply[1]
        taken += _receive(client, stream, entries, history)
        if start in (b"0-0", "0-0"):
            return taken


def _read_new(client: Any, stream: str, history: HistoryWriter) -> int:
    taken = 0
    while True:
        reply = client.xreadgroup(GROUP, CONSUMER, {stream: ">"}, count=BATCH)
        entries = reply[0][1] if reply else []
        if not entries:
            return taken
        taken += _receive(client, stream, entries, history)


def _receive(client: Any, stream: str, entries: list[Any], history: HistoryWriter) -> int:
    ids = []
    for entry_id, fields in entries:
        ids.append(entry_id)
        if fields:  # None: deleted while it was pending
            history.write(
                {
                    "t_end": time.monotonic_ns(),
                    "process": CONSUMER,
                    "op": "recv",
                    "key": stream,
                    **receipt(entry_id, fields),
                }
            )
    if ids:
        client.xack(stream, GROUP, *ids)
    return len(ids)
