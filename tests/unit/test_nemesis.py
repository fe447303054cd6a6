"""The schedule's bookkeeping: journal before apply, history records, background errors."""

from __future__ import annotations

from typing import Any

import pytest

from faults.base import Fault
from harness.history import HistoryWriter, read_history
from harness.journal import Journal
from harness.scenario import PlannedFault
from harness.timeline import Nemesis


class StubLab:
    lab_id = "local-stub"
    services: dict[str, Any] = {"redis": type("S", (), {"name": "redis"})()}


class Background(Fault):
    """Applies fine, then fails in the background (like a flap cycle that cannot reach
    Toxiproxy for a moment)."""

    kind = "test.background"
    summary = client_sees = ""
    applied: list[str] = []

    def apply(self) -> None:
        self.applied.append(self.fault_id)
        self.errors.append("ToxiproxyError: unreachable")

    def revert_record(self) -> dict[str, Any]:
        return {}

    @classmethod
    def revert_from(cls, record: dict[str, Any], lab: Any) -> None:
        pass


def test_errors_of_a_fault_in_the_background_are_reported_after_its_revert(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("harness.timeline.get_kind", lambda name: Background)
    journal = Journal(tmp_path / "journal.jsonl")
    history = HistoryWriter(tmp_path / "history.jsonl")
    nemesis = Nemesis(StubLab(), journal, history, 0, "run1")  # type: ignore[arg-type]
    pf = PlannedFault("f1", "test.background", ("redis",), 0.0, 1.0, Background.params_model())

    nemesis.apply(pf, 0)
    assert list(journal.state().faults) == ["run1/f1"]
    assert nemesis.errors == []  # the apply itself succeeded
    assert nemesis.revert("f1", 1)
    history.close()

    assert journal.state().faults == {}
    assert nemesis.errors == ["test.background f1 while applied: ToxiproxyError: unreachable"]
    actions = [(r["action"], r["type"]) for r in read_history(tmp_path / "history.jsonl")]
    assert actions == [("apply", "ok"), ("revert", "ok")]
