"""Benchmark 7: delivery-checker speed (consumer group and fan-out).

A synthetic history of one million messages (8 producers, 4 consumers of one stream;
0.1% of the acknowledged messages never received, 1% received twice, 1% arriving
after a later message of their producer) is written with the harness's history writer,
then checked: the checker alone on parsed records (the target), and the whole path
from the file (JSON parsing included). The planted losses, duplicates and reorderings
are checked against what the checker reports, so a fast but wrong checker fails too.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from common import Check, Section, median, table

from harness.checks.delivery import check_delivery
from harness.checks.fanout import check_fanout
from harness.history import HistoryWriter, read_history

TARGET_S = 3.0
FULL = (1_000_000, 3)
QUICK = (200_000, 2)
PRODUCERS = 8
CONSUMERS = 4


def synthetic_history(path: Path, messages: int, seed: int = 1) -> dict[str, int]:
    """Write the history; returns what was planted."""
    rng = random.Random(seed)
    writer = HistoryWriter(path, buffer_bytes=1 << 20)
    planted = {"lost": 0, "duplicated": 0, "reordered": 0}
    held: dict[str, dict[str, Any]] = {}
    t = 0
    for i in range(messages):
        producer = f"p{i % PRODUCERS}"
        seq = i // PRODUCERS
        digest = f"{i:016x}"
        t += 1000
        writer.write_op(
            {
                "t_start": t,
                "t_end": t + 500,
                "process": producer,
                "op": "send",
                "key": "stream",
                "digest": digest,
                "type": "ok",
                "error": None,
                "producer": producer,
                "seq": seq,
            }
        )
        roll = rng.random()
        if roll < 0.001:
            planted["lost"] += 1
            continue
        receipt = {
            "t_end": t + 2_000_000 + rng.randrange(1_000_000),
            "process": f"c{(i % PRODUCERS) % CONSUMERS}",  # a producer's messages: one consumer
            "op": "recv",
            "key": "stream",
            "producer": producer,
            "seq": seq,
            "digest": digest,
        }
        if roll < 0.011 and producer not in held:
            held[producer] = receipt  # delivered after the producer's next message
            continue
        writer.write(receipt)
        late = held.pop(producer, None)
        if late is not None:
            planted["reordered"] += 1
            writer.write(late)
        if roll > 0.99:
            planted["duplicated"] += 1  # redelivered to the next consumer
            writer.write({**receipt, "process": f"c{(i % PRODUCERS + 1) % CONSUMERS}"})
    for late in held.values():  # the last message of its producer: not reordered
        writer.write(late)
    writer.write({"op": "drain", "type": "ok", "pending": 0})
    writer.close()
    return planted


SUBSCRIBERS = 4


def fanout_records(messages: int, seed: int = 2) -> tuple[list[dict[str, Any]], int]:
    """Pub/Sub: ``messages`` sends each received by 4 subscribers (one receipt per pair),
    0.1% of the pairs never received; every subscriber subscribed throughout. Returns
    the records and the planted number of lost pairs."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    lost = 0
    for i in range(messages):
        t = (i + 1) * 1000
        producer, seq = f"p{i % PRODUCERS}", i // PRODUCERS
        records.append(
            {
                "op": "send",
                "t_start": t,
                "t_end": t + 500,
                "key": "ch",
                "producer": producer,
                "seq": seq,
                "digest": "d",
                "type": "ok",
            }
        )
        for s in range(SUBSCRIBERS):
            if rng.random() < 0.001:
                lost += 1
                continue
            records.append(
                {
                    "op": "recv",
                    "t_end": t + 2000,
                    "process": f"s{s}",
                    "key": "ch",
                    "producer": producer,
                    "seq": seq,
                    "digest": "d",
                }
            )
    end = (messages + 10) * 1000
    records += [
        {"op": "subscribe", "process": f"s{s}", "key": "ch", "t_start": 0, "t_end": end}
        for s in range(SUBSCRIBERS)
    ]
    return records, lost


def run(work: Path, quick: bool) -> Section:
    messages, repeats = QUICK if quick else FULL
    path = work / "delivery" / "history.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    planted = synthetic_history(path, messages)
    records = list(read_history(path))
    check_times, file_times = [], []
    result: dict[str, Any] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        result = check_delivery(records)
        check_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        check_delivery(read_history(path))
        file_times.append(time.perf_counter() - start)
    correct = (
        result["lost"] == planted["lost"]
        and result["duplicated"] == planted["duplicated"]
        and result["reordered"] == planted["reordered"]
        and result["sent"] == messages
    )
    size_mb = path.stat().st_size / 1e6
    rows = [
        ["checker on parsed records", f"{median(check_times):.2f}", f"{max(check_times):.2f}"],
        ["read the file + checker", f"{median(file_times):.2f}", f"{max(file_times):.2f}"],
    ]
    body = [
        f"{messages:,} messages ({len(records):,} history records, {size_mb:.0f} MB): "
        f"{PRODUCERS} producers, {CONSUMERS} consumers of one stream; planted "
        f"{planted['lost']} lost, {planted['duplicated']} duplicated, "
        f"{planted['reordered']} reordered at their consumer. {repeats} repeats.",
        "",
        *table(["what", "median s", "max s"], rows),
        "",
        f"The checker reported lost {result['lost']}, duplicated {result['duplicated']}, "
        f"reordered {result['reordered']}, verdict {result['verdict']} "
        f"({'matches the planted faults' if correct else 'DOES NOT match the planted faults'}).",
    ]
    fan_messages = messages // SUBSCRIBERS
    fan_records, fan_lost = fanout_records(fan_messages)
    fan_times = []
    fan: dict[str, Any] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        fan = check_fanout(fan_records)
        fan_times.append(time.perf_counter() - start)
    fan_correct = fan["lost"] == fan_lost and fan["owed"] == fan_messages * SUBSCRIBERS
    body += [
        "",
        f"Fan-out (Pub/Sub): {fan_messages:,} messages to {SUBSCRIBERS} subscribers "
        f"({fan_messages * SUBSCRIBERS:,} owed deliveries), {fan_lost} planted lost: "
        f"check_fanout median {median(fan_times):.2f} s, max {max(fan_times):.2f} s; it "
        f"reported lost {fan['lost']} "
        f"({'matches' if fan_correct else 'DOES NOT match'}).",
    ]
    med = median(check_times)
    check = Check(
        f"delivery checker, {messages:,} messages (median of {repeats})",
        f"<= {TARGET_S:g} s",
        f"{med:.2f} s ({median(file_times):.2f} s with JSON parsing of the history)",
        med <= TARGET_S and correct and fan_correct and messages >= FULL[0],
    )
    return Section("7. Delivery checker speed", [check], body)


if __name__ == "__main__":
    import sys

    import run_all

    sys.exit(run_all.main(["--only", "delivery", *sys.argv[1:]]))
