"""The history writer's fast path must write exactly what json.dumps would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.history import HistoryWriter, read_history


def _op(**over: Any) -> dict[str, Any]:
    rec = {
        "t_start": 123456789012,
        "t_end": 123456799012,
        "process": "u3",
        "op": "set",
        "key": "ab12cd34:u3:17",
        "digest": "0123456789abcdef",
        "type": "ok",
        "error": None,
    }
    rec.update(over)
    return rec


@pytest.mark.parametrize(
    "record",
    [
        _op(),
        _op(digest=None, op="get"),
        _op(type="info", error="TimeoutError: Timeout reading from socket"),
        _op(key='odd"key\\with\tescapes'),
        _op(process="p\u00e9"),
    ],
)
def test_write_op_produces_the_same_json_as_json_dumps(
    tmp_path: Path, record: dict[str, Any]
) -> None:
    fast, slow = tmp_path / "fast.jsonl", tmp_path / "slow.jsonl"
    for path, method in ((fast, "write_op"), (slow, "write")):
        writer = HistoryWriter(path, buffer_bytes=4096)
        getattr(writer, method)(record)
        writer.close()
    assert fast.read_text() == slow.read_text()
    assert list(read_history(fast)) == [record]


def test_buffered_lines_reach_the_file_on_flush_and_a_torn_tail_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    writer = HistoryWriter(path, buffer_bytes=1 << 20)
    writer.write_op(_op())
    assert path.read_text() == ""
    writer.flush()
    writer.close()
    with open(path, "a") as handle:
        handle.write('{"t_start": 1, "t_en')
    assert [r["key"] for r in read_history(path)] == ["ab12cd34:u3:17"]
