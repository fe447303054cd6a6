"""Network faults through Toxiproxy: every toxic the server has, plus down and flap.

Toxiproxy semantics these rely on: disabling a proxy closes its live connections and
refuses new ones; toxics act on live connections too; a ``timeout`` toxic with
``timeout: 0`` swallows data and keeps connections open until it is removed, when the
connections are closed. Toxic names are derived from the fault id so that a revert
(or ``harness heal``) removes exactly the toxics this fault added.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from faults.base import Fault, register
from harness.errors import FaultError, HarnessError
from harness.lab.external import resolve_endpoint
from harness.lab.toxiproxy import ToxiproxyClient, ToxiproxyConflict, ToxiproxyNotFound
from harness.scenario import is_external

if TYPE_CHECKING:
    from harness.lab.base import Lab
    from harness.scenario import ServiceSpec

Stream = Literal["upstream", "downstream", "both"]
HOUR_MS = 3_600_000


def _streams(stream: Stream) -> list[str]:
    return ["upstream", "downstream"] if stream == "both" else [stream]


class _ThroughProxy(Fault):
    """A fault on the targets' Toxiproxy proxies: every target needs one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        direct = [svc.name for svc in self.target.services if not svc.proxy]
        if direct:
            raise FaultError(f"{self.kind}: {', '.join(direct)} reached without a proxy")

    @classmethod
    def target_problem(cls, name: str, service: ServiceSpec) -> str | None:
        if is_external(service) and _https(service.endpoint):
            return (
                "it is an external https server, reached directly: Toxiproxy cannot sit in "
                "a TLS connection unnoticed (the client checks that the server's certificate "
                "names the host it dialled, not the proxy), so there is no proxy to fault; "
                "use an http:// endpoint for network faults"
            )
        return None


def _https(endpoint: str) -> bool:
    try:
        return resolve_endpoint(endpoint).tls
    except (ValueError, HarnessError):
        return False  # the endpoint itself is reported elsewhere


class ToxicFault(_ThroughProxy):
    """A fault made of toxics on each target's proxy."""

    toxic_type: ClassVar[str]

    def _toxic_name(self, stream: str) -> str:
        return f"chaos-{self.tag}-{self.toxic_type}-{stream}"

    # Toxiproxy attribute name -> the parameter that sets it (all integers there), plus
    # attributes fixed by the kind.
    attribute_params: ClassVar[dict[str, str]] = {}
    fixed_attributes: ClassVar[dict[str, int]] = {}

    def _attributes(self) -> dict[str, Any]:
        """The toxic's attributes in Toxiproxy's units."""
        out: dict[str, Any] = dict(self.fixed_attributes)
        for attribute, param in self.attribute_params.items():
            out[attribute] = int(getattr(self.params, param))
        return out

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


