"""Time-series charts as inline SVG, built here so a report needs no script library and
renders offline: lines per series, fault windows shaded and labelled, recoveries marked.

Each chart is one ``<svg class="chart">``; native ``<title>`` elements give tooltips on
fault windows and recovery marks without any script.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from harness.report.rundata import Window

WIDTH, HEIGHT = 900, 230
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 34
# More points than pixels only makes the file bigger.
MAX_POINTS = 900


@dataclass(frozen=True)
class Series:
    """One line; a None value breaks it (a window with nothing acknowledged)."""

    label: str
    color: str
    points: Sequence[tuple[float, float | None]]


@dataclass(frozen=True)
class FaultMark:
    """A fault's window (applied -> reverted) and, if it recovered, when."""

    fault_id: str
    kind: str
    start_s: float
    end_s: float
    recovered_s: float | None
    censored: bool


def downsample(windows: Sequence[Window], max_points: int = MAX_POINTS) -> list[Window]:
    """Merge runs of consecutive windows so at most ``max_points`` remain: counts summed,
    rates averaged, latency percentiles the worst of the run (a spike stays visible)."""
    if len(windows) <= max_points:
        return list(windows)
    size = math.ceil(len(windows) / max_points)
    merged = []
    for i in range(0, len(windows), size):
        part = windows[i : i + size]
        ok, fail, info = (sum(getattr(w, f) for w in part) for f in ("ok", "fail", "info"))
        total = ok + fail + info
        merged.append(
            Window(
                t_s=part[0].t_s,
                ok=ok,
                fail=fail,
                info=info,
                ops_s=sum(w.ops_s for w in part) / len(part),
                error_rate=(fail + info) / total if total else 0.0,
                p50_ms=_worst(w.p50_ms for w in part),
                p95_ms=_worst(w.p95_ms for w in part),
                p99_ms=_worst(w.p99_ms for w in part),
                users=part[-1].users,
            )
        )
    return merged


