"""Small formatting helpers shared by the report writers: numbers, faults, budgets."""

from __future__ import annotations

import re
from typing import Any

# SLO rows for a fault's recovery are named ``time_to_recover_s[<fault id>]``.
_RECOVER_ROW = re.compile(r"^time_to_recover_s\[(?P<id>.+)\]$")
_LIMIT = re.compile(r"^\s*<=\s*(?P<limit>[0-9.eE+-]+)\s*$")


def num(value: Any, unit: str = "") -> str:
    """A value for a table cell: ``-`` for none, floats without trailing zeros."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") + unit
    return f"{value}{unit}"


def target_text(fault: dict[str, Any]) -> str:
    target = fault.get("target", "-")
    return target if isinstance(target, str) else ", ".join(target)


def recovered_at_s(fault: dict[str, Any]) -> float | None:
    """Seconds into the run when the fault's service was healthy again, if it was."""
    reverted, ttr = fault.get("reverted_at_s"), fault.get("time_to_recover_s")
    if reverted is None or ttr is None or fault.get("censored"):
        return None
    return float(reverted) + float(ttr)


def recovery_text(fault: dict[str, Any]) -> str:
    """How the fault's recovery reads in a table: a time, ``never (censored)``,
    ``skipped (why)`` or ``-``."""
    if fault.get("skipped"):
        return f"skipped ({fault['skipped']})"
    if fault.get("applied_at_s") is None or fault.get("reverted_at_s") is None:
        return "-"
    if fault.get("censored"):
        return "never (censored)"
    return num(fault.get("time_to_recover_s"), "s")


def recovery_slos(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The SLO rows that are a fault's recovery budget, by fault id."""
    rows = {}
    for row in result.get("slo") or []:
        match = _RECOVER_ROW.match(str(row.get("name", "")))
        if match:
            rows[match["id"]] = row
    return rows


def budget_s(row: dict[str, Any]) -> float | None:
    """The number in a ``<= N`` threshold, if it is one."""
    match = _LIMIT.match(str(row.get("threshold", "")))
    return float(match["limit"]) if match else None


def counts_of(check: dict[str, Any]) -> dict[str, Any]:
    """A checker's scalar counts (its verdict, examples and nested tables left out)."""
    return {
        k: v
        for k, v in check.items()
        if k not in ("verdict", "examples") and not isinstance(v, dict | list)
    }


def examples_of(check: dict[str, Any], limit: int = 10) -> dict[str, list[str]]:
    """Example keys per kind of finding (lost, corrupted...), at most ``limit`` each."""
    found = check.get("examples") or {}
    if not isinstance(found, dict):
        return {}
    return {str(kind): [str(k) for k in keys[:limit]] for kind, keys in found.items() if keys}


COMPARISON_HEADS = ["metric", "old", "new", "change", "tolerance", "verdict"]


def comparison_rows(r: dict[str, Any], judged_only: bool = False) -> list[list[Any]]:
    """The rows of a ``--compare-last`` comparison (``judged_only``: without the metrics
    shown but not judged)."""
    metrics = (r.get("comparison") or {}).get("metrics") or []
    return [
        [str(m.get(k)) if k != "old" and k != "new" else m.get(k) for k in COMPARISON_HEADS]
        for m in metrics
        if not (judged_only and m.get("verdict") == "info")
    ]
