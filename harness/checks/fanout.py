"""Delivery to every subscriber (Redis Pub/Sub, server-sent events): each message is
owed to each subscriber that was listening when it was published.

Records (see ``harness/checks/delivery.py`` for sends and receipts):

* a send ``{op: "send", key: channel, producer, seq, digest, t_start, t_end, type}``;
* a receipt ``{op: "recv", t_end, process: subscriber, key, producer, seq, digest}``;
* a subscription ``{op: "subscribe", process: subscriber, key, t_start, t_end, end}``
  written when it ended: ``t_start`` when it was confirmed, ``end`` ``"error"`` (the
  connection broke) or ``"stop"`` (the load stopped).

A message acknowledged to its publisher is *expected* by a subscriber when the publish
started after the subscription was confirmed and was acknowledged before it ended (for
a subscription ended by the stop, ``stop_grace`` before that: the stop cuts off what
was still on its way). Per (message, subscriber):

* ``lost``: owed and never received. Owed are the messages expected by the rule above
  and those acknowledged while the subscriber was between two of its subscriptions,
  reconnecting: it meant to listen throughout;
* ``lost_reconnecting``: the part of ``lost`` published while the subscriber was
  reconnecting. Pub/Sub keeps nothing for a subscriber that is away, so this is what
  at-most-once costs; the rest was lost while the subscriber thought it was listening
  (a cut connection takes what was on its way). A ``resumable`` feed (SSE with
  ``Last-Event-ID``) must replay what went out while it was away;
* ``duplicated``, ``reordered`` (per subscriber and producer), ``unexpected`` (received,
  never sent or refused) and ``corrupted`` (another digest), as for streams.

Latency is receipt minus publish start, per received (message, subscriber), overall and
per fault window (messages published from a fault's apply until the next fault applies
or the load ends: what a subscriber misses after a revert is the fault's too).

Verdict: ``fail`` on anything unexpected or corrupted, on any loss of a ``resumable``
feed, and when ``max_loss_ratio`` is set and ``lost / owed`` exceeds it;
otherwise ``pass``: at-most-once delivery is reported, not failed.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.checks.delivery import EXAMPLES, percentiles

Message = tuple[str, int]  # (producer, seq)


@dataclass
class _Subscriber:
    spans: dict[str, list[tuple[int, int, str]]] = field(default_factory=lambda: defaultdict(list))
    got: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    extra: int = 0  # receipts beyond the first of a message
    reordered: int = 0
    high: dict[str, int] = field(default_factory=dict)


def check_fanout(
    records: Iterable[dict[str, Any]],
    windows: Sequence[tuple[str, int, int]] = (),
    max_loss_ratio: float | None = None,
    resumable: bool = False,
    stop_grace_s: float = 0.5,
) -> dict[str, Any]:
    """``windows``: (fault id, from ns, to ns) over which publishes are attributed."""
    sends: dict[str, list[tuple[int, int, str, int]]] = defaultdict(list)  # acked, per key
    sent: dict[str, dict[int, tuple[str, str | None]]] = defaultdict(dict)
    subs: dict[str, _Subscriber] = defaultdict(_Subscriber)
    receipts: list[tuple[str, str, int, str | None]] = []
    for rec in records:
        op = rec.get("op")
        if op == "recv":
            sub = subs[rec["process"]]
            producer, seq = rec["producer"], rec["seq"]
            seen = sub.got[producer]
            if seq in seen:
                sub.extra += 1
            else:
                seen[seq] = rec["t_end"]
            if seq < sub.high.get(producer, -1):
                sub.reordered += 1
            else:
                sub.high[producer] = seq
            receipts.append((rec["process"], producer, seq, rec.get("digest")))
        elif op == "send":
            sent[rec["producer"]][rec["seq"]] = (rec["type"], rec["digest"])
            if rec["type"] == "ok":
                sends[rec["key"]].append(
                    (rec["t_start"], rec["t_end"], rec["producer"], rec["seq"])
                )
        elif op == "subscribe":
            subs[rec["process"]].spans[rec["key"]].append(
                (rec["t_start"], rec["t_end"], rec.get("end", "error"))
            )

    unexpected: set[Message] = set()
    corrupted: set[Message] = set()
    for _, producer, seq, dig in receipts:
        send = sent.get(producer, {}).get(seq)
        if send is None or send[0] == "fail":
            unexpected.add((producer, seq))
        elif send[1] != dig:
            corrupted.add((producer, seq))

    grace_ns = int(stop_grace_s * 1e9)
    latency: dict[int, int] = defaultdict(int)
    per_window: list[tuple[str, int, int, dict[int, int], list[int]]] = [
        (fid, a, b, defaultdict(int), [0, 0, 0]) for fid, a, b in windows
    ]
    totals = {"owed": 0, "received": 0, "lost": 0, "lost_reconnecting": 0}
    lost_examples: list[str] = []
    subscribers = []
    ordered = {key: sorted(v) for key, v in sends.items()}
    starts_of = {key: [p[0] for p in v] for key, v in ordered.items()}
    for name in sorted(subs):
        sub = subs[name]
        owed = received = lost = lost_reconnecting = 0
        for key, spans in sub.spans.items():
            spans.sort()
            ends = [(b - grace_ns if how == "stop" else b) for _, b, how in spans]
            begins = [s[0] for s in spans]
            published = ordered.get(key, [])
            first, last = spans[0][0], ends[-1]
            start = bisect.bisect_left(starts_of.get(key, []), first)
            for t_start, t_end, producer, seq in published[start:]:
                if t_end > last:
                    continue  # t_start order: later ones may still have ended in time
                owed += 1
                of_producer = sub.got.get(producer)
                at = None if of_producer is None else of_producer.get(seq)
                covered = True
                if at is not None:
                    received += 1
                    latency[max(at - t_start, 0) // 1000] += 1
                else:
                    i = bisect.bisect_right(begins, t_start) - 1
                    covered = i >= 0 and t_end <= ends[i]
                    lost += 1
                    lost_reconnecting += not covered
                    if len(lost_examples) < EXAMPLES:
                        lost_examples.append(f"{producer}:{seq}->{name}")
                for _, a, b, hist, counts in per_window:
                    if a <= t_start < b:
                        counts[0] += 1
                        if at is None:
                            counts[1] += 1
                            counts[2] += not covered
                        else:
                            hist[max(at - t_start, 0) // 1000] += 1
        row = {
            "owed": owed,
            "received": received,
            "lost": lost,
            "lost_reconnecting": lost_reconnecting,
        }
        for k in totals:
            totals[k] += row[k]
        subscriptions = max((len(s) for s in sub.spans.values()), default=0)
        subscribers.append({"subscriber": name, **row, "subscriptions": subscriptions})

    loss_ratio = round(totals["lost"] / totals["owed"], 6) if totals["owed"] else 0.0
    too_lossy = max_loss_ratio is not None and loss_ratio > max_loss_ratio
    failed = unexpected or corrupted or too_lossy or (resumable and totals["lost"])
    acked = sum(len(v) for v in sends.values())
    return {
        "verdict": "fail" if failed else "pass",
        "mode": "resumable" if resumable else "pubsub",
        "sent": sum(map(len, sent.values())),
        "acked": acked,
        "info": sum(1 for m in sent.values() for t, _ in m.values() if t == "info"),
        "subscribers": len(subscribers),
        **totals,
        "duplicates": sum(s.extra for s in subs.values()),
        "reordered": sum(s.reordered for s in subs.values()),
        "unexpected": len(unexpected),
        "corrupted": len(corrupted),
        "loss_ratio": loss_ratio,
        "max_loss_ratio": max_loss_ratio,
        "latency_ms": percentiles(latency),
        "per_subscriber": subscribers,
        "faults": [
            {
                "id": fid,
                "owed": counts[0],
                "lost": counts[1],
                "lost_reconnecting": counts[2],
                "loss_ratio": round(counts[1] / counts[0], 6) if counts[0] else 0.0,
                "latency_ms": percentiles(hist),
            }
            for fid, _, _, hist, counts in per_window
        ],
        "examples": {
            name: found
            for name, found in (
                ("lost", lost_examples),
                ("unexpected", [f"{p}:{q}" for p, q in sorted(unexpected)[:EXAMPLES]]),
                ("corrupted", [f"{p}:{q}" for p, q in sorted(corrupted)[:EXAMPLES]]),
            )
            if found
        },
    }
