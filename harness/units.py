"""Durations as users write them: ``500ms``, ``30s``, ``2m``, ``1h`` or a bare number of
seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

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
