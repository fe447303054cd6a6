"""The game-day gate with a scripted operator, the gated schedule with a recording
nemesis, runbook parsing, and the bad input of `harness gameday`."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from faults.base import NoParams
from harness.cli import app
from harness.errors import EXIT_INVALID_INPUT, InvalidInput
from harness.gameday import Aborted, OperatorGate, StreamConsole
from harness.history import HistoryWriter, read_history
from harness.operator_notes import operator_notes
from harness.runbook import commands, scenario_of
from harness.scenario import PlannedFault
from harness.timeline import Event, build_events, run_schedule

REPO = Path(__file__).resolve().parents[2]


class Script:
    """A console whose operator types the given lines, one per read (None: a pause)."""

    def __init__(self, *lines: str | None) -> None:
        self.lines = list(lines)
        self.shown: list[str] = []

    def show(self, text: str) -> None:
        self.shown.append(text)

    def read_line(self, timeout_s: float) -> str | None:
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)


class Recorder:
    """A nemesis that only writes down what it was asked to do, and when."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, int]] = []

    def prepare(self, pf: PlannedFault) -> None:
        pass

    def execute(self, event: Event) -> None:
        self.done.append((event.action, event.fault.fault_id, time.monotonic_ns()))


def fault(fault_id: str, at_s: float, for_s: float) -> PlannedFault:
    return PlannedFault(fault_id, "network.down", ("redis",), at_s, for_s, NoParams())


def gate_with(tmp_path: Path, console: Any, max_wait_s: float = 60.0) -> OperatorGate:
    gate = OperatorGate(console, max_wait_s)
    gate.begin(HistoryWriter(tmp_path / "history.jsonl"), time.monotonic_ns())
    return gate


def notes(tmp_path: Path, gate: OperatorGate) -> list[dict[str, Any]]:
    assert gate.history is not None
    gate.history.close()
    return operator_notes(read_history(tmp_path / "history.jsonl"))


def test_go_skip_and_a_note_are_recorded_with_their_fault(tmp_path: Path) -> None:
    gate = gate_with(tmp_path, Script(None, "redis failover looks slow", "g", "s"))
    now = time.monotonic_ns()
    assert gate.before_apply(Event(now, "apply", fault("f1", 1, 1)), lambda: None) is True
    assert gate.before_apply(Event(now, "apply", fault("f2", 2, 1)), lambda: None) is False
    rows = notes(tmp_path, gate)
    assert [(r["fault_id"], r["decision"], r["note"]) for r in rows] == [
        ("f1", "note", "redis failover looks slow"),
        ("f1", "go", ""),
        ("f2", "skip", ""),
    ]
    assert all(r["at"].endswith("+00:00") and r["t_s"] >= 0 for r in rows)
    assert "fault f1 network.down -> redis" in gate.console.shown[0]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("script", "why"),
    [(["abort"], ""), ([], "operator input closed")],
)
def test_abort_and_closed_input_stop_the_run(tmp_path: Path, script: list[str], why: str) -> None:
    gate = gate_with(tmp_path, Script(*script))
    with pytest.raises(Aborted, match="aborted by the operator at fault f1"):
        gate.before_apply(Event(time.monotonic_ns(), "apply", fault("f1", 1, 1)), lambda: None)
    assert [(r["decision"], r["note"]) for r in notes(tmp_path, gate)] == [("abort", why)]


def test_an_operator_who_never_answers_aborts_after_max_wait(tmp_path: Path) -> None:
    class Silent(Script):
        def read_line(self, timeout_s: float) -> str | None:
            time.sleep(timeout_s)
            return None

    gate = gate_with(tmp_path, Silent(), max_wait_s=0.3)
    started = time.monotonic()
    with pytest.raises(Aborted):
        gate.before_apply(Event(time.monotonic_ns(), "apply", fault("f1", 1, 1)), lambda: None)
    assert time.monotonic() - started < 2.0
    assert notes(tmp_path, gate)[0]["note"] == "no answer within --max-wait"


def test_stream_console_reads_lines_that_arrive_together(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"first note\ng\n")
    console = StreamConsole(read_fd, io.StringIO())
    assert console.read_line(1.0) == "first note"
    assert console.read_line(1.0) == "g"
    assert console.read_line(0.05) is None
    os.close(write_fd)
    with pytest.raises(EOFError):
        console.read_line(1.0)
    os.close(read_fd)


class Delays:
    """A gate that takes ``wait_s`` on its first question, answers go or skip, and runs
    the schedule's tick while it waits (as the operator gate does)."""

    def __init__(self, answers: dict[str, bool], wait_s: float) -> None:
        self.answers, self.wait_s = answers, wait_s

    def begin(self, history: Any, t0_ns: int) -> None:
        pass

    def before_apply(self, event: Event, on_tick: Any) -> bool:
        end = time.monotonic() + self.wait_s
        self.wait_s = 0.0
        while time.monotonic() < end:
            on_tick()
            time.sleep(0.01)
        return self.answers[event.fault.fault_id]


