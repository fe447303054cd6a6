"""Windowed metrics: ok/fail/info counts and an HDR latency histogram per window.

Operations are placed in the window in which they completed. Latency percentiles are
taken over acknowledged (``ok``) operations only, so fast failures do not look like
fast service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

# Microseconds from 1 us to 10 minutes, two significant digits (1% resolution).
_LOWEST_US = 1
_HIGHEST_US = 600_000_000
_DIGITS = 2


def new_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def record_latency(hist: HdrHistogram, latency_ns: int, count: int = 1) -> None:
    hist.record_value(min(max(latency_ns // 1000, _LOWEST_US), _HIGHEST_US), count)


def percentile_ms(hist: HdrHistogram, pct: float) -> float | None:
    if hist.get_total_count() == 0:
        return None
    return float(hist.get_value_at_percentile(pct)) / 1000.0


@dataclass
class Window:
    index: int
    start_s: float
    ok: int = 0
    fail: int = 0
    info: int = 0
    # Allocated at the first acknowledged operation: empty windows cost nothing.
    _hist: HdrHistogram | None = field(default=None, repr=False)

    @property
    def hist(self) -> HdrHistogram:
        if self._hist is None:
            self._hist = new_histogram()
        return self._hist

    @property
    def total(self) -> int:
        return self.ok + self.fail + self.info

    @property
    def error_rate(self) -> float:
        return (self.fail + self.info) / self.total if self.total else 0.0

    def p(self, pct: float) -> float | None:
        return None if self._hist is None else percentile_ms(self._hist, pct)


class WindowSeries:
    """Fixed-width windows from ``t0``; feed operations in any order."""

    def __init__(self, t0_ns: int, window_s: float, end_s: float | None = None) -> None:
        self.t0_ns = t0_ns
        self.window_s = window_s
        self.window_ns = int(window_s * 1e9)
        self.windows: list[Window] = []
        if end_s is not None:
            self._extend(int(end_s / window_s + 0.5) - 1)

    def _extend(self, index: int) -> None:
        while len(self.windows) <= index:
            i = len(self.windows)
            self.windows.append(Window(i, i * self.window_s))

    def add(self, t_start_ns: int, t_end_ns: int, type_: str) -> None:
        offset = t_end_ns - self.t0_ns
        if offset < 0:
            return
        index = offset // self.window_ns
        self._extend(index)
        w = self.windows[index]
        if type_ == "ok":
            w.ok += 1
            record_latency(w.hist, t_end_ns - t_start_ns)
        elif type_ == "fail":
            w.fail += 1
        else:
            w.info += 1

    def index_of(self, t_s: float) -> int:
        # The epsilon keeps 1.0 / 0.1 in window 10, not 9.
        return max(0, int(t_s / self.window_s + 1e-9))

    def merged(self, first: int, last: int) -> HdrHistogram:
        """One histogram over windows ``first..last`` inclusive."""
        out = new_histogram()
        for w in self.windows[max(first, 0) : last + 1]:
            if w._hist is not None:
                out.add(w._hist)
        return out


def users_per_window(
    records: list[dict[str, Any]], t0_ns: int, window_s: float, count: int
) -> list[int | None]:
    """The user count running at the end of each window, from the load generators'
    ``{op: "users", t, count}`` records (``None`` before the first): with several
    generators (``generator`` in the record), the sum of each one's latest count."""
    marks = sorted(
        (r["t"], r["count"], r.get("generator", "")) for r in records if r.get("op") == "users"
    )
    out: list[int | None] = []
    latest: dict[str, int] = {}
    i = 0
    for k in range(count):
        end_ns = t0_ns + int((k + 1) * window_s * 1e9)
        while i < len(marks) and marks[i][0] <= end_ns:
            latest[marks[i][2]] = marks[i][1]
            i += 1
        out.append(sum(latest.values()) if latest else None)
    return out
