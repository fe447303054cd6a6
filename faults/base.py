"""The fault interface and the registry of kinds."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from harness.lab.base import Lab, ServiceHandle
    from harness.scenario import ServiceSpec


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaultTarget:
    """What a fault acts on: the services and the lab that runs them."""

    def __init__(self, lab: Lab, services: list[ServiceHandle]) -> None:
        self.lab = lab
        self.services = services


class Fault(ABC):
    """One fault instance on a timeline.

    ``apply`` and ``revert`` are idempotent. Subclasses implement ``apply``,
    ``revert_record`` (everything revert needs, as JSON data) and ``revert_from``
    (revert from that data alone, given the lab when it is still reachable).
    """

    kind: ClassVar[str]
    summary: ClassVar[str]
    client_sees: ClassVar[str]
    params_model: ClassVar[type[BaseModel]] = NoParams
    # Instantaneous faults (a restart) do not need a `for` duration.
    instantaneous: ClassVar[bool] = False
    needs: ClassVar[str] = "the target's Toxiproxy proxy"
    # The lab backends this kind works on.
    backends: ClassVar[tuple[str, ...]] = ("local", "compose")

    def __init__(
        self, fault_id: str, target: FaultTarget, params: BaseModel, tag: str | None = None
    ) -> None:
        self.fault_id = fault_id
        self.target = target
        self.params = params
        # `tag` makes names this fault creates (toxics) unique across runs on one lab.
        self.tag = tag or fault_id
        # Failures of work the fault does in the background (a flap cycle, a timed
        # restart) after apply returned; the schedule reports them after the revert.
        self.errors: list[str] = []

    @property
    def target_names(self) -> list[str]:
        return [s.name for s in self.target.services]

    @abstractmethod
    def revert_record(self) -> dict[str, Any]:
        """Everything needed to revert this fault, as JSON-serialisable data."""

    @abstractmethod
    def apply(self) -> None: ...

    def needs_foreground(self) -> bool:
        """True when the fault keeps acting after ``apply`` returns (a thread of the
        process that applied it): that process must stay until the revert."""
        return False

    def revert(self) -> None:
        type(self).revert_from(self.revert_record(), self.target.lab)

    @classmethod
    @abstractmethod
    def revert_from(cls, record: dict[str, Any], lab: Lab | None) -> None:
        """Revert using only ``record`` (and ``lab`` if it is reachable). Idempotent."""

    @classmethod
    def target_problem(cls, name: str, service: ServiceSpec) -> str | None:
        """Why this kind cannot act on the lab service ``name`` configured like ``service``,
        or ``None``. Scenario validation reports it (exit 2) before anything starts."""
        return None

    @classmethod
    def unmet_needs(cls) -> list[str]:
        """What this machine lacks for this kind, beyond what its targets' lab needs, each
        with how to get it. The dry run and validation report them (exit 3)."""
        return []


def external_problem(service: ServiceSpec, what: str) -> str | None:
    """Why a fault that needs ``what`` of a server the lab runs cannot act on ``service``
    (a user's own server), or ``None`` when the lab runs it."""
    from harness.scenario import is_external

    if not is_external(service):
        return None
    where = "its endpoint from the environment" if service.endpoint == "env" else service.endpoint
    return f"it is an external server ({where}) that the lab did not start: it has no {what}"


_REGISTRY: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    _REGISTRY[cls.kind] = cls
    return cls


def _load() -> None:
    # Importing the modules registers their kinds.
    import faults.disk
    import faults.network
    import faults.process  # noqa: F401


def kinds() -> dict[str, type[Fault]]:
    """Every registered fault kind by name, sorted."""
    _load()
    return dict(sorted(_REGISTRY.items()))


def get_kind(name: str) -> type[Fault] | None:
    _load()
    return _REGISTRY.get(name)
