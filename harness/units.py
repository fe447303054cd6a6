"""Durations and sizes as users write them: ``500ms``, ``30s``, ``2m``, ``1h`` or a bare number
of seconds; ``64MiB``, ``512KiB``, ``1GB`` or a bare number of bytes."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds as a float; ``ValueError`` with what was expected otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 30s or 2m")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError("expected a finite, non-negative duration")
        return float(value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"expected a duration such as 500ms, 30s or 2m, got {value!r}")


def format_duration(seconds: float) -> str:
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A pydantic field type: seconds, parsed from ``30s`` / ``500ms`` / numbers."""


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}
_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(value: Any) -> int:
    """Bytes as an int, from ``65536``, ``64MiB``, ``512KiB`` or ``1GB``; ``ValueError``
    with what was expected otherwise."""
    expected = "a size such as 65536, 512KiB, 64MiB or 1GiB"
    if isinstance(value, bool):
        raise ValueError(f"expected {expected}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected a non-negative size, got {value}")
        return value
    if isinstance(value, str):
        match = _SIZE_PATTERN.match(value)
        if match and match.group(2).lower() in _SIZE_UNITS:
            return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    raise ValueError(f"expected {expected}, got {value!r}")


def format_size(size: int) -> str:
    """The largest binary unit that writes ``size`` exactly: ``64MiB``, ``1536KiB``, ``100B``."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = _SIZE_UNITS[unit.lower()]
        if size and size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"


def size_between(low: int, high: int) -> AfterValidator:
    """A validator keeping a size within [low, high], saying so in the user's units."""

    def check(size: int) -> int:
        if not low <= size <= high:
            raise ValueError(f"expected between {format_size(low)} and {format_size(high)}")
        return size

    return AfterValidator(check)


ByteSize = Annotated[int, BeforeValidator(parse_size)]
"""A pydantic field type: bytes, parsed from ``64MiB`` / ``512KiB`` / plain numbers."""
