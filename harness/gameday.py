"""The game-day gate: an operator decides each fault while the load runs.

Before each apply the run stops at the fault's time (the load keeps running) and asks
``fault f1 network.down -> redis at 10.0s: [g]o / [s]kip / [a]bort / or type a note``.

* ``g``/``go`` applies it now; its revert follows its own ``for`` after that;
* ``s``/``skip`` drops the fault and its revert;
* ``a``/``abort`` stops the run (``Aborted``: faults reverted, load stopped, lab down,
  exit 130 like any interruption, ``status: error`` in ``result.json``);
* anything else is a note, kept with a timestamp, and the question is asked again.

Every later fault moves by the time the operator took (``harness/timeline.py``). All
waits together are bounded by ``max_wait_s``: an operator who is gone, or input that
ends (stdin closed), aborts the run rather than break things unattended. Every answer
and note is a history record (``harness/operator_notes.py``).
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from harness.errors import Interrupted
from harness.history import HistoryWriter
from harness.operator_notes import Decision, note_record
from harness.timeline import Event

ANSWERS: dict[str, Decision] = {
    "g": "go",
    "go": "go",
    "s": "skip",
    "skip": "skip",
    "a": "abort",
    "abort": "abort",
}
# How often the status line and due reverts are served while the operator thinks.
POLL_S = 0.25


class Aborted(Interrupted):
    """The operator aborted the game day (or left it: no answer, input closed)."""


class Console(Protocol):
    """Where the gate talks to the operator."""

    def show(self, text: str) -> None: ...

    def read_line(self, timeout_s: float) -> str | None:
        """The next line typed, without its newline; ``None`` if none came within
        ``timeout_s``. Raises ``EOFError`` once the input has ended."""
        ...


class StreamConsole:
    """A console on a file descriptor (stdin, a pipe) and a text stream for prompts.

    Reads the descriptor itself, not through Python's buffered ``readline``: several
    lines arriving at once must not hide in a buffer that ``select`` cannot see."""

    def __init__(self, fd: int, out: TextIO) -> None:
        self.fd = fd
        self.out = out
        self._pending = b""
        self._ended = False

    def show(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def read_line(self, timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            if self._ended:
                if self._pending:
                    line, self._pending = self._pending, b""
                    return line.decode(errors="replace")
                raise EOFError
            ready, _, _ = select.select([self.fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                return None
            chunk = os.read(self.fd, 4096)
            self._ended = not chunk
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")


def prompt_text(event: Event, t0_ns: int) -> str:
    pf = event.fault
    at_s = (event.at_ns - t0_ns) / 1e9
    return (
        f"fault {pf.fault_id} {pf.kind} -> {', '.join(pf.targets)} at {at_s:.1f}s "
        f"(for {pf.for_s:g}s): [g]o / [s]kip / [a]bort / or type a note"
    )


class OperatorGate:
    """A ``timeline.Gate`` that asks the operator; bind it to the run with ``begin``."""

    def __init__(
        self,
        console: Console,
        max_wait_s: float,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.console = console
        self.max_wait_s = max_wait_s
        self.clock = clock
        self.waited_s = 0.0
        self.history: HistoryWriter | None = None
        self.t0_ns: int | None = None
        self.decisions: dict[str, Decision] = {}

    def begin(self, history: HistoryWriter, t0_ns: int) -> None:
        """The run's history and load start: notes go there, timed from there."""
        self.history, self.t0_ns = history, t0_ns

    def before_apply(self, event: Event, on_tick: Callable[[], None]) -> bool:
        fault_id = event.fault.fault_id
        self.console.show(prompt_text(event, self.t0_ns or event.at_ns))
        started = self.clock()
        try:
            decision = self._ask(fault_id, on_tick, started)
        finally:
            self.waited_s += (self.clock() - started) / 1e9
        self.decisions[fault_id] = decision
        if decision == "abort":
            raise Aborted(f"aborted by the operator at fault {fault_id} ({event.fault.kind})")
        self.console.show(f"{fault_id}: {'applying now' if decision == 'go' else 'skipped'}")
        return decision == "go"

    def _ask(self, fault_id: str, on_tick: Callable[[], None], started: int) -> Decision:
        deadline = started + int((self.max_wait_s - self.waited_s) * 1e9)
        while True:
            left_s = (deadline - self.clock()) / 1e9
            if left_s <= 0:
                self.note(fault_id, "abort", "no answer within --max-wait")
                return "abort"
            on_tick()
            try:
                line = self.console.read_line(min(POLL_S, left_s))
            except EOFError:
                self.note(fault_id, "abort", "operator input closed")
                return "abort"
            text = (line or "").strip()
            if not text:
                continue
            decision = ANSWERS.get(text.lower())
            if decision is None:
                self.note(fault_id, "note", text)
                self.console.show(f"noted at {self._t_s() or 0.0:.1f}s; [g]o / [s]kip / [a]bort?")
                continue
            self.note(fault_id, decision, "")
            return decision

    def note(self, fault_id: str | None, decision: Decision, text: str) -> None:
        """Record one answer or note in the run's history."""
        if self.history is not None:
            self.history.write(note_record(time.time(), self._t_s(), fault_id, decision, text))

    def _t_s(self) -> float | None:
        return None if self.t0_ns is None else (self.clock() - self.t0_ns) / 1e9
