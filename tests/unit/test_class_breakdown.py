"""Per user class and per task statistics of ``http.users`` from a synthetic history."""

from __future__ import annotations

from typing import Any

from harness.opstats import class_breakdown


def req(user_class: str, task: str, type_: str, ms: int = 2, op: str = "get") -> dict[str, Any]:
    return {
        "op": op,
        "t_start": 0,
        "t_end": ms * 1_000_000,
        "type": type_,
        "user_class": user_class,
        "task": task,
        "process": f"{user_class}0",
    }


def test_rows_per_class_and_task_count_failures_users_and_shares() -> None:
    records = [
        {"op": "user", "process": "guest0", "user_class": "guest"},
        {"op": "user", "process": "guest1", "user_class": "guest"},
        {"op": "user", "process": "admin0", "user_class": "admin"},
        *[req("guest", "browse", "ok") for _ in range(6)],
        req("guest", "browse", "fail"),  # an unexpected status
        req("guest", "post", "info", op="post"),  # a write whose reply was lost
        *[req("guest", "post", "ok", ms=10, op="post") for _ in range(2)],
        req("admin", "export", "ok", ms=50),
        {"op": "fault", "type": "ok", "t_start": 0, "t_end": 1},
    ]
    rows = {
        (r["user_class"], r["task"]): r for r in class_breakdown(records, ("get", "post"), 10.0)
    }
    assert list(rows) == [
        ("admin", "all"),
        ("admin", "export"),
        ("guest", "all"),
        ("guest", "browse"),
        ("guest", "post"),
    ]
    guest = rows[("guest", "all")]
    assert (guest["users"], guest["ops"], guest["ok"], guest["fail"], guest["info"]) == (
        2,
        10,
        8,
        1,
        1,
    )
    assert rows[("guest", "browse")]["share"] == 0.7 and rows[("guest", "post")]["share"] == 0.3
    assert rows[("guest", "browse")]["success_rate"] == round(6 / 7, 4)
    assert rows[("admin", "all")]["users"] == 1 and rows[("admin", "export")]["p50_ms"] >= 49
