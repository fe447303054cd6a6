"""Every network fault kind against a real redis-server behind the real Toxiproxy server:
each test shows the effect a client sees, then that the revert leaves the proxy clean."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from faults.base import FaultTarget, get_kind
from harness.journal import Journal
from harness.lab.base import ServiceHandle
from harness.lab.local import LocalLab
from harness.lab.toxiproxy import ToxiproxyClient
from harness.scenario import RedisServiceSpec

from .support import client

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLab]:
    root = tmp_path_factory.mktemp("netlab")
    services = {"redis": RedisServiceSpec(durability="off"), "cache": RedisServiceSpec()}
    lab = LocalLab(root / "lab", services, Journal(root / "journal.jsonl"))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


@contextmanager
def applied(
    lab: LocalLab, kind: str, targets: tuple[str, ...] = ("redis",), **params: Any
) -> Iterator[None]:
    fault_cls = get_kind(kind)
    assert fault_cls is not None
    services = [lab.services[t] for t in targets]
    fault = fault_cls(
        "t",
        FaultTarget(lab, services),
        fault_cls.params_model(**params),
        tag=f"test-{time.monotonic_ns()}",
    )
    fault.apply()
    try:
        yield
    finally:
        fault.revert()
    for svc in services:
        proxy = ToxiproxyClient.from_address(svc.toxiproxy).get_proxy(svc.proxy)
        assert proxy.enabled and not proxy.toxics, f"{kind} left {proxy}"


def ping_ms(svc: ServiceHandle, times: int = 5) -> float:
    samples = []
    for _ in range(times):
        with client(svc) as c:
            c.ping()  # connect outside the measurement
            start = time.perf_counter()
            c.ping()
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def test_latency_shows_in_the_median_and_toxicity_zero_spares_everyone(lab: LocalLab) -> None:
    svc = lab.services["redis"]
    base = ping_ms(svc)
    with applied(lab, "network.latency", latency_ms=100, stream="downstream"):
        assert 95 <= ping_ms(svc) < 400
    with applied(lab, "network.latency", latency_ms=100, toxicity=0.0):
        assert ping_ms(svc) < base + 50


def test_reset_peer_resets_connections(lab: LocalLab) -> None:
    with applied(lab, "network.reset_peer", timeout_ms=0), client(lab.services["redis"]) as c:
        with pytest.raises(redis.ConnectionError) as info:
            c.ping()
        assert "reset" in str(info.value).lower() or "closed" in str(info.value).lower()


def test_timeout_hangs_then_closes_the_connection(lab: LocalLab) -> None:
    with applied(lab, "network.timeout", timeout_ms=300), client(lab.services["redis"]) as c:
        start = time.monotonic()
        with pytest.raises(redis.ConnectionError):
            c.ping()
        assert 0.25 <= time.monotonic() - start < 1.9  # closed by the toxic, not our timeout


def test_blackhole_hangs_until_the_client_timeout(lab: LocalLab) -> None:
    with applied(lab, "network.blackhole"), client(lab.services["redis"], 0.5) as c:
        start = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            c.ping()
        assert time.monotonic() - start >= 0.45


def test_bandwidth_caps_throughput_within_20_percent(lab: LocalLab) -> None:
    svc = lab.services["redis"]
    payload = b"x" * 1_000_000
    with client(svc) as c:
        c.set("big", payload)
    bandwidth = applied(lab, "network.bandwidth", rate_kb_s=1000, stream="downstream")
    times = []
    with bandwidth, client(svc, 10) as c:
        c.ping()
        for _ in range(3):
            start = time.monotonic()
            assert c.get("big") == payload
            times.append(time.monotonic() - start)
    # 1,000,000 bytes at 1000 KB/s (Toxiproxy's KB is 1000 bytes) take 1 s. A busy
    # machine only adds time, so the fastest of three transfers is the cap's measure.
    assert 0.8 <= min(times) <= 1.2, times


def test_limit_data_cuts_replies_off(lab: LocalLab) -> None:
    svc = lab.services["redis"]
    with client(svc) as c:
        c.set("kilo", b"y" * 5000)
    # The limit leaves room for the connection handshake (HELLO's reply) and a PING.
    with applied(lab, "network.limit_data", bytes=2000, stream="downstream"), client(svc) as c:
        assert c.ping()  # small replies still pass
        with pytest.raises(redis.ConnectionError):
            c.get("kilo")


def test_slicer_delivers_the_same_bytes(lab: LocalLab) -> None:
    svc = lab.services["redis"]
    value = bytes(range(256)) * 40
    with client(svc) as c:
        c.set("sliced", value)
    with (
        applied(
            lab,
            "network.slicer",
            average_size_bytes=16,
            size_variation_bytes=8,
            delay_us=50,
            stream="downstream",
        ),
        client(svc) as c,
    ):
        assert c.get("sliced") == value


def test_slow_close_delays_the_close_the_client_sees(lab: LocalLab) -> None:
    svc = lab.services["redis"]
    slow_close = applied(lab, "network.slow_close", delay_ms=500, stream="downstream")
    address = (svc.client.host, svc.client.port)
    with slow_close, socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"QUIT\r\n")
        assert sock.recv(16).startswith(b"+OK")
        start = time.monotonic()
        assert sock.recv(16) == b""  # EOF, but only after the delay
        assert time.monotonic() - start >= 0.4


def test_flap_alternates_refusals_and_service(lab: LocalLab) -> None:
    svc = lab.services["redis"]
    outcomes = []
    with applied(lab, "network.flap", period_s=0.4, down_ratio=0.5):
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            try:
                with client(svc, 0.2) as c:
                    outcomes.append(bool(c.ping()))
            except (redis.ConnectionError, redis.TimeoutError):
                outcomes.append(False)
            time.sleep(0.02)
    assert any(outcomes) and not all(outcomes)
    with client(svc) as c:
        assert c.ping()


def test_one_fault_partitions_several_services_at_once(lab: LocalLab) -> None:
    with applied(lab, "network.down", targets=("redis", "cache")):
        for name in ("redis", "cache"):
            with client(lab.services[name], 0.5) as c, pytest.raises(redis.ConnectionError):
                c.ping()
    for name in ("redis", "cache"):
        with client(lab.services[name]) as c:
            assert c.ping()


def test_upstream_only_latency_slows_requests_not_replies(lab: LocalLab) -> None:
    with applied(lab, "network.latency", latency_ms=100, stream="upstream"):
        assert 95 <= ping_ms(lab.services["redis"]) < 400
