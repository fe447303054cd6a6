"""Per-operation statistics from the history: by operation type and by size class,
access counts per object, and the first acknowledged write after each fault's revert.

All pure functions of history records (see ``harness/history.py``).
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.windows import new_histogram, percentile_ms, record_latency

ALL = "all"


class _Group:
    __slots__ = ("bytes", "fail", "hist", "info", "ok")

    def __init__(self) -> None:
        self.ok = self.fail = self.info = self.bytes = 0
        self.hist = new_histogram()

    def add(self, rec: dict[str, Any]) -> None:
        type_ = rec["type"]
        if type_ == "ok":
            self.ok += 1
            self.bytes += rec.get("size") or 0
            record_latency(self.hist, rec["t_end"] - rec["t_start"])
        elif type_ == "fail":
            self.fail += 1
        else:
            self.info += 1

    def row(self, op: str, size_class: str, duration_s: float) -> dict[str, Any]:
        ops = self.ok + self.fail + self.info
        return {
            "op": op,
            "size_class": size_class,
            "ops": ops,
            "ok": self.ok,
            "fail": self.fail,
            "info": self.info,
            "success_rate": round(self.ok / ops, 4) if ops else None,
            "ops_s": round(self.ok / duration_s, 2) if duration_s else None,
            "mb_s": round(self.bytes / duration_s / 1e6, 3) if duration_s else None,
            "p50_ms": percentile_ms(self.hist, 50),
            "p95_ms": percentile_ms(self.hist, 95),
            "p99_ms": percentile_ms(self.hist, 99),
        }


def breakdown(
    records: Iterable[dict[str, Any]], ops: Iterable[str], duration_s: float
) -> list[dict[str, Any]]:
    """One row per operation type (``size_class`` "all") and, where records carry a
    ``class``, one per (operation, size class): ops, ok/fail/info, success rate, acked
    ops/s, MB/s of acknowledged bytes, and latency percentiles of acknowledged ops."""
    wanted = set(ops)
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    for rec in records:
        op = rec.get("op")
        if op not in wanted:
            continue
        groups[(op, ALL)].add(rec)
        size_class = rec.get("class")
        if size_class is not None:
            groups[(op, size_class)].add(rec)
    order = {op: i for i, op in enumerate(ops)}
    keys = sorted(groups, key=lambda k: (order.get(k[0], 99), k[1] != ALL, k[1]))
    # A class row that only repeats its operation's total adds nothing.
    classes_per_op: dict[str, int] = defaultdict(int)
    for op, size_class in keys:
        classes_per_op[op] += size_class != ALL
    return [
        groups[(op, c)].row(op, c, duration_s)
        for op, c in keys
        if c == ALL or classes_per_op[op] > 1
    ]


def class_breakdown(
    records: Iterable[dict[str, Any]], ops: Iterable[str], duration_s: float
) -> list[dict[str, Any]]:
    """For workloads of user classes (``http.users``): one row per class (``task``
    "all") and one per (class, task), with the users the class started, its share of
    the class's requests, and the same counts and percentiles as ``breakdown``."""
    wanted = set(ops)
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    users: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        user_class = rec.get("user_class")
        if user_class is None:
            continue
        if rec.get("op") == "user":
            users[user_class].add(rec["process"])
        elif rec.get("op") in wanted:
            groups[(user_class, ALL)].add(rec)
            groups[(user_class, rec["task"])].add(rec)
    rows = []
    for user_class, name in sorted(groups, key=lambda k: (k[0], k[1] != ALL, k[1])):
        row = groups[(user_class, name)].row("", name, duration_s)
        total = groups[(user_class, ALL)]
        share = row["ops"] / (total.ok + total.fail + total.info)
        del row["op"], row["size_class"], row["mb_s"]
        rows.append(
            {
                "user_class": user_class,
                "task": name,
                "users": len(users[user_class]),
                "share": round(share, 4),
                **row,
            }
        )
    return rows


def access_counts(records: Iterable[dict[str, Any]], prefix: str) -> dict[str, dict[str, int]]:
    """Reads and writes per object key under ``prefix`` (the shared pool)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"get": 0, "put": 0})
    for rec in records:
        op = rec.get("op")
        if op in ("get", "put") and str(rec.get("key", "")).startswith(prefix):
            counts[rec["key"]][op] += 1
    return dict(counts)


def access_summary(counts: dict[str, dict[str, int]], top: int = 5) -> dict[str, Any]:
    """Spread of reads and writes over the objects, and the most read ones."""
    if not counts:
        return {"objects": 0}
    reads = [c["get"] for c in counts.values()]
    writes = [c["put"] for c in counts.values()]

    def spread(values: list[int]) -> dict[str, float]:
        return {
            "min": min(values),
            "median": statistics.median(values),
            "max": max(values),
            "mean": round(statistics.fmean(values), 2),
        }

    hottest = sorted(counts.items(), key=lambda kv: (-kv[1]["get"], kv[0]))[:top]
    return {
        "objects": len(counts),
        "reads": spread(reads),
        "writes": spread(writes),
        "hottest": [{"key": k, "reads": c["get"], "writes": c["put"]} for k, c in hottest],
    }


def write_access_csv(path: Path, counts: dict[str, dict[str, int]]) -> None:
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["key", "reads", "writes"])
        for key in sorted(counts):
            out.writerow([key, counts[key]["get"], counts[key]["put"]])


def first_write_after(
    records: list[dict[str, Any]], write_ops: Iterable[str], t0_ns: int, revert_s: float
) -> float | None:
    """Seconds from ``revert_s`` to the first write acknowledged after it."""
    wanted = set(write_ops)
    revert_ns = t0_ns + int(revert_s * 1e9)
    first = min(
        (
            r["t_end"]
            for r in records
            if r.get("op") in wanted and r.get("type") == "ok" and r["t_end"] >= revert_ns
        ),
        default=None,
    )
    return None if first is None else round((first - revert_ns) / 1e9, 4)
