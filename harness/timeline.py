"""The schedule: apply and revert faults at planned monotonic times.

``Nemesis`` owns the fault instances of one run. Before each apply it journals (and
fsyncs) the revert; it records every action with planned and actual times in the
history; ``revert_all`` undoes whatever is still applied and is called from
``finally`` by the runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from faults.base import Fault, FaultTarget, get_kind
from harness.errors import Interrupted
from harness.history import HistoryWriter
from harness.journal import Journal
from harness.lab.base import Lab
from harness.scenario import PlannedFault

REVERT_ATTEMPTS = 3
# Faults are journaled this long before their planned time (see Nemesis.prepare).
PREPARE_AHEAD_NS = 50_000_000


@dataclass(frozen=True)
class Event:
    at_ns: int
    action: str  # "apply" | "revert"
    fault: PlannedFault


def build_events(plan: list[PlannedFault] | tuple[PlannedFault, ...], t0_ns: int) -> list[Event]:
    """Apply and revert events in time order. At equal times reverts come before applies
    (one fault ends as the next begins), except the revert of an instantaneous fault
    (``for`` 0), which must follow its own apply."""
    events = []
    for pf in plan:
        events.append(Event(t0_ns + int(pf.at_s * 1e9), "apply", pf))
        events.append(Event(t0_ns + int(pf.revert_at_s * 1e9), "revert", pf))

    def rank(e: Event) -> int:
        if e.action == "apply":
            return 1
        return 2 if e.fault.for_s == 0 else 0

    return sorted(events, key=lambda e: (e.at_ns, rank(e)))


def sleep_until(deadline_ns: int, on_tick: Callable[[], None] | None = None) -> None:
    """Sleep until ``deadline_ns`` on the monotonic clock, calling ``on_tick`` about every
    0.25 s meanwhile. The last stretch is one ``sleep`` aimed at the deadline."""
    next_tick = time.monotonic_ns()
    while True:
        now = time.monotonic_ns()
        if now >= deadline_ns:
            return
        if on_tick is not None and now >= next_tick:
            on_tick()
            next_tick = now + 250_000_000
        until = deadline_ns if on_tick is None else min(deadline_ns, next_tick)
        time.sleep(max(until - time.monotonic_ns(), 0) / 1e9)


class Gate(Protocol):
    """Decides, at an apply's time, whether it happens: ``True`` go, ``False`` skip. It
    may take as long as it likes (calling ``on_tick`` meanwhile, which also runs the
    reverts that fall due) or raise to stop the run."""

    def begin(self, history: HistoryWriter, t0_ns: int) -> None:
        """The run's history (for what the gate records) and its load start."""
        ...

    def before_apply(self, event: Event, on_tick: Callable[[], None]) -> bool: ...


def run_schedule(
    nemesis: Nemesis,
    events: list[Event],
    on_tick: Callable[[], None] | None = None,
    on_event: Callable[[Event], None] | None = None,
    gate: Gate | None = None,
) -> int:
    """Execute ``events`` at their times: journal each fault ``PREPARE_AHEAD_NS`` early,
    apply or revert it on time, then call ``on_event``. With a ``gate`` see
    ``_run_gated``. Returns how far (ns) the applies were shifted: 0 without a gate."""
    if gate is not None:
        return _run_gated(nemesis, events, gate, on_tick, on_event)
    for event in events:
        if event.action == "apply":
            sleep_until(event.at_ns - PREPARE_AHEAD_NS, on_tick)
            nemesis.prepare(event.fault)
        sleep_until(event.at_ns, on_tick)
        nemesis.execute(event)
        if on_event is not None:
            on_event(event)
    return 0


def _run_gated(
    nemesis: Nemesis,
    events: list[Event],
    gate: Gate,
    on_tick: Callable[[], None] | None,
    on_event: Callable[[Event], None] | None,
) -> int:
    """Each apply waits for the gate. A skipped fault is never applied nor reverted; an
    applied one is reverted its own ``for`` after its actual apply, also while the gate
    waits on a later one; every later apply moves by the time the gate took."""
    reverts: list[Event] = []
    shift_ns = 0

    def execute(event: Event) -> None:
        nemesis.execute(event)
        if on_event is not None:
            on_event(event)

    def run_reverts(until_ns: int, tick: Callable[[], None] | None) -> None:
        while reverts and reverts[0].at_ns <= until_ns:
            sleep_until(reverts[0].at_ns, tick)
            execute(reverts.pop(0))

    def waiting_tick() -> None:
        run_reverts(time.monotonic_ns(), None)
        if on_tick is not None:
            on_tick()

    for event in (e for e in events if e.action == "apply"):
        run_reverts(event.at_ns + shift_ns, on_tick)
        sleep_until(event.at_ns + shift_ns, on_tick)
        go = gate.before_apply(Event(event.at_ns + shift_ns, "apply", event.fault), waiting_tick)
        shift_ns = max(shift_ns, time.monotonic_ns() - event.at_ns)
        if not go:
            continue
        at_ns = event.at_ns + shift_ns
        nemesis.prepare(event.fault)
        execute(Event(at_ns, "apply", event.fault))
        for_ns = int(event.fault.for_s * 1e9)
        reverts.append(Event(at_ns + for_ns, "revert", event.fault))
        reverts.sort(key=lambda e: e.at_ns)
    run_reverts(2**63, on_tick)
    return shift_ns


