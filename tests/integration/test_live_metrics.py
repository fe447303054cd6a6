"""`--prometheus-port`: /metrics scraped during a real run; a port in use is exit 3."""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from .support import harness, start_run, write_scenario

pytestmark = pytest.mark.services

SCENARIO = """\
name: live-metrics
lab:
  services:
    redis: {kind: redis}
duration: 6s
load:
  workload: redis.kv
  users: 3
  spawn_rate: 10
  params: {wait: 5ms}
timeline:
  - {id: cut, at: 2s, for: 2s, fault: network.down, target: redis}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """Sample name with labels -> value; {} when nothing answers yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as reply:
            text = reply.read().decode()
    except OSError:
        return {}
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")
    return {name: float(value) for name, value in pairs}


def test_counters_rise_and_the_active_fault_shows_during_a_run(
    harness_env: dict[str, str], tmp_path: Path, no_leftovers: None
) -> None:
    port = free_port()
    scenario = write_scenario(tmp_path / "s.yaml", SCENARIO)
    args = ("--prometheus-port", str(port))
    proc = start_run(scenario, tmp_path / "run", harness_env, *args)
    samples: list[dict[str, float]] = []
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if sample := scrape(port):
            samples.append(sample)
        time.sleep(0.3)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 1), err
    ok = [s['harness_ops_total{type="ok"}'] for s in samples if 'harness_ops_total{type="ok"}' in s]
    assert len(ok) >= 5 and ok[-1] > ok[0] > 0, ok
    assert ok == sorted(ok)  # a counter never goes down
    active = 'harness_fault_active{fault_id="cut",kind="network.down",target="redis"}'
    assert any(s.get(active) == 1.0 for s in samples)
    assert samples[-1].get(active) == 0.0
    assert samples[-1]["harness_faults_applied_total"] == 1.0
    assert any(s.get('harness_ops_total{type="fail"}', 0) > 0 for s in samples)
    assert any(s.get('harness_latency_ms{quantile="0.95"}', 0) > 0 for s in samples)
    assert scrape(port) == {}  # stopped with the run
    assert re.search(r"ops", out)


def test_a_port_in_use_is_exit_3_before_the_lab_starts(
    harness_env: dict[str, str], tmp_path: Path
) -> None:
    scenario = write_scenario(tmp_path / "s.yaml", SCENARIO)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ("--prometheus-port", str(port))
        run = harness(
            ["chaos", "run", str(scenario), "--out", str(tmp_path / "run"), *args],
            harness_env,
        )
    assert run.returncode == 3, run.stderr
    assert f"--prometheus-port {port}: cannot listen on 127.0.0.1:{port} (in use)" in run.stderr
    assert not (tmp_path / "run").exists()
