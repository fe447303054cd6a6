"""Deterministic values: a key's value can be re-derived from the key alone, and its
digest is what the history records and what checkers compare."""

from __future__ import annotations

import hashlib


def value_for(key: str, size: int) -> bytes:
    """``size`` bytes derived from ``key``: the key itself followed by its hash, repeated,
    so a value stored under the wrong key is caught as well as flipped bytes."""
    raw = key.encode()
    block = raw + b"|" + hashlib.sha256(raw).digest()
    return (block * (size // len(block) + 1))[:size]


def digest(value: bytes) -> str:
    """The digest recorded in the history: 16 hex characters of SHA-256."""
    return hashlib.sha256(value).hexdigest()[:16]
