"""Process faults: signals to a lab service's processes, undone by starting or continuing
them again.

They act through the lab's ``kill_service`` / ``stop_service`` / ``start_service`` /
``pause_service`` / ``resume_service`` so the compose backend can implement the same
kinds for containers.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from faults.base import Fault, external_problem, register
from harness.errors import FaultError
from harness.units import Duration

if TYPE_CHECKING:
    from harness.lab.base import Lab
    from harness.scenario import ServiceSpec

SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT}
DAY_S = 24 * 3600
# What a client sees while the service's process is not running: Toxiproxy still
# accepts, then fails to reach the service and closes the client's connection.
_WHILE_DOWN = "through Toxiproxy new connections are accepted and closed at once (EOF or reset)"


class _ProcessFault(Fault):
    needs = "a process or container the lab started"

    @classmethod
    def target_problem(cls, name: str, service: ServiceSpec) -> str | None:
        return external_problem(service, "process the harness could signal")

    def revert_record(self) -> dict[str, Any]:
        return {"lab_id": self.target.lab.lab_id, "services": self.target_names}

    @classmethod
    def revert_from(cls, record: dict[str, Any], lab: Lab | None) -> None:
        if lab is None:
            raise FaultError(
                f"cannot restart {', '.join(record['services'])}: lab {record['lab_id']} is gone"
            )
        for name in record["services"]:
            lab.start_service(name)


class KillParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    signal: Literal["KILL", "TERM", "INT"] = Field("KILL", description="signal to send")
    restart_after: Duration | None = Field(
        None,
        gt=0,
        le=DAY_S,
        description="start the service again after this long, without waiting for the "
        "revert (None: at revert)",
    )


@register
class Kill(_ProcessFault):
    kind = "process.kill"
    summary = (
        "kill the service's process with a signal; start it again after restart_after, or at revert"
    )
    client_sees = (
        f"live connections closed; {_WHILE_DOWN} until the service is back; a write in "
        "flight is indeterminate"
    )
    params_model = KillParams
    needs = (
        "a process or container the lab started; by hand with restart_after, "
        "`harness fault apply --wait` (the restart is timed by the applying process)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cancel = threading.Event()
        self._restarter: threading.Thread | None = None

    def needs_foreground(self) -> bool:
        assert isinstance(self.params, KillParams)
        return self.params.restart_after is not None

    def apply(self) -> None:
        p = self.params
        assert isinstance(p, KillParams)
        for name in self.target_names:
            self.target.lab.kill_service(name, SIGNALS[p.signal])
        if p.restart_after is not None and self._restarter is None:
            # A thread, so that apply returns as soon as the process is gone.
            self._restarter = threading.Thread(
                target=self._restart_later,
                args=(p.restart_after,),
                name=f"restart-{self.tag}",
                daemon=True,
            )
            self._restarter.start()

    def _restart_later(self, delay_s: float) -> None:
        if self._cancel.wait(delay_s):
            return
        try:
            for name in self.target_names:
                self.target.lab.start_service(name)
        except Exception as exc:  # the revert starts the service again in any case
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def revert(self) -> None:
        # Wait for a restart in progress (bounded by the lab's readiness deadline) so that
        # the revert never starts a second copy of the service next to it.
        self._cancel.set()
        if self._restarter is not None:
            self._restarter.join()
        super().revert()


class StopParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    grace_s: float = Field(10.0, gt=0, le=3600, description="seconds between SIGTERM and SIGKILL")


@register
class Stop(_ProcessFault):
    kind = "process.stop"
    summary = "graceful stop: SIGTERM (SIGKILL after grace_s); start it again at revert"
    client_sees = (
        "live connections closed once the service has shut down (Redis fsyncs its AOF "
        f"first); then {_WHILE_DOWN} until the revert"
    )
    params_model = StopParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._finisher: threading.Thread | None = None

    def apply(self) -> None:
        # In effect once SIGTERM is delivered: how long the service takes to shut down
        # (Redis acts on it in its next cron tick, up to 100 ms at hz 10) is its own.
        assert isinstance(self.params, StopParams)
        for name in self.target_names:
            self.target.lab.begin_stop(name, self.params.grace_s)
        self._finisher = threading.Thread(target=self._finish, name=f"stop-{self.tag}", daemon=True)
        self._finisher.start()

    def _finish(self) -> None:
        try:
            for name in self.target_names:
                self.target.lab.finish_stop(name)
        except Exception as exc:  # the revert finishes the stop in any case
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def revert(self) -> None:
        if self._finisher is not None:
            self._finisher.join()
        super().revert()


@register
class Restart(_ProcessFault):
    kind = "process.restart"
    summary = "graceful restart: SIGTERM (SIGKILL after grace_s), then start again"
    client_sees = f"live connections closed; {_WHILE_DOWN} until the service is ready again"
    params_model = StopParams
    instantaneous = True

    def apply(self) -> None:
        assert isinstance(self.params, StopParams)
        for name in self.target_names:
            self.target.lab.stop_service(name, self.params.grace_s)


@register
class Pause(_ProcessFault):
    kind = "process.pause"
    summary = (
        "freeze the service: SIGSTOP of its whole process tree (forked children too); "
        "SIGCONT at revert"
    )
    client_sees = (
        "connections are still accepted (by Toxiproxy and the kernel) but nothing is "
        "answered: every operation hangs until the client's own timeout, with no error "
        "before it; requests still waiting are answered after the revert"
    )

    def apply(self) -> None:
        for name in self.target_names:
            self.target.lab.pause_service(name)

    @classmethod
    def revert_from(cls, record: dict[str, Any], lab: Lab | None) -> None:
        # A lab that is gone took its processes with it: nothing is left to continue.
        if lab is None:
            return
        for name in record["services"]:
            lab.resume_service(name)
