"""The delivery checker on synthetic histories of sends and receipts."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks.delivery import check_delivery

MS = 1_000_000


def send(producer: str, seq: int, t_ms: float, type_: str = "ok", digest: str = "") -> Any:
    t = int(t_ms * MS)
    return {
        "op": "send",
        "t_start": t,
        "t_end": t + MS // 2,
        "process": producer,
        "key": "s",
        "producer": producer,
        "seq": seq,
        "digest": digest or f"{producer}-{seq}",
        "type": type_,
        "error": None,
    }


def recv(producer: str, seq: int, t_ms: float, consumer: str = "c0", digest: str = "") -> Any:
    return {
        "op": "recv",
        "t_end": int(t_ms * MS),
        "process": consumer,
        "key": "s",
        "producer": producer,
        "seq": seq,
        "digest": digest or f"{producer}-{seq}",
    }


DRAINED = {"op": "drain", "type": "ok", "pending": 0}


def test_everything_delivered_once_and_in_order_passes_with_its_latency() -> None:
    history = [send("p", i, i) for i in range(5)] + [recv("p", i, i + 2) for i in range(5)]
    result = check_delivery([*history, DRAINED])
    assert result["verdict"] == "pass"
    assert (result["sent"], result["acked"], result["received"], result["lost"]) == (5, 5, 5, 0)
    assert result["latency_ms"]["p50"] == pytest.approx(2.0, rel=0.02)


def test_an_acknowledged_message_never_received_is_lost_and_fails_streams() -> None:
    history = [send("p", 0, 0), send("p", 1, 1), recv("p", 0, 2)]
    result = check_delivery([*history, DRAINED])
    assert (result["verdict"], result["lost"], result["loss_ratio"]) == ("fail", 1, 0.5)
    assert result["examples"]["lost"] == ["p:1"]


def test_duplicates_and_reordering_are_reported_not_failed() -> None:
    history = [send("p", i, i) for i in range(3)] + [
        recv("p", 0, 5),
        recv("p", 2, 6),
        recv("p", 1, 7),  # after a later message of the same producer
        recv("p", 1, 8, consumer="c1"),  # redelivered to another consumer
    ]
    result = check_delivery([*history, DRAINED])
    assert result["verdict"] == "pass"
    assert (result["duplicated"], result["duplicates"], result["reordered"]) == (1, 1, 1)
    assert result["examples"]["duplicated"] == ["p:1"]


def test_order_is_judged_per_consumer_and_per_producer() -> None:
    history = [send("a", 0, 0), send("b", 5, 0), recv("b", 5, 1), recv("a", 0, 2)]
    history += [send("a", 1, 3), recv("a", 1, 4, consumer="c1")]
    assert check_delivery([*history, DRAINED])["reordered"] == 0


def test_never_sent_refused_or_changed_messages_fail() -> None:
    history = [
        send("p", 0, 0),
        send("p", 1, 1, type_="fail"),
        recv("p", 0, 2, digest="other"),
        recv("p", 1, 3),
        recv("ghost", 7, 4),
    ]
    result = check_delivery([*history, DRAINED])
    assert (result["corrupted"], result["unexpected"], result["verdict"]) == (1, 2, "fail")


def test_a_receipt_recorded_before_its_send_is_judged_against_it() -> None:
    result = check_delivery([recv("p", 0, 2), send("p", 0, 0), DRAINED])
    assert (result["verdict"], result["unexpected"]) == ("pass", 0)


def test_an_indeterminate_send_may_arrive() -> None:
    history = [send("p", 0, 0, type_="info"), send("p", 1, 1, type_="info"), recv("p", 0, 3)]
    result = check_delivery([*history, DRAINED])
    assert (result["info"], result["recovered"], result["lost"], result["verdict"]) == (
        2,
        1,
        0,
        "pass",
    )


def test_streams_need_a_finished_drain_and_nothing_pending() -> None:
    history = [send("p", 0, 0), recv("p", 0, 1)]
    assert check_delivery(history)["verdict"] == "unknown"
    assert check_delivery([*history, {"op": "drain", "type": "fail"}])["verdict"] == "unknown"
    pending = {"op": "drain", "type": "ok", "pending": 3}
    assert check_delivery([*history, pending])["verdict"] == "fail"


def test_loss_and_latency_per_fault_window() -> None:
    history = [send("p", i, i * 10) for i in range(10)]
    # Messages sent from 30 ms to 50 ms were lost; the others arrive 1 ms later,
    # except the one sent at 60 ms, which waited 20 ms.
    history += [
        recv("p", i, i * 10 + (20 if i == 6 else 1)) for i in range(10) if i not in (3, 4, 5)
    ]
    windows = [("cut", 30 * MS, 50 * MS), ("after", 60 * MS, 61 * MS)]
    result = check_delivery([*history, DRAINED], windows=windows)
    cut, after = result["faults"]
    assert (cut["id"], cut["acked"], cut["lost"], cut["loss_ratio"]) == ("cut", 3, 3, 1.0)
    assert cut["latency_ms"]["p50"] is None
    assert (after["acked"], after["lost"]) == (1, 0)
    assert after["latency_ms"]["p99"] == pytest.approx(20.0, rel=0.02)


def test_each_producer_gets_its_own_row_of_counts() -> None:
    history = [send("a", i, i) for i in range(4)] + [send("b", 0, 0), send("b", 1, 1, "info")]
    history += [send("b", 2, 2, "fail")]
    history += [recv("a", 0, 5), recv("a", 2, 6), recv("a", 1, 7), recv("a", 1, 8, "c1")]
    history += [recv("b", 1, 9), recv("b", 2, 9), recv("b", 0, 9, digest="changed")]
    history += [recv("ghost", 7, 9)]
    rows = {r["producer"]: r for r in check_delivery([*history, DRAINED])["per_producer"]}
    assert list(rows) == ["a", "b", "ghost"]
    counts = ("sent", "acked", "info", "received", "lost", "duplicated", "reordered")
    assert [rows["a"][k] for k in counts] == [4, 4, 0, 4, 1, 1, 1]
    assert [rows["b"][k] for k in counts] == [3, 1, 1, 3, 0, 0, 1]
    odd = ("unexpected", "corrupted", "recovered")
    assert [rows["b"][k] for k in odd] == [1, 1, 1]
    assert [rows["ghost"][k] for k in ("sent", "received", "unexpected")] == [0, 1, 1]
