"""Process faults: signals to a lab service's process, undone by starting it again.

They act through the lab's ``kill_service`` / ``stop_service`` / ``start_service`` so the
compose backend can implement the same kinds for containers.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from faults.base import Fault, register
from harness.errors import FaultError

if TYPE_CHECKING:
    from harness.lab.base import Lab

SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT}


class _ProcessFault(Fault):
    needs = "a process the lab started (local lab)"

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


@register
class Kill(_ProcessFault):
    kind = "process.kill"
    summary = "kill the service's process with a signal; start it again at revert"
    client_sees = (
        "connections reset; through Toxiproxy new connections are accepted and then "
        "closed at once until the service is back"
    )
    params_model = KillParams

    def apply(self) -> None:
        assert isinstance(self.params, KillParams)
        for name in self.target_names:
            self.target.lab.kill_service(name, SIGNALS[self.params.signal])


class RestartParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    grace_s: float = Field(10.0, gt=0, le=3600, description="seconds between SIGTERM and SIGKILL")


@register
class Restart(_ProcessFault):
    kind = "process.restart"
    summary = "graceful restart: SIGTERM (SIGKILL after grace_s), then start again"
    client_sees = "connections closed; refused or reset until the service is ready again"
    params_model = RestartParams
    instantaneous = True

    def apply(self) -> None:
        assert isinstance(self.params, RestartParams)
        for name in self.target_names:
            self.target.lab.stop_service(name, self.params.grace_s)
