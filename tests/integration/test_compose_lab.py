"""The compose lab on the real docker engine: containers of compose/docker-compose.yml
behind the Toxiproxy container, faults on containers, heal, and a teardown that leaves
nothing labelled as ours.

The images are the ones ``make compose-setup`` builds (the HARNESS_*_IMAGE variables the
Makefile exports); without an engine these tests fail rather than skip: CI starts one.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import redis

from harness.journal import Journal
from harness.lab.compose import LABEL

from .support import REPO, harness, history, run_record, wait_applied, wait_for, write_scenario

pytestmark = [pytest.mark.services, pytest.mark.docker]


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    client.ping()
    yield client
    client.close()


def ours(engine: docker.DockerClient, lab_id: str | None = None) -> list[str]:
    """Every container, network and volume with the lab label (of one lab, or any)."""
    selector = {"label": LABEL if lab_id is None else f"{LABEL}={lab_id}"}
    return [
        *(f"container {c.name}" for c in engine.containers.list(all=True, filters=selector)),
        *(f"network {n.name}" for n in engine.networks.list(filters=selector)),
        *(f"volume {v.name}" for v in engine.volumes.list(filters=selector)),
    ]


def run(tmp_path: Path, env: dict[str, str], text: str) -> tuple[int, dict, str]:
    scenario = write_scenario(tmp_path / "scenario.yaml", text)
    out = tmp_path / "run"
    proc = harness(["chaos", "run", str(scenario), "--out", str(out)], env)
    result = json.loads((out / "result.json").read_text())
    return proc.returncode, result, proc.stdout + proc.stderr


KILL = """
name: compose-kill
lab:
  backend: compose
  services:
    redis: {{kind: redis, durability: "{durability}"}}
duration: 10s
load:
  workload: redis.kv
  users: 4
  spawn_rate: 50
  params: {{write_ratio: 1.0, op_timeout: 500ms, wait: 2ms}}
timeline:
  - {{id: kill, at: 3s, for: 2s, fault: process.kill, target: redis, params: {{signal: KILL}}}}
checks:
  integrity: {{}}
slo:
  integrity: pass
"""


def test_a_container_killed_under_writes_with_appendfsync_always_loses_nothing(
    tmp_path: Path, harness_env: dict[str, str], engine: docker.DockerClient
) -> None:
    code, result, output = run(tmp_path, harness_env, KILL.format(durability="always"))
    assert code == 0, output
    integrity = result["checks"]["integrity"]
    assert integrity["verdict"] == "pass"
    assert integrity["lost"] == 0 and integrity["acked"] > 500
    kill = result["faults"][0]
    assert kill["availability"] < 0.5  # really down: the container was killed
    assert kill["time_to_recover_s"] is not None
    lab_id = run_record(tmp_path / "run")["lab"]["lab_id"]
    assert lab_id.startswith("compose-")
    assert ours(engine, lab_id) == []


def test_a_container_without_aof_killed_under_writes_is_reported_lost(
    tmp_path: Path, harness_env: dict[str, str], engine: docker.DockerClient
) -> None:
    code, result, output = run(tmp_path, harness_env, KILL.format(durability="off"))
    assert code == 1, output
    assert result["checks"]["integrity"]["lost"] > 0


FAULTS = """
name: compose-faults
lab:
  backend: compose
  services:
    redis:
      kind: redis
      durability: everysec
      disk: {size: 64MiB}
duration: 17s
load:
  workload: redis.kv
  users: 4
  spawn_rate: 50
  params: {write_ratio: 0.9, value_size_bytes: 256, op_timeout: 300ms, wait: 2ms}
timeline:
  - {id: cut, at: 3s, for: 2s, fault: network.down, target: redis}
  - {id: frozen, at: 7s, for: 2s, fault: process.pause, target: redis}
  - {id: full, at: 11s, for: 2s, fault: disk.fill, target: redis, params: {free_bytes: 0}}
checks:
  integrity: {}
