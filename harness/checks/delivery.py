"""Delivery of messages through a consumer group (Redis Streams): what producers sent
against what consumers received, from the history alone. Fan-out delivery, where every
subscriber is owed every message (Pub/Sub, server-sent events), is
``harness/checks/fanout.py``.

Record shapes (see ``harness/history.py``):

* a send: ``{op: "send", t_start, t_end, process, key: stream|channel, producer, seq,
  digest, type, error}`` with ``type`` ``ok`` (acknowledged: XADD returned an id,
  PUBLISH returned), ``fail`` or ``info``;
* a receipt: ``{op: "recv", t_end, process: consumer, key, producer, seq, digest}``,
  one per delivery (a redelivered or reclaimed message is received again);
* the drain at the end: ``{op: "drain", type, pending}``: entries still pending in the
  consumer group when it gave up (0 when drained).

Counted per message (a producer's ``seq``):

* ``lost``: acknowledged, never received;
* ``duplicated``: received more than once (``duplicates`` counts the extra receipts);
* ``reordered``: receipts at one consumer of a stream that came after a later message
  of the same producer;
* ``unexpected``: received but never sent, or sent and refused (``fail``);
* ``corrupted``: received with a digest other than the one sent;
* ``recovered``: received though its send was indeterminate (``info``);
* ``pending``: left pending after the drain.

Latency is receipt time minus send start, per message (its first receipt), overall
and for the messages sent during each fault window. ``per_producer`` gives the counts
for each producer (a producer seen only in receipts is there too, with nothing sent).

Verdict (at-least-once): ``fail`` on any lost, unexpected or corrupted message or
anything pending after the drain, ``unknown`` if the drain did not finish; duplicates
and reordering are reported, not failed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from harness.windows import new_histogram, percentile_ms, record_latency

EXAMPLES = 10


def check_delivery(
    records: Iterable[dict[str, Any]],
    windows: Sequence[tuple[str, int, int]] = (),
) -> dict[str, Any]:
    """``windows``: (fault id, applied ns, reverted ns) for the per-fault figures."""
    # Nested by producer, then seq: string hashes are cached and int hashes free, where
    # a (producer, seq) tuple would be built and hashed at every lookup. A million
    # messages take a couple of seconds (docs/benchmarks.md).
    sent: dict[str, dict[int, tuple[str, str | None, int]]] = defaultdict(dict)
    first: dict[str, dict[int, int]] = defaultdict(dict)  # first receipt time
    times: dict[str, dict[int, int]] = defaultdict(dict)  # receipts beyond the first
    # stream -> consumer -> producer -> highest seq received so far
    high: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    # Receipts recorded before their send (a consumer can be faster than the producer's
    # record of the acknowledgement) are judged once every send is read.
    later: list[tuple[str, int, str | None]] = []
    unexpected: list[tuple[str, int]] = []
    corrupted: list[tuple[str, int]] = []
    reordered = 0
    reordered_by: dict[str, int] = defaultdict(int)
    received = 0
    drained: bool | None = None
    pending = 0
    for rec in records:
        op = rec.get("op")
        if op == "recv":
            received += 1
            producer = rec["producer"]
            seq = rec["seq"]
            seen = first[producer]
            if seq in seen:
                extra = times[producer]
                extra[seq] = extra.get(seq, 0) + 1
            else:
                seen[seq] = rec["t_end"]
            last = high[rec["key"]][rec["process"]]
            if seq < last.get(producer, -1):
                reordered += 1
                reordered_by[producer] += 1
            else:
                last[producer] = seq
            of_producer = sent.get(producer)
            send = None if of_producer is None else of_producer.get(seq)
            if send is None:
                later.append((producer, seq, rec["digest"]))
            elif send[0] == "fail":
                unexpected.append((producer, seq))
            elif send[1] != rec["digest"]:
                corrupted.append((producer, seq))
        elif op == "send":
            sent[rec["producer"]][rec["seq"]] = (rec["type"], rec["digest"], rec["t_start"])
        elif op == "drain":
            drained = rec["type"] == "ok"
            pending = int(rec.get("pending") or 0)

    for producer, seq, digest in later:
        send = sent[producer].get(seq) if producer in sent else None
        if send is None or send[0] == "fail":
            unexpected.append((producer, seq))
        elif send[1] != digest:
            corrupted.append((producer, seq))

    # Latencies are counted per distinct microsecond value and go into the HDR
    # histograms once per value: the same percentiles at a fraction of the cost.
    latency: dict[int, int] = defaultdict(int)
    spans: list[tuple[str, int, int, dict[int, int], list[int]]] = [
        (fid, a, r, defaultdict(int), [0, 0]) for fid, a, r in windows
    ]
    lost: list[tuple[str, int]] = []
    acked = info = recovered = 0
    # (acked, info, recovered, lost) of each producer's messages.
    counted: dict[str, tuple[int, int, int, int]] = {}
    for producer, messages in sent.items():
        acked0, info0, recovered0, lost0 = acked, info, recovered, len(lost)
        got = first.get(producer, {})
        for seq, (type_, _, t_start) in messages.items():
            at = got.get(seq)
            if type_ == "ok":
                acked += 1
                if at is None:
                    lost.append((producer, seq))
            elif type_ == "info":
                info += 1
                if at is not None:
                    recovered += 1
            micros = None if at is None or type_ == "fail" else max(at - t_start, 0) // 1000
            if micros is not None:
                latency[micros] += 1
            for _, applied, reverted, hist, counts in spans:
                if applied <= t_start <= reverted:
                    if type_ == "ok":
                        counts[0] += 1
                        counts[1] += at is None
                    if micros is not None:
                        hist[micros] += 1
        counted[producer] = (
            acked - acked0,
            info - info0,
            recovered - recovered0,
            len(lost) - lost0,
        )

    duplicated = [(p, q) for p, extra in times.items() for q in extra]
    per_producer = _per_producer(sent, first, times, reordered_by, unexpected, corrupted, counted)
    n_lost = len(lost)
    loss_ratio = round(n_lost / acked, 6) if acked else 0.0
    if drained is not True:
        verdict = "unknown"
    elif lost or unexpected or corrupted or pending:
        verdict = "fail"
    else:
        verdict = "pass"
    return {
        "verdict": verdict,
        "mode": "streams",
        "sent": sum(map(len, sent.values())),
        "acked": acked,
        "info": info,
        "received": received,
        "lost": n_lost,
        "duplicated": len(duplicated),
        "duplicates": sum(sum(extra.values()) for extra in times.values()),
        "reordered": reordered,
        "unexpected": len(unexpected),
        "corrupted": len(corrupted),
        "recovered": recovered,
        "pending": pending,
        "loss_ratio": loss_ratio,
        "latency_ms": percentiles(latency),
        "per_producer": per_producer,
        "faults": [
            {
                "id": fid,
                "acked": counts[0],
                "lost": counts[1],
                "loss_ratio": round(counts[1] / counts[0], 6) if counts[0] else 0.0,
                "latency_ms": percentiles(hist),
            }
            for fid, _, _, hist, counts in spans
        ],
        "examples": {
            name: [f"{p}:{q}" for p, q in sorted(found)[:EXAMPLES]]
            for name, found in (
                ("lost", lost),
                ("unexpected", unexpected),
                ("corrupted", corrupted),
                ("duplicated", duplicated),
            )
            if found
        },
    }


def _per_producer(
    sent: dict[str, dict[int, tuple[str, str | None, int]]],
    first: dict[str, dict[int, int]],
    times: dict[str, dict[int, int]],
    reordered_by: dict[str, int],
    unexpected: list[tuple[str, int]],
    corrupted: list[tuple[str, int]],
    counted: dict[str, tuple[int, int, int, int]],
) -> list[dict[str, Any]]:
    """One row per producer, from what ``check_delivery`` gathered."""
    odd: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # unexpected, corrupted
    for column, found in enumerate((unexpected, corrupted)):
        for producer, _ in found:
            odd[producer][column] += 1
    rows = []
    for producer in sorted(set(sent) | set(first)):
        acked, info, recovered, lost = counted.get(producer, (0, 0, 0, 0))
        extra = times.get(producer, {})
        rows.append(
            {
                "producer": producer,
                "sent": len(sent.get(producer, ())),
                "acked": acked,
                "info": info,
                "received": len(first.get(producer, ())) + sum(extra.values()),
                "lost": lost,
                "duplicated": len(extra),
                "reordered": reordered_by.get(producer, 0),
                "unexpected": odd[producer][0],
                "corrupted": odd[producer][1],
                "recovered": recovered,
            }
        )
    return rows


def percentiles(micros: dict[int, int]) -> dict[str, float | None]:
    hist = new_histogram()
    for value, count in micros.items():
        record_latency(hist, value * 1000, count)
    return {f"p{p}": percentile_ms(hist, p) for p in (50, 95, 99)}
