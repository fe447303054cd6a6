"""What producers, consumers and the drain share about stream messages (importable
without locust)."""

from __future__ import annotations

from typing import Any

from harness.workloads.values import digest

GROUP = "chaos"


def stream_key(key_prefix: str) -> str:
    return f"{key_prefix}:stream"


def receipt(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
    """The receipt fields of one stream entry: its id, producer, seq and the digest of
    the payload as read (a changed payload shows as a digest the producer never sent)."""
    try:
        return {
            "id": entry_id.decode(),
            "producer": fields[b"p"].decode(),
            "seq": int(fields[b"s"]),
            "digest": digest(fields.get(b"v", b"")),
        }
    except (KeyError, ValueError):
        return {"id": entry_id.decode(), "producer": "?", "seq": -1, "digest": None}