recovery:
  p95_floor_ms: 25
slo:
  integrity: pass
"""


def test_partition_pause_and_full_disk_on_containers(
    tmp_path: Path, harness_env: dict[str, str], engine: docker.DockerClient
) -> None:
    code, result, output = run(tmp_path, harness_env, FAULTS)
    assert code == 0, output
    assert result["checks"]["integrity"]["lost"] == 0
    faults = {f["id"]: f for f in result["faults"]}
    # The Toxiproxy container's proxy disabled: connections refused, nothing acked.
    assert faults["cut"]["availability"] < 0.2
    # A paused container answers nothing: operations time out (info), none acked while
    # it is frozen. (Its availability is no measure: the few operations in flight when it
    # is unpaused succeed against a handful of timeouts.)
    frozen = faults["frozen"]
    during = _windows(tmp_path, frozen["applied_at_s"] + 0.3, frozen["reverted_at_s"] - 0.1)
    assert len(during) >= 10 and all(int(r["ok"]) == 0 for r in during), during
    assert sum(int(r["fail"]) + int(r["info"]) for r in during) > 0  # timeouts, then failures
    # The bound data volume filled: Redis refuses writes (reads still succeed).
    assert faults["full"]["availability"] < 0.5
    refused = [
        r
        for r in history(tmp_path / "run")
        if r.get("op") == "set" and "No space left" in str(r.get("error"))
    ]
    assert refused, "no write was refused with ENOSPC"
    for f in faults.values():
        assert f["time_to_recover_s"] is not None, f
    # docker stats of the containers reached the history.
    assert (tmp_path / "run" / "resources.csv").read_text().count("redis") > 5
    assert ours(engine, run_record(tmp_path / "run")["lab"]["lab_id"]) == []


def _windows(tmp_path: Path, from_s: float, to_s: float) -> list[dict[str, str]]:
    """The run's timeseries.csv rows of the windows that start in [from_s, to_s)."""
    rows = csv.DictReader((tmp_path / "run" / "timeseries.csv").read_text().splitlines())
    return [r for r in rows if from_s <= float(r["t_s"]) < to_s]


STOP_RESTART_READONLY = """
name: compose-stop-restart-readonly
lab:
  backend: compose
  services:
    redis:
      kind: redis
      durability: rdb
      disk: {size: 64MiB}
duration: 22s
load:
  workload: redis.kv
  users: 4
  spawn_rate: 50
  params: {write_ratio: 0.9, value_size_bytes: 256, op_timeout: 300ms, wait: 2ms}
timeline:
  - {id: stopped, at: 3s, for: 2s, fault: process.stop, target: redis, params: {grace_s: 5}}
  - {id: restarted, at: 8s, fault: process.restart, target: redis, params: {grace_s: 5}}
  - {id: ro, at: 12s, for: 2s, fault: disk.readonly, target: redis}
checks:
  integrity: {}
recovery:
  p95_floor_ms: 25
slo:
  integrity: pass
"""


def test_stop_restart_and_read_only_volume_on_a_snapshotting_container(
    tmp_path: Path, harness_env: dict[str, str], engine: docker.DockerClient
) -> None:
    code, result, output = run(tmp_path, harness_env, STOP_RESTART_READONLY)
    # A graceful stop and restart save the snapshot first: nothing acknowledged is lost.
    assert code == 0, output
    assert result["checks"]["integrity"]["lost"] == 0
    faults = {f["id"]: f for f in result["faults"]}
    # The container was really stopped: nothing acknowledged from just after the stop
    # until the revert began to start it again (availability also counts the time the
    # revert waits for Redis to answer).
    stop = faults["stopped"]
    # (Redis acts on SIGTERM at its next cron tick, 100 ms or more on a busy machine.)
    down = _windows(tmp_path, stop["applied_at_s"] + 0.5, 4.9)
    assert len(down) >= 5 and all(int(r["ok"]) == 0 for r in down), down
    for f in faults.values():
        assert f["time_to_recover_s"] is not None, f
    records = history(tmp_path / "run")
    # The data volume remounted read-only: the snapshot fails and Redis refuses writes.
    refused = [r for r in records if r.get("op") == "set" and "MISCONF" in str(r.get("error"))]
    assert refused, "no write was refused after the read-only remount"
    assert ours(engine, run_record(tmp_path / "run")["lab"]["lab_id"]) == []