def test_gated_schedule_shifts_later_faults_and_keeps_each_duration() -> None:
    nemesis = Recorder()
    t0 = time.monotonic_ns()
    events = build_events([fault("f1", 0.0, 0.2), fault("f2", 0.1, 0.1), fault("f3", 0.3, 0.1)], t0)
    gate = Delays({"f1": True, "f2": False, "f3": True}, wait_s=0.5)
    shift_ns = run_schedule(nemesis, events, None, None, gate)  # type: ignore[arg-type]
    done = [(a, f) for a, f, _ in nemesis.done]
    # f1 waited 0.5 s for its go; f2 was skipped (no apply, no revert); f1's revert came
    # its 0.2 s after its own apply, and f3 moved by the operator's 0.5 s.
    assert done == [("apply", "f1"), ("revert", "f1"), ("apply", "f3"), ("revert", "f3")]
    at = {(a, f): t for a, f, t in nemesis.done}
    assert 0.15 < (at["revert", "f1"] - at["apply", "f1"]) / 1e9 < 0.5
    assert 0.45 < shift_ns / 1e9 < 1.5
    assert (at["apply", "f3"] - t0) / 1e9 > 0.75


def test_a_revert_falls_due_while_the_operator_thinks_about_the_next_fault() -> None:
    nemesis = Recorder()
    t0 = time.monotonic_ns()
    events = build_events([fault("f1", 0.0, 0.1), fault("f2", 0.15, 0.1)], t0)

    class SlowOnF2(Delays):
        def before_apply(self, event: Event, on_tick: Any) -> bool:
            self.wait_s = 0.6 if event.fault.fault_id == "f2" else 0.0
            return super().before_apply(event, on_tick)

    run_schedule(nemesis, events, None, None, SlowOnF2({"f1": True, "f2": True}, 0.0))  # type: ignore[arg-type]
    at = {(a, f): t for a, f, t in nemesis.done}
    assert (at["revert", "f1"] - at["apply", "f1"]) / 1e9 < 0.4


# -- runbooks and bad input -------------------------------------------------------------


def test_runbook_commands_join_continuations_and_skip_comments() -> None:
    text = "x\n```sh\n# a comment\nharness lab up \\\n  --scenario s.yaml\n\nharness heal\n```\n"
    text += "```yaml\nnot: a command\n```\n"
    assert [(c.line, c.text) for c in commands(text)] == [
        (4, "harness lab up --scenario s.yaml"),
        (7, "harness heal"),
    ]


def test_every_runbook_names_an_existing_scenario() -> None:
    books = [p for p in sorted((REPO / "runbooks").glob("*.md")) if p.name != "README.md"]
    assert len([p for p in books if p.name != "TEMPLATE.md"]) >= 4
    for book in books:
        if book.name != "TEMPLATE.md":
            assert scenario_of(book).is_file()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# no front matter\n", "x.md:1: a runbook starts with a front matter block"),
        ("---\nscenario: scenarios/x.yaml\n", "x.md:1: the front matter block is not closed"),
        ("---\ntitle: t\nscenario: 3\n---\n", "x.md:3: scenario: expected the path of a scenario"),
        ("---\nscenario: nowhere.yaml\n---\n", "x.md:2: scenario: no file nowhere.yaml"),
    ],
)
def test_a_bad_runbook_is_named_with_its_line(tmp_path: Path, text: str, expected: str) -> None:
    book = tmp_path / "x.md"
    book.write_text(text)
    with pytest.raises(InvalidInput) as info:
        scenario_of(book)
    assert expected in str(info.value)
    result = CliRunner().invoke(app, ["gameday", str(book), "--dry-run"])
    assert result.exit_code == EXIT_INVALID_INPUT
    assert expected in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["notes.txt"], "expected a runbook (.md) or a scenario (.yaml)"),
        (["scenarios/smoke.yaml", "--max-wait", "soon"], "--max-wait: expected a duration"),
        (
            ["scenarios/smoke.yaml", "--max-wait", "0s"],
            "--max-wait: expected a duration above zero",
        ),
    ],
)
def test_bad_gameday_arguments_exit_2(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(
        app,
        [
            "gameday",
            *[str(REPO / a) if a.endswith((".yaml", ".txt")) else a for a in args],
            "--dry-run",
        ],
    )
    assert result.exit_code == EXIT_INVALID_INPUT, result.output
    assert expected in result.output


def test_gameday_dry_run_lists_the_questions() -> None:
    book = REPO / "runbooks" / "redis-primary-crash.md"
    result = CliRunner().invoke(app, ["gameday", str(book), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "ask before" in result.output