class Nemesis:
    def __init__(
        self,
        lab: Lab,
        journal: Journal,
        history: HistoryWriter,
        t0_ns: int,
        run_tag: str,
    ) -> None:
        self.lab = lab
        self.journal = journal
        self.history = history
        self.t0_ns = t0_ns
        self.run_tag = run_tag
        self.active: dict[str, tuple[Fault, PlannedFault]] = {}
        self._prepared: dict[str, Fault] = {}
        self.errors: list[str] = []

    def key(self, fault_id: str) -> str:
        return f"{self.run_tag}/{fault_id}"

    def instantiate(self, pf: PlannedFault) -> Fault:
        kind = get_kind(pf.kind)
        assert kind is not None
        services = [self.lab.services[name] for name in pf.targets]
        return kind(
            pf.fault_id,
            FaultTarget(self.lab, services),
            pf.params,
            tag=f"{self.run_tag}-{pf.fault_id}",
        )

    def execute(self, event: Event) -> None:
        if event.action == "apply":
            self.apply(event.fault, event.at_ns)
        else:
            self.revert(event.fault.fault_id, event.at_ns)

    def prepare(self, pf: PlannedFault) -> None:
        """Journal the revert (fsync) ahead of the planned time, so the fsync is not part
        of the injection delay. Reverting a fault that was journaled but never applied is
        harmless: every revert is idempotent."""
        if pf.fault_id in self._prepared or pf.fault_id in self.active:
            return
        fault = self.instantiate(pf)
        self.journal.fault_applying(
            self.key(pf.fault_id), pf.kind, list(pf.targets), self._journal_revert(fault)
        )
        self._prepared[pf.fault_id] = fault

    def apply(self, pf: PlannedFault, planned_ns: int) -> None:
        # The revert is durable before anything is broken.
        self.prepare(pf)
        fault = self._prepared.pop(pf.fault_id)
        self.active[pf.fault_id] = (fault, pf)
        error = self._act("apply", pf, planned_ns, fault.apply)
        if error is not None:
            self.errors.append(f"apply {pf.kind} {pf.fault_id}: {error}")

    def revert(self, fault_id: str, planned_ns: int | None = None) -> bool:
        entry = self.active.get(fault_id)
        if entry is None:
            return True
        fault, pf = entry
        error = None
        for attempt in range(REVERT_ATTEMPTS):
            error = self._act("revert", pf, planned_ns, fault.revert, attempt)
            if error is None:
                del self.active[fault_id]
                self.journal.fault_reverted(self.key(fault_id))
                self.errors += [f"{pf.kind} {fault_id} while applied: {e}" for e in fault.errors]
                return True
            time.sleep(0.2 * (attempt + 1))
        # Still journaled as applied: `harness heal` will try again.
        self.errors.append(f"revert {pf.kind} {fault_id}: {error}")
        return False

    def revert_all(self) -> None:
        for fault_id in list(self.active):
            self.revert(fault_id)
        # Journaled ahead of time but never applied: close their journal entries.
        for fault_id in list(self._prepared):
            fault = self._prepared.pop(fault_id)
            try:
                fault.revert()
            except Exception as exc:
                self.errors.append(f"revert {fault.kind} {fault_id}: {exc}")
                continue
            self.journal.fault_reverted(self.key(fault_id))

    def _journal_revert(self, fault: Fault) -> dict[str, Any]:
        return {"kind": fault.kind, "lab_id": self.lab.lab_id, "record": fault.revert_record()}

    def _act(
        self,
        action: str,
        pf: PlannedFault,
        planned_ns: int | None,
        call: Callable[[], None],
        attempt: int = 0,
    ) -> str | None:
        """Run one action and record it; the error text, or ``None`` on success."""
        t_start = time.monotonic_ns()
        error = None
        try:
            call()
        except Interrupted:
            raise
        except Exception as exc:  # a failed action is recorded, never fatal to the run
            error = f"{type(exc).__name__}: {exc}"
        t_end = time.monotonic_ns()
        self.history.write(
            {
                "t_start": t_start,
                "t_end": t_end,
                "process": "nemesis",
                "op": "fault",
                "action": action,
                "fault_id": pf.fault_id,
                "kind": pf.kind,
                "targets": list(pf.targets),
                "planned_ns": planned_ns,
                "attempt": attempt,
                "type": "ok" if error is None else "fail",
                "error": error,
            }
        )
        return error
