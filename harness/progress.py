"""Live progress on a terminal: one status line, rewritten in place; silent otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    def __init__(self, total_s: float, enabled: bool | None = None, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total_s = total_s
        self._last = 0.0
        self._width = 0

    def update(self, elapsed_s: float, active: list[str], tick: dict[str, Any]) -> None:
        if not self.enabled or time.monotonic() - self._last < 0.2:
            return
        self._last = time.monotonic()
        ops = tick.get("ok", 0) + tick.get("fail", 0) + tick.get("info", 0)
        p95 = tick.get("p95_ms")
        line = (
            f"[{min(elapsed_s, self.total_s):6.1f}s / {self.total_s:.0f}s] "
            f"users {tick.get('users', '-'):>4}  "
            f"ops/s {ops:6d}  errors {tick.get('fail', 0) + tick.get('info', 0):5d}  "
            f"p95 {'-' if p95 is None else f'{p95:.1f}ms':>8}  "
            f"faults: {', '.join(active) or 'none'}"
        )
        pad = max(self._width - len(line), 0)
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def note(self, message: str) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * self._width + "\r" + message + "\n")
            self._width = 0
            self.stream.flush()

    def always(self, message: str) -> None:
        """A notice that matters even in a log (a healed leftover fault): always printed."""
        if self.enabled:
            self.note(message)
        else:
            self.stream.write(message + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