def _worst(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def nice_step(span: float, count: int = 5) -> float:
    """A tick step of 1, 2 or 5 times a power of ten giving about ``count`` ticks."""
    if span <= 0:
        return 1.0
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    return next(float(m * power) for m in (1, 2, 5, 10) if m * power >= raw)


class _Scale:
    def __init__(self, lo: float, hi: float, pixels_lo: float, pixels_hi: float, log: bool):
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        self.p_lo, self.p_hi = pixels_lo, pixels_hi

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        frac = (v - self.lo) / (self.hi - self.lo) if self.hi > self.lo else 0.0
        return self.p_lo + frac * (self.p_hi - self.p_lo)


def _y_range(series: Sequence[Series], log: bool) -> tuple[float, float, list[float]]:
    values = [v for s in series for _, v in s.points if v is not None and (v > 0 or not log)]
    if log:
        lo = 10 ** math.floor(math.log10(min(values))) if values else 0.1
        hi = 10 ** math.ceil(math.log10(max(values))) if values else 10.0
        hi = max(hi, lo * 10)
        ticks = [10.0**e for e in range(round(math.log10(lo)), round(math.log10(hi)) + 1)]
        return lo, hi, ticks
    hi = max(values, default=0.0)
    step = nice_step(hi or 1.0, 4)
    top = step * math.ceil((hi or 1.0) / step)
    return 0.0, top, [i * step for i in range(round(top / step) + 1)]


def line_chart(
    name: str,
    title: str,
    unit: str,
    series: Sequence[Series],
    x_max: float,
    faults: Sequence[FaultMark],
    log: bool = False,
) -> str:
    """One chart: axes with ticks, shaded fault windows, recovery marks, the lines and a
    legend. ``name`` becomes ``data-chart`` (what the browser test looks for)."""
    x = _Scale(0.0, max(x_max, 1e-3), LEFT, WIDTH - RIGHT, False)
    lo, hi, y_ticks = _y_range(series, log)
    y = _Scale(lo, hi, HEIGHT - BOTTOM, TOP, log)
    parts = [
        f'<svg class="chart" data-chart="{escape(name)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="16" class="ctitle">{escape(title)}</text>',
    ]
    parts += _fault_marks(faults, x, x_max)
    parts += _axes(x, y, x_max, y_ticks, unit)
    for s in series:
        parts += _polylines(s, x, y, log)
    parts += _legend(series)
    parts.append("</svg>")
    return "\n".join(parts)


def _axes(x: _Scale, y: _Scale, x_max: float, y_ticks: list[float], unit: str) -> list[str]:
    bottom, top = HEIGHT - BOTTOM, TOP
    out = [
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" class="axis"/>',
        f'<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" class="axis"/>',
    ]
    step = nice_step(x_max, 10)
    for i in range(int(x_max / step + 1e-9) + 1):
        px = x(i * step)
        out.append(
            f'<line x1="{px:.1f}" y1="{bottom}" x2="{px:.1f}" y2="{bottom + 4}" class="axis"/>'
        )
        out.append(f'<text x="{px:.1f}" y="{bottom + 16}" class="tick mid">{i * step:g}s</text>')
    for value in y_ticks:
        py = y(value)
        out.append(
            f'<line x1="{LEFT}" y1="{py:.1f}" x2="{WIDTH - RIGHT}" y2="{py:.1f}" class="grid"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" class="tick end">{value:g}{unit}</text>')
    return out


def _fault_marks(faults: Sequence[FaultMark], x: _Scale, x_max: float) -> list[str]:
    out = []
    bottom = HEIGHT - BOTTOM
    for i, f in enumerate(faults):
        x0, x1 = x(min(f.start_s, x_max)), x(min(f.end_s, x_max))
        label = escape(f"{f.fault_id} ({f.kind})")
        out.append(
            f'<rect class="fault" x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{bottom - TOP}"><title>{label}: {f.start_s:g}s - {f.end_s:g}s</title></rect>'
        )
        out.append(
            f'<text class="flabel" x="{x0 + 3:.1f}" y="{TOP + 11 + 11 * (i % 2)}">{label}</text>'
        )
        if f.censored:
            out.append(
                f'<rect class="censored" x="{x1:.1f}" y="{TOP}" '
                f'width="{max(x(x_max) - x1, 1):.1f}" '
                f'height="{bottom - TOP}"><title>{escape(f.fault_id)}: never recovered '
                f"(censored)</title></rect>"
            )
            out.append(_label("clabel", x1, bottom - 6, f"{f.fault_id}: not recovered"))
        elif f.recovered_s is not None:
            xr = x(min(f.recovered_s, x_max))
            text = f"{f.fault_id} recovered +{f.recovered_s - f.end_s:.2f}s"
            out.append(
                f'<line class="recovered" x1="{xr:.1f}" y1="{TOP}" x2="{xr:.1f}" y2="{bottom}">'
                f"<title>{escape(text)}</title></line>"
            )
            out.append(_label("rlabel", xr, bottom - 6, text))
    return out


def _label(cls: str, x: float, y: float, text: str) -> str:
    """A mark's label right of ``x``, or left of it when it would run off the chart
    (about 6 px per character at the labels' size)."""
    if x + 3 + 6 * len(text) > WIDTH - RIGHT:
        return f'<text class="{cls} end" x="{x - 3:.1f}" y="{y}">{escape(text)}</text>'
    return f'<text class="{cls}" x="{x + 3:.1f}" y="{y}">{escape(text)}</text>'


def _polylines(s: Series, x: _Scale, y: _Scale, log: bool) -> list[str]:
    """One ``<polyline>`` per unbroken run of points."""
    runs: list[list[str]] = [[]]
    for t, v in s.points:
        if v is None or (log and v <= 0):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(f"{x(t):.1f},{y(v):.1f}")
    return [
        f'<polyline class="series" data-series="{escape(s.label)}" fill="none" '
        f'stroke="{s.color}" stroke-width="1.5" points="{" ".join(run)}"/>'
        for run in runs
        if run
    ]


def _legend(series: Sequence[Series]) -> list[str]:
    out = []
    px = WIDTH - RIGHT - 120 * len(series)
    for i, s in enumerate(series):
        lx = px + 120 * i
        out.append(f'<rect x="{lx}" y="8" width="14" height="4" fill="{s.color}"/>')
        out.append(f'<text x="{lx + 18}" y="14" class="tick">{escape(s.label)}</text>')
    return out