class ToxicParams(BaseModel):
    """What every toxic takes: which direction, and what share of connections."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    stream: Stream = Field(
        "both", description="upstream (client to service), downstream (back), or both"
    )
    toxicity: float = Field(
        1.0, ge=0, le=1, description="share of connections affected (rolled per connection)"
    )


class LatencyParams(ToxicParams):
    latency_ms: float = Field(100.0, ge=0, le=HOUR_MS, description="added delay per chunk, ms")
    jitter_ms: float = Field(0.0, ge=0, le=HOUR_MS, description="random +/- variation, ms")


@register
class Latency(ToxicFault):
    kind = "network.latency"
    summary = "add latency (and jitter) to every chunk of data through the proxy"
    client_sees = "slow responses; nothing fails unless the delay exceeds the client timeout"
    params_model = LatencyParams
    toxic_type = "latency"
    attribute_params = {"latency": "latency_ms", "jitter": "jitter_ms"}


@register
class Blackhole(ToxicFault):
    kind = "network.blackhole"
    summary = "swallow all data (timeout toxic with timeout 0); connections stay open"
    client_sees = "hangs until its own timeout; connections are closed when the fault is reverted"
    params_model = ToxicParams
    toxic_type = "timeout"
    fixed_attributes = {"timeout": 0}


class TimeoutParams(ToxicParams):
    timeout_ms: int = Field(1000, ge=1, le=HOUR_MS, description="close after this long, ms")


@register
class Timeout(ToxicFault):
    kind = "network.timeout"
    summary = "swallow all data and close each connection after timeout_ms"
    client_sees = "hangs, then the connection is closed (EOF or reset) after timeout_ms"
    params_model = TimeoutParams
    toxic_type = "timeout"
    attribute_params = {"timeout": "timeout_ms"}


class BandwidthParams(ToxicParams):
    rate_kb_s: int = Field(100, ge=1, le=10_000_000, description="throughput cap, KB/s")


@register
class Bandwidth(ToxicFault):
    kind = "network.bandwidth"
    summary = "cap the throughput of each connection at rate_kb_s"
    client_sees = "large requests and replies slow down; small ones barely change"
    params_model = BandwidthParams
    toxic_type = "bandwidth"
    attribute_params = {"rate": "rate_kb_s"}


class SlowCloseParams(ToxicParams):
    delay_ms: int = Field(1000, ge=0, le=HOUR_MS, description="delay before closing, ms")


@register
class SlowClose(ToxicFault):
    kind = "network.slow_close"
    summary = "delay the closing of each connection by delay_ms"
    client_sees = "a closed connection is seen closed only delay_ms later (lingering sockets)"
    params_model = SlowCloseParams
    toxic_type = "slow_close"
    attribute_params = {"delay": "delay_ms"}


class ResetPeerParams(ToxicParams):
    timeout_ms: int = Field(0, ge=0, le=HOUR_MS, description="reset after this long (0: at once)")


@register
class ResetPeer(ToxicFault):
    kind = "network.reset_peer"
    summary = "reset connections (TCP RST) at once or after timeout_ms"
    client_sees = "connection reset by peer; a write in flight is indeterminate"
    params_model = ResetPeerParams
    toxic_type = "reset_peer"
    attribute_params = {"timeout": "timeout_ms"}


class SlicerParams(ToxicParams):
    average_size_bytes: int = Field(64, ge=1, le=1 << 30, description="mean slice size, bytes")
    size_variation_bytes: int = Field(32, ge=0, le=1 << 30, description="slice size +/-, bytes")
    delay_us: int = Field(100, ge=0, le=60_000_000, description="pause between slices, us")


@register
class Slicer(ToxicFault):
    kind = "network.slicer"
    summary = "cut data into small slices sent with a pause between them"
    client_sees = "correct data arriving in many small reads, somewhat slower"
    params_model = SlicerParams
    toxic_type = "slicer"
    attribute_params = {
        "average_size": "average_size_bytes",
        "size_variation": "size_variation_bytes",
        "delay": "delay_us",
    }


class LimitDataParams(ToxicParams):
    bytes: int = Field(1024, ge=1, le=1 << 40, description="close after this many bytes")


@register
class LimitData(ToxicFault):
    kind = "network.limit_data"
    summary = "close each connection once `bytes` bytes have passed through"
    client_sees = "replies cut off and the connection closed part-way"
    params_model = LimitDataParams
    toxic_type = "limit_data"
    attribute_params = {"bytes": "bytes"}


class _ProxySwitch(_ThroughProxy):
    """Faults that turn the proxies themselves off; reverted by turning them on."""

    def revert_record(self) -> dict[str, Any]:
        return {"proxies": [[svc.toxiproxy, svc.proxy] for svc in self.target.services]}

    def _set_all(self, enabled: bool) -> None:
        for addr, proxy in self.revert_record()["proxies"]:
            ToxiproxyClient.from_address(addr).set_enabled(proxy, enabled)

    @classmethod
    def revert_from(cls, record: dict[str, Any], lab: Lab | None) -> None:
        for addr, proxy in record["proxies"]:
            with contextlib.suppress(ToxiproxyNotFound):
                ToxiproxyClient.from_address(addr).set_enabled(proxy, True)


@register
class Down(_ProxySwitch):
    kind = "network.down"
    summary = "disable the proxy: live connections closed, new ones refused"
    client_sees = "connection refused (fast failure); in-flight requests see a reset"

    def apply(self) -> None:
        self._set_all(False)


class FlapParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    period_s: float = Field(2.0, ge=0.05, le=3600, description="one down + up cycle, s")
    down_ratio: float = Field(0.5, gt=0, lt=1, description="share of each period spent down")


@register
class Flap(_ProxySwitch):
    kind = "network.flap"
    summary = "take the proxy down and up again every period_s for the fault's duration"
    client_sees = "bursts of refused connections and resets alternating with normal service"
    params_model = FlapParams
    needs = (
        "the target's Toxiproxy proxy; by hand, `harness fault apply --wait` (it flaps "
        "from the applying process)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def needs_foreground(self) -> bool:
        return True

    def apply(self) -> None:
        self._set_all(False)  # the first down is synchronous: apply means "in effect"
        self._thread = threading.Thread(target=self._cycle, name=f"flap-{self.tag}", daemon=True)
        self._thread.start()

    def _cycle(self) -> None:
        p = self.params
        assert isinstance(p, FlapParams)
        down_s, up_s = p.period_s * p.down_ratio, p.period_s * (1 - p.down_ratio)
        while not self._stop.wait(down_s):
            try:
                self._set_all(True)
                if self._stop.wait(up_s):
                    return
                self._set_all(False)
            except Exception as exc:  # keep flapping; the revert re-enables in any case
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def revert(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        super().revert()
