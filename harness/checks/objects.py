"""Integrity of objects: the ledger of uploads and deletes in the history against the
reads made during the run and the final sweep after heal.

Per key, from the history alone:

* ``lost``: an acknowledged upload, no delete that may have happened after it, and the
  sweep found no object;
* ``corrupted``: the sweep read bytes that no upload of the key ever sent;
* ``stale``: the bytes of an upload that an acknowledged later upload had replaced
  (a lost update);
* ``unexpected``: an object under the run's prefix that was never uploaded, or whose
  every upload was refused (``fail``);
* ``resurrected``: present though an acknowledged delete came after its last upload;
* ``recovered``: present and intact though its upload was indeterminate (``info``).

Reads during the run count as ``read_corrupted`` (bytes that match no version of the
key written before the read ended) and ``read_lost`` (no object, though an upload was
acknowledged before the read began and no delete had started). Digests are SHA-256 of
the bytes; ETags are never used.

The verdict is ``unknown`` when the sweep could not read everything, ``fail`` when any
count above other than ``recovered`` is non-zero, else ``pass``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

EXAMPLES = 10
WRITES = ("put", "populate")


@dataclass(frozen=True)
class _Op:
    t_start: int
    t_end: int
    type: str
    digest: str | None


def check_objects(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    puts: dict[str, list[_Op]] = defaultdict(list)
    deletes: dict[str, list[_Op]] = defaultdict(list)
    gets: list[dict[str, Any]] = []
    final: dict[str, str | None] = {}
    swept = False
    sweep_failed = False
    for rec in records:
        op = rec.get("op")
        if op in WRITES:
            puts[rec["key"]].append(_Op(rec["t_start"], rec["t_end"], rec["type"], rec["digest"]))
        elif op == "delete":
            deletes[rec["key"]].append(_Op(rec["t_start"], rec["t_end"], rec["type"], None))
        elif op == "get":
            gets.append(rec)
        elif op == "sweep-list":
            swept = swept or rec["type"] == "ok"
            sweep_failed = sweep_failed or rec["type"] != "ok"
        elif op == "sweep-get":
            if rec["type"] == "ok":
                final.update(rec["values"])
            else:
                sweep_failed = True

    counts = dict.fromkeys(
        (
            "acked",
            "info",
            "deleted",
            "lost",
            "corrupted",
            "stale",
            "unexpected",
            "resurrected",
            "recovered",
        ),
        0,
    )
    examples: dict[str, list[str]] = defaultdict(list)

    def note(kind: str, key: str) -> None:
        counts[kind] += 1
        if len(examples[kind]) < EXAMPLES:
            examples[kind].append(key)

    for key, writes in puts.items():
        if any(w.type == "ok" for w in writes):
            counts["acked"] += 1
        elif any(w.type == "info" for w in writes):
            counts["info"] += 1
        if key not in final:
            continue  # never read back (the sweep failed part-way)
        judge = _judge(writes, deletes.get(key, []), final[key])
        if judge is not None:
            note(judge, key)
    counts["deleted"] = sum(any(d.type == "ok" for d in ds) for ds in deletes.values())
    for key, digest in final.items():
        if key not in puts and digest is not None:
            note("unexpected", key)

    read_lost = read_corrupted = 0
    read_examples: dict[str, list[str]] = defaultdict(list)
    for rec in gets:
        verdict = _judge_read(rec, puts.get(rec["key"], []), deletes.get(rec["key"], []))
        if verdict == "read_lost":
            read_lost += 1
        elif verdict == "read_corrupted":
            read_corrupted += 1
        if verdict and len(read_examples[verdict]) < EXAMPLES:
            read_examples[verdict].append(rec["key"])

    bad = sum(counts[k] for k in ("lost", "corrupted", "stale", "unexpected", "resurrected"))
    if not swept or sweep_failed:
        verdict = "unknown"
    elif bad or read_lost or read_corrupted:
        verdict = "fail"
    else:
        verdict = "pass"
    return {
        "verdict": verdict,
        **counts,
        "read_lost": read_lost,
        "read_corrupted": read_corrupted,
        "examples": {k: v for k, v in {**examples, **read_examples}.items() if v},
    }


def _judge(writes: list[_Op], deletes: list[_Op], found: str | None) -> str | None:
    """What the sweep's finding means for one key (None: as expected)."""
    acked = [w for w in writes if w.type == "ok"]
    possible = [w for w in writes if w.type != "fail"]
    # A delete acknowledged after every write had ended leaves nothing behind.
    last_write_end = max((w.t_end for w in possible), default=None)
    deleted = any(
        d.type == "ok" and (last_write_end is None or d.t_start > last_write_end) for d in deletes
    )
    maybe_deleted = any(d.type != "fail" for d in deletes)
    if found is None:
        if acked and not maybe_deleted:
            return "lost"
        return None
    if deleted:
        return "resurrected"
    if not possible:
        return "unexpected"
    # The versions the object may hold: writes not followed by an acknowledged write
    # that began after they ended.
    current = {w.digest for w in possible if not any(a.t_start > w.t_end for a in acked)}
    if found in current:
        return None if acked else "recovered"
    if any(w.digest == found for w in possible):
        return "stale"
    return "corrupted"


def _judge_read(rec: dict[str, Any], writes: list[_Op], deletes: list[_Op]) -> str | None:
    if rec["type"] == "ok" and rec.get("digest") is None:
        return None
    digest = rec.get("digest")
    if digest is not None:
        known = {w.digest for w in writes if w.type != "fail" and w.t_start < rec["t_end"]}
        return None if digest in known else "read_corrupted"
    if rec.get("missing"):
        acked_before = any(w.type == "ok" and w.t_end < rec["t_start"] for w in writes)
        delete_begun = any(d.type != "fail" and d.t_start < rec["t_end"] for d in deletes)
        if acked_before and not delete_begun:
            return "read_lost"
    return None
