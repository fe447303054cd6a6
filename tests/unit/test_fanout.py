"""The fan-out delivery checker (Pub/Sub, server-sent events) on synthetic histories."""

from __future__ import annotations

from typing import Any

import pytest
from test_delivery import MS, recv, send

from harness.checks.fanout import check_fanout


def sub(name: str, start_ms: float, end_ms: float, end: str = "error") -> Any:
    return {
        "op": "subscribe",
        "process": name,
        "key": "s",
        "t_start": int(start_ms * MS),
        "t_end": int(end_ms * MS),
        "end": end,
    }


def everyone_gets_everything(n: int, subscribers: list[str]) -> list[Any]:
    history = [send("p", i, 100 + i * 10) for i in range(n)]
    for name in subscribers:
        history += [recv("p", i, 100 + i * 10 + 1, consumer=name) for i in range(n)]
        history.append(sub(name, 0, 10_000, "stop"))
    return history


def test_every_subscriber_receiving_every_message_passes_with_its_latency() -> None:
    result = check_fanout(everyone_gets_everything(10, ["s0", "s1"]))
    assert result["verdict"] == "pass"
    assert (result["owed"], result["received"], result["lost"]) == (20, 20, 0)
    assert result["latency_ms"]["p50"] == pytest.approx(1.0, rel=0.02)
    assert [r["subscriber"] for r in result["per_subscriber"]] == ["s0", "s1"]


def test_a_message_one_subscriber_never_got_while_subscribed_is_lost_for_it_alone() -> None:
    history = [r for r in everyone_gets_everything(10, ["s0", "s1"])]
    history.remove(recv("p", 4, 141, consumer="s1"))
    result = check_fanout(history)
    assert (result["lost"], result["lost_reconnecting"], result["loss_ratio"]) == (1, 0, 0.05)
    assert result["examples"]["lost"] == ["p:4->s1"]
    assert [r["lost"] for r in result["per_subscriber"]] == [0, 1]
    assert result["verdict"] == "pass"  # at-most-once: reported, not failed
    assert check_fanout(history, max_loss_ratio=0.01)["verdict"] == "fail"
    assert check_fanout(history, max_loss_ratio=0.1)["verdict"] == "pass"


def test_what_was_published_while_a_subscriber_reconnected_is_lost_while_reconnecting() -> None:
    history = [send("p", i, 100 + i * 10) for i in range(10)]  # 100..190 ms
    # Subscribed until 125 ms, then again from 165 ms: 130..160 were published in between.
    history += [sub("s0", 0, 125), sub("s0", 165, 10_000, "stop")]
    history += [recv("p", i, 101 + i * 10, "s0") for i in (0, 1, 2, 7, 8, 9)]
    result = check_fanout(history)
    assert (result["owed"], result["lost"], result["lost_reconnecting"]) == (10, 4, 4)
    assert result["per_subscriber"][0]["subscriptions"] == 2
    assert result["verdict"] == "pass"  # at-most-once
    # A feed that resumes where it left off must replay the gap: there loss fails.
    assert check_fanout(history, resumable=True)["verdict"] == "fail"


def test_the_stop_grace_forgives_what_was_still_on_its_way_at_the_stop() -> None:
    history = [send("p", i, 100 + i * 10) for i in range(10)]  # 100..190 ms
    history += [recv("p", i, 101 + i * 10, "s0") for i in range(8)]
    history.append(sub("s0", 0, 200, "stop"))
    assert check_fanout(history, stop_grace_s=0.05)["owed"] == 5  # acked after 150 ms: not owed
    assert check_fanout(history, stop_grace_s=0.0)["lost"] == 2
    # Before a subscription's confirmation nothing is owed.
    late = [*history[:-1], sub("s0", 135, 200, "stop")]
    assert check_fanout(late, stop_grace_s=0.0)["owed"] == 6


def test_unexpected_corrupted_duplicated_and_reordered_receipts_are_counted() -> None:
    history = everyone_gets_everything(5, ["s0"])
    history += [
        recv("p", 99, 500, "s0"),  # never sent
        recv("p", 2, 501, "s0"),  # again, and behind p:4
    ]
    history[history.index(recv("p", 3, 131, "s0"))] = recv("p", 3, 131, "s0", digest="bad")
    result = check_fanout(history)
    assert (result["unexpected"], result["corrupted"]) == (1, 1)
    assert (result["duplicates"], result["reordered"]) == (1, 1)
    assert result["verdict"] == "fail"
    assert result["examples"]["unexpected"] == ["p:99"]


def test_loss_and_latency_per_fault_window() -> None:
    history = [send("p", i, 100 + i * 10) for i in range(10)]
    history += [sub("s0", 0, 135), sub("s0", 155, 10_000, "stop")]
    # 130 was acked at 130.5 ms while subscribed and never arrived; 140 and 150 went out
    # while it reconnected; 160 waited 20 ms.
    history += [
        recv("p", i, 100 + i * 10 + (20 if i == 6 else 1), "s0") for i in (0, 1, 2, 6, 7, 8, 9)
    ]
    windows = [("cut", 125 * MS, 155 * MS), ("after", 155 * MS, 200 * MS)]
    cut, after = check_fanout(history, windows=windows)["faults"]
    assert (cut["owed"], cut["lost"], cut["lost_reconnecting"], cut["loss_ratio"]) == (3, 3, 2, 1.0)
    assert (after["owed"], after["lost"]) == (4, 0)
    assert after["latency_ms"]["p99"] == pytest.approx(20.0, rel=0.02)
