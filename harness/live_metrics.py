"""Live metrics of a run for dashboards: ``--prometheus-port N``.

A prometheus-client HTTP server, bound to 127.0.0.1 only, serves the run's state as it
goes, from the same tick that drives the status line (about four times a second, from
the load generators' one-second ticks). It is a ``runner.RunObserver``: started once
the load runs, stopped at the end. The port is checked before the lab starts
(``check_port``), so a port in use costs nothing to find out.

Metrics (all prefixed ``harness_``): ``ops_total{type}`` (ok/fail/info counters),
``ops_per_second``, ``users``, ``latency_ms{quantile}`` (0.5, 0.95, 0.99 of the last
second), ``elapsed_seconds``, ``fault_active{fault_id,kind,target}`` (1 while applied),
``faults_applied_total``, ``faults_reverted_total`` and ``run_info{scenario}``.
"""

from __future__ import annotations

import errno
import socket
import threading
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from harness.errors import EnvironmentProblem
from harness.scenario import PlannedFault
from harness.timeline import Event

HOST = "127.0.0.1"
QUANTILES = {"0.5": "p50_ms", "0.95": "p95_ms", "0.99": "p99_ms"}


def check_port(port: int) -> None:
    """``EnvironmentProblem`` (exit 3) when 127.0.0.1:``port`` cannot be listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            why = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise EnvironmentProblem(
                f"--prometheus-port {port}: cannot listen on {HOST}:{port} ({why}); "
                "choose another port"
            ) from None


class LiveMetrics:
    """The run's counters and latency summaries on ``http://127.0.0.1:PORT/metrics``."""

    def __init__(self, port: int, scenario: str) -> None:
        self.port = port
        self.registry = CollectorRegistry()
        r = self.registry
        self.ops = Counter("harness_ops", "Operations completed, by type.", ["type"], registry=r)
        self.rate = Gauge("harness_ops_per_second", "Operations in the last second.", registry=r)
        self.users = Gauge("harness_users", "Running load users.", registry=r)
        self.latency = Gauge(
            "harness_latency_ms", "Latency of the last second.", ["quantile"], registry=r
        )
        self.elapsed = Gauge(
            "harness_elapsed_seconds", "Seconds since the load started.", registry=r
        )
        self.active = Gauge(
            "harness_fault_active",
            "1 while a fault is applied.",
            ["fault_id", "kind", "target"],
            registry=r,
        )
        self.applied = Counter("harness_faults_applied", "Faults applied.", registry=r)
        self.reverted = Counter("harness_faults_reverted", "Faults reverted.", registry=r)
        Gauge("harness_run_info", "The run.", ["scenario"], registry=r).labels(scenario).set(1)
        self._seen = {"ok": 0, "fail": 0, "info": 0}
        self._labels: set[tuple[str, str, str]] = set()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self._server, self._thread = start_http_server(self.port, HOST, self.registry)
        except OSError as exc:
            raise EnvironmentProblem(f"--prometheus-port {self.port}: {exc.strerror}") from None

    def on_tick(self, elapsed_s: float, active: list[PlannedFault], tick: dict[str, Any]) -> None:
        self.elapsed.set(elapsed_s)
        totals = tick.get("totals", {})
        for kind, seen in self._seen.items():
            now = int(totals.get(kind, seen))
            if now > seen:
                self.ops.labels(kind).inc(now - seen)
                self._seen[kind] = now
        if tick:
            self.rate.set(sum(int(tick.get(k, 0)) for k in ("ok", "fail", "info")))
            self.users.set(max(int(tick.get("users", 0)), 0))
        for quantile, key in QUANTILES.items():
            if tick.get(key) is not None:
                self.latency.labels(quantile).set(float(tick[key]))
        self._set_active(active)

    def _set_active(self, active: list[PlannedFault]) -> None:
        now = {(pf.fault_id, pf.kind, ",".join(pf.targets)) for pf in active}
        for labels in self._labels | now:
            self.active.labels(*labels).set(1 if labels in now else 0)
        self._labels |= now

    def on_event(self, event: Event) -> None:
        (self.applied if event.action == "apply" else self.reverted).inc()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=2.0)
