"""Operator notes: what a person decided or said during a game day, kept in the history.

Each note is one history record ``{op: "operator", ...}`` written by the game-day gate
(``harness/gameday.py``); ``result.json`` gets them back as ``operator_notes``, a list of
``{at, t_s, fault_id, decision, note}`` in the order they were made.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

NOTE_OP = "operator"
Decision = Literal["go", "skip", "abort", "note"]
NOTE_FIELDS = ("at", "t_s", "fault_id", "decision", "note")


def note_record(
    wall: float, t_s: float | None, fault_id: str | None, decision: Decision, note: str
) -> dict[str, Any]:
    """The history record of one note; ``wall`` a Unix time, ``t_s`` seconds since the
    load started (None before it did)."""
    return {
        "op": NOTE_OP,
        "at": datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds"),
        "t_s": None if t_s is None else round(t_s, 3),
        "fault_id": fault_id,
        "decision": decision,
        "note": note,
    }


def operator_notes(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The notes of a history, as ``result.json``'s ``operator_notes`` rows."""
    return [{k: r.get(k) for k in NOTE_FIELDS} for r in records if r.get("op") == NOTE_OP]