def test_lab_up_status_logs_down_leaves_nothing_of_ours(
    harness_env: dict[str, str], engine: docker.DockerClient
) -> None:
    up = harness(["lab", "up", "--backend", "compose", "--json"], harness_env)
    assert up.returncode == 0, up.stdout + up.stderr
    record = json.loads(up.stdout)
    lab_id = record["lab_id"]
    assert len(ours(engine, lab_id)) >= 6  # 3 containers, a network, 2 volumes
    for container in engine.containers.list(filters={"label": f"{LABEL}={lab_id}"}):
        for bindings in container.attrs["NetworkSettings"]["Ports"].values():
            assert all(b["HostIp"] == "127.0.0.1" for b in bindings or [])
    redis_host, redis_port = record["services"]["redis"]["client"]
    assert redis.Redis(host=redis_host, port=redis_port).ping()
    status = harness(["lab", "status"], harness_env)
    assert status.returncode == 0 and "answers in" in status.stdout, status.stdout
    logs = harness(["lab", "logs", "redis", "--tail", "5"], harness_env)
    assert "Ready to accept connections" in logs.stdout, logs.stdout
    down = harness(["lab", "down"], harness_env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert ours(engine, lab_id) == []


PAUSE_FOR_LONG = """
name: compose-held
lab:
  backend: compose
duration: 60s
load:
  workload: redis.kv
  users: 2
  params: {wait: 10ms, op_timeout: 300ms}
timeline:
  - {id: held, at: 1s, for: 50s, fault: FAULT, target: redis}
"""


@pytest.mark.parametrize("fault", ["process.pause", "process.kill"])
def test_heal_after_sigkill_of_the_harness_mid_container_fault(
    tmp_path: Path, harness_env: dict[str, str], engine: docker.DockerClient, fault: str
) -> None:
    up = harness(["lab", "up", "--backend", "compose", "--json"], harness_env)
    assert up.returncode == 0, up.stdout + up.stderr
    record = json.loads(up.stdout)
    lab_id = record["lab_id"]
    scenario = write_scenario(tmp_path / "held.yaml", PAUSE_FOR_LONG.replace("FAULT", fault))
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "chaos",
            "run",
            str(scenario),
            "--out",
            str(out),
            "--lab",
            "attach",
        ],
        cwd=REPO,
        env=harness_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_applied(out, timeout_s=60)
    (target,) = engine.containers.list(
        all=True,
        filters={"label": [f"{LABEL}={lab_id}", "com.docker.compose.service=redis"]},
    )
    target.reload()
    assert target.status == ("paused" if fault == "process.pause" else "exited")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    # Nobody calls heal: the watchdog unpauses / starts the container again.
    journal = Journal(Path(harness_env["HARNESS_STATE_DIR"]) / "journal.jsonl")
    wait_for(lambda: not journal.state().faults, 30.0, "the watchdog to revert the fault")
    # The watchdog logs what it reverted just after the journal says so.
    log = Path(harness_env["HARNESS_STATE_DIR"]) / "watchdog.log"
    wait_for(lambda: f"({fault} on redis)" in log.read_text(), 5.0, "the watchdog's log line")
    target.reload()
    assert target.status == "running"
    host, port = record["services"]["redis"]["client"]
    wait_for(lambda: _pings(host, port), 10.0, "redis to answer through its proxy")
    assert harness(["lab", "down"], harness_env).returncode == 0
    assert ours(engine, lab_id) == []


def _pings(host: str, port: int) -> bool:
    try:
        return bool(redis.Redis(host=host, port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False
