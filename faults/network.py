"""Network faults through Toxiproxy.

Toxiproxy semantics these rely on: disabling a proxy closes its live connections and
refuses new ones; toxics act on live connections too; a ``timeout`` toxic with
``timeout: 0`` swallows data and keeps connections open until it is removed, when the
connections are closed. Toxic names are derived from the fault id so that a revert
(or ``harness heal``) removes exactly the toxics this fault added.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from faults.base import Fault, register
from harness.lab.toxiproxy import ToxiproxyClient, ToxiproxyConflict, ToxiproxyNotFound

if TYPE_CHECKING:
    from harness.lab.base import Lab

Stream = Literal["upstream", "downstream", "both"]


def _streams(stream: Stream) -> list[str]:
    return ["upstream", "downstream"] if stream == "both" else [stream]


class ToxicFault(Fault):
    """A fault made of toxics on each target's proxy."""

    toxic_type: ClassVar[str]

    def _toxic_name(self, stream: str) -> str:
        return f"chaos-{self.tag}-{self.toxic_type}-{stream}"

    def _attributes(self) -> dict[str, Any]:
        raise NotImplementedError

    def _plan(self) -> list[tuple[str, str, str, str]]:
        """(toxiproxy address, proxy, toxic name, stream) for every toxic to add."""
        stream: Stream = getattr(self.params, "stream", "both")
        return [
            (svc.toxiproxy, svc.proxy, self._toxic_name(s), s)
            for svc in self.target.services
            for s in _streams(stream)
        ]

    def revert_record(self) -> dict[str, Any]:
        return {"toxics": [[addr, proxy, name] for addr, proxy, name, _ in self._plan()]}

    def apply(self) -> None:
        toxicity = float(getattr(self.params, "toxicity", 1.0))
        for addr, proxy, name, stream in self._plan():
            client = ToxiproxyClient.from_address(addr)
            args = (proxy, name, self.toxic_type, stream, self._attributes(), toxicity)
            try:
                client.add_toxic(*args)
            except ToxiproxyConflict:
                # Idempotent: a toxic left by an interrupted earlier apply is replaced.
                client.remove_toxic(proxy, name)
                client.add_toxic(*args)

    @classmethod
    def revert_from(cls, record: dict[str, Any], lab: Lab | None) -> None:
        for addr, proxy, name in record["toxics"]:
            # A missing proxy means nothing is left to revert.
            with contextlib.suppress(ToxiproxyNotFound):
                ToxiproxyClient.from_address(addr).remove_toxic(proxy, name)


class LatencyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    latency_ms: float = Field(
        100.0, ge=0, le=3_600_000, description="added delay per data chunk, ms"
    )
    jitter_ms: float = Field(
        0.0, ge=0, le=3_600_000, description="random +/- variation of the delay, ms"
    )
    stream: Stream = Field("both", description="upstream (to the service), downstream, both")
    toxicity: float = Field(1.0, ge=0, le=1, description="share of connections affected")


@register
class Latency(ToxicFault):
    kind = "network.latency"
    summary = "add latency (and jitter) to every chunk of data through the proxy"
    client_sees = "slow responses; nothing fails unless the delay exceeds the client timeout"
    params_model = LatencyParams
    toxic_type = "latency"

    def _attributes(self) -> dict[str, Any]:
        p = self.params
        assert isinstance(p, LatencyParams)
        return {"latency": int(p.latency_ms), "jitter": int(p.jitter_ms)}


class BlackholeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stream: Stream = Field("both", description="upstream, downstream or both")
    toxicity: float = Field(1.0, ge=0, le=1, description="share of connections affected")


@register
class Blackhole(ToxicFault):
    kind = "network.blackhole"
    summary = "swallow all data (timeout toxic with timeout 0); connections stay open"
    client_sees = "hangs until its own timeout; connections are closed when the fault is reverted"
    params_model = BlackholeParams
    toxic_type = "timeout"

    def _attributes(self) -> dict[str, Any]:
        return {"timeout": 0}


@register
class Down(Fault):
    kind = "network.down"
    summary = "disable the proxy: live connections closed, new ones refused"
    client_sees = "connection refused (fast failure); in-flight requests see a reset"

    def revert_record(self) -> dict[str, Any]:
        return {"proxies": [[svc.toxiproxy, svc.proxy] for svc in self.target.services]}

    def apply(self) -> None:
        for addr, proxy in self.revert_record()["proxies"]:
            ToxiproxyClient.from_address(addr).set_enabled(proxy, False)

    @classmethod
    def revert_from(cls, record: dict[str, Any], lab: Lab | None) -> None:
        for addr, proxy in record["proxies"]:
            with contextlib.suppress(ToxiproxyNotFound):
                ToxiproxyClient.from_address(addr).set_enabled(proxy, True)
