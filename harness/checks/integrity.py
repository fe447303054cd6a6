"""Integrity of key-value writes: acknowledged writes against a final read after heal.

* ``lost``: acknowledged, missing at the final read;
* ``corrupted``: present with a digest other than the one written;
* ``unexpected``: present though never written (or written and refused with ``fail``);
* ``recovered``: present and correct though its write was indeterminate (``info``).

Reads during the run are checked too: a GET of an acknowledged key that came back
empty or different counts in ``read_lost`` / ``read_corrupted``.

The verdict is ``unknown`` when the final read never fully succeeded, ``fail`` when
anything was lost, corrupted or unexpected or a read saw an acknowledged key missing
or changed, else ``pass``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

EXAMPLES = 10


def check_integrity(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    writes: dict[str, tuple[str, str]] = {}  # key -> (digest, type)
    gets: list[dict[str, Any]] = []
    final: dict[str, str | None] = {}
    unattempted: list[str] = []
    final_ok = False
    final_failed = False
    for rec in records:
        op = rec.get("op")
        if op == "set":
            writes[rec["key"]] = (rec["digest"], rec["type"])
        elif op == "get" and rec.get("type") == "ok":
            gets.append(rec)
        elif op == "final-read":
            if rec["type"] == "ok":
                final.update(rec["values"])
                final_ok = True
            else:
                final_failed = True
        elif op == "final-scan":
            if rec["type"] == "ok":
                unattempted.extend(rec.get("unattempted", []))
                final_ok = True  # with nothing to read back, the scan is the final read
            else:
                final_failed = True

    examples: dict[str, list[str]] = {k: [] for k in ("lost", "corrupted", "unexpected")}
    counts = {"acked": 0, "info": 0, "lost": 0, "corrupted": 0, "unexpected": 0, "recovered": 0}

    def note(kind: str, key: str) -> None:
        counts[kind] += 1
        if len(examples[kind]) < EXAMPLES:
            examples[kind].append(key)

    for key, (expected, type_) in writes.items():
        present = key in final and final[key] is not None
        if type_ == "ok":
            counts["acked"] += 1
            if key not in final:
                continue  # not read back (the final read failed part-way)
            if not present:
                note("lost", key)
            elif final[key] != expected:
                note("corrupted", key)
        elif type_ == "info":
            counts["info"] += 1
            if present and final[key] == expected:
                counts["recovered"] += 1
            elif present:
                note("corrupted", key)
        elif present:
            note("unexpected", key)
    for key in unattempted:
        note("unexpected", key)

    read_lost = read_corrupted = 0
    for rec in gets:
        written = writes.get(rec["key"])
        if written is None or written[1] != "ok":
            continue
        if rec["digest"] is None:
            read_lost += 1
        elif rec["digest"] != written[0]:
            read_corrupted += 1

    if not final_ok or final_failed:
        verdict = "unknown"
    elif (
        counts["lost"] or counts["corrupted"] or counts["unexpected"] or read_lost or read_corrupted
    ):
        verdict = "fail"
    else:
        verdict = "pass"
    return {
        "verdict": verdict,
        **counts,
        "read_lost": read_lost,
        "read_corrupted": read_corrupted,
        "examples": {k: v for k, v in examples.items() if v},
    }
