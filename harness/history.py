"""The run's history: one JSON object per line, append-only, the source of truth.

Record shapes (all times are ``time.monotonic_ns()``, which Linux keeps common to every
process on the machine, so the load generator and the harness share one clock):

* operation: ``{t_start, t_end, process, op, key, digest, type, error}`` with ``type`` one
  of ``ok`` (acknowledged), ``fail`` (definitely did not happen), ``info`` (unknown:
  a timeout or reset after the request was sent); an operation cut off by the stop of
  the load carries ``stopped: true``: the checkers judge it like any other, the load's
  statistics (windows, throughput, thresholds) leave it out;
* fault action: ``{op: "fault", action: "apply"|"revert", fault_id, kind, targets,
  planned_ns, t_start, t_end, type, error}``;
* run markers: ``{op: "run", t0_ns, wall, scenario, run_tag, lab, loadgen_pid}`` when
  the load starts at ``t0_ns``, ``{op: "run-end", t_end, wall}`` after it stopped;
* checker reads: ``{op: "final-read", type, values: {key: digest|null}}`` per batch,
  ``{op: "final-scan", type, scanned, unattempted: [keys never written]}``;
* S3 operations add ``size``, ``class`` (size class) and, for multipart uploads,
  ``parts``; ``digest`` is the full SHA-256 of the object's bytes; a GET that found no
  object has ``missing: true``; ``populate`` records the shared pool's first version;
  the final sweep writes ``{op: "sweep-list", type, listed, keys}`` and
  ``{op: "sweep-get", type, values: {key: sha256|null}}`` per batch;
* messages: ``{op: "send", ..., producer, seq, digest, type}`` per send,
  ``{op: "recv", t_end, process: consumer, key, producer, seq, digest}`` per delivery,
  ``{op: "drain", type, pending}`` at the end (``harness/checks/delivery.py``);
  fan-out subscribers (Pub/Sub, server-sent events) add ``{op: "subscribe", process,
  key, t_start, t_end, end}`` per subscription when it ends (``harness/checks/fanout.py``);
* HTTP requests add ``user_class``, ``task`` and ``status``; ``{op: "user", ...}`` marks
  each HTTP user's start;
* the running user count ``{op: "users", t, count}`` on each change and once a second;
* target resources ``{op: "resources", t, service, pid, rss_bytes, cpu_percent}`` about
  once a second (``harness/resources.py``).

Several processes append to the same file. Each writes whole lines with a single
``write(2)`` on an ``O_APPEND`` descriptor, which Linux keeps from interleaving.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HISTORY_FILE = "history.jsonl"
_Q = '"'


def _plain(text: str) -> bool:
    """True when ``text`` can stand in a JSON string without escaping."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


class HistoryWriter:
    """Appends records; ``buffer_bytes`` > 0 batches lines (the load generator's hot path)."""

    def __init__(self, path: Path, buffer_bytes: int = 0) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._buffer: list[str] = []
        self._buffered = 0
        self._limit = buffer_bytes
        # Lines handed to this writer: what a load generator reports it wrote, so the
        # analysis can tell whether the history holds all of them.
        self.lines = 0

    def write(self, record: dict[str, Any]) -> None:
        self.write_line(json.dumps(record, separators=(",", ":")) + "\n")

    def write_op(self, record: dict[str, Any]) -> None:
        """Write an operation record (the load generator's hot path): formatted directly
        when no field needs JSON escaping, which is about four times cheaper than
        ``json.dumps`` and produces the same JSON. Records with fields beyond the eight
        common ones (an object's size, say) take the general path."""
        if (
            len(record) == 8
            and record["error"] is None
            and _plain(record["key"])
            and _plain(record["process"])
        ):
            d = record["digest"]
            self.write_line(
                f'{{"t_start":{record["t_start"]:d},"t_end":{record["t_end"]:d},'
                f'"process":"{record["process"]}","op":"{record["op"]}",'
                f'"key":"{record["key"]}","digest":{"null" if d is None else f"{_Q}{d}{_Q}"},'
                f'"type":"{record["type"]}","error":null}}\n'
            )
        else:
            self.write(record)

    def write_line(self, line: str) -> None:
        self.lines += 1
        if self._limit <= 0:
            os.write(self._fd, line.encode())
            return
        self._buffer.append(line)
        self._buffered += len(line)
        if self._buffered >= self._limit:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        data = "".join(self._buffer).encode()
        self._buffer.clear()
        self._buffered = 0
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1


def read_history(path: Path) -> Iterator[dict[str, Any]]:
    """Every record in file order. A final line cut short by a crash is skipped."""
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                yield json.loads(raw)
            except json.JSONDecodeError:
                continue
