"""Reading back what a key-value run wrote, after heal, into the history.

Kept apart from the checker: this talks to Redis, the checker only reads the history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
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
    errors = (redis.RedisError, OSError)
    try:
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            read = partial(_read, client, batch)
            if not attempt(end, history, "final-read", read, errors):
                return False
        scan = partial(_scan, client, key_prefix, all_attempted)
        return attempt(end, history, "final-scan", scan, errors)
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


def checker_record(
    op: str, type_: str, t_start: int | None = None, **payload: Any
) -> dict[str, Any]:
    """A record of the checker's own reads (final read, sweep, drain) for the history."""
    now = time.monotonic_ns()
    return {
        "t_start": now if t_start is None else t_start,
        "t_end": now,
        "process": "checker",
        "op": op,
        "type": type_,
        **payload,
    }


def attempt(
    end: float,
    history: HistoryWriter,
    op: str,
    call: Callable[[], dict[str, Any]],
    retry_on: tuple[type[BaseException], ...],
) -> bool:
    """Run ``call`` until it succeeds or ``end`` (monotonic) passes, retrying the errors in
    ``retry_on`` every 0.2 s; record ``ok`` with its payload, or ``fail`` with the last
    error."""
    last_error = None
    while True:
        t_start = time.monotonic_ns()
        try:
            payload = call()
        except retry_on as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            history.write(checker_record(op, "ok", t_start, **payload))
            return True
        if time.monotonic() >= end:
            history.write(checker_record(op, "fail", t_start, error=last_error))
            return False
        time.sleep(0.2)
