"""Reading back what a key-value run wrote, after heal, into the history.

Kept apart from the checker: this talks to Redis, the checker only reads the history.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from harness.history import HistoryWriter
from harness.lab.base import Endpoint
from harness.workloads.values import digest

BATCH = 500


def written_keys(records: Iterable[dict[str, Any]]) -> list[str]:
    """Keys of every SET attempted, in history order. Writes recorded as ``fail`` are read
    back too: finding one present means the failure classification was wrong."""
    return [r["key"] for r in records if r.get("op") == "set"]


def final_read(
    endpoint: Endpoint,
    keys: list[str],
    all_attempted: set[str],
    key_prefix: str,
    history: HistoryWriter,
    deadline_s: float,
) -> bool:
    """MGET every key in batches and SCAN for keys never attempted; record both.

    Each batch is retried until ``deadline_s`` runs out; a batch that never succeeds is
    recorded as ``fail`` (the integrity verdict is then ``unknown``).
    """
    import redis

    client = redis.Redis(
        host=endpoint.host, port=endpoint.port, socket_timeout=5, socket_connect_timeout=2
    )
    end = time.monotonic() + deadline_s
    try:
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            if not _attempt(end, history, "final-read", lambda b=batch: _read(client, b)):
                return False
        return _attempt(
            end, history, "final-scan", lambda: _scan(client, key_prefix, all_attempted)
        )
    finally:
        client.close()


def _read(client: Any, batch: list[str]) -> dict[str, Any]:
    values = client.mget(batch)
    return {
        "values": {
            k: (None if v is None else digest(v)) for k, v in zip(batch, values, strict=True)
        }
    }


def _scan(client: Any, prefix: str, attempted: set[str]) -> dict[str, Any]:
    scanned = 0
    unattempted = []
    for raw in client.scan_iter(match=f"{prefix}:*", count=1000):
        scanned += 1
        key = raw.decode(errors="replace")
        if key not in attempted:
            unattempted.append(key)
    return {"scanned": scanned, "unattempted": unattempted}


def _attempt(end: float, history: HistoryWriter, op: str, call: Any) -> bool:
    import redis

    last_error = None
    while True:
        t_start = time.monotonic_ns()
        try:
            payload = call()
            history.write(
                {
                    "t_start": t_start,
                    "t_end": time.monotonic_ns(),
                    "process": "checker",
                    "op": op,
                    "type": "ok",
                    **payload,
                }
            )
            return True
        except (redis.RedisError, OSError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= end:
            history.write(
                {
                    "t_start": t_start,
                    "t_end": time.monotonic_ns(),
                    "process": "checker",
                    "op": op,
                    "type": "fail",
                    "error": last_error,
                }
            )
            return False
        time.sleep(0.2)
