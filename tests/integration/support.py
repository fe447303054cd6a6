"""Helpers for the integration tests."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.lab.base import ServiceHandle

REPO = Path(__file__).resolve().parents[2]


def harness(
    args: list[str], env: dict[str, str], timeout_s: float = 180, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def client(svc: ServiceHandle, timeout_s: float = 2.0) -> redis.Redis:
    """A Redis client through the service's Toxiproxy proxy that never retries."""
    return redis.Redis(
        host=svc.client.host,
        port=svc.client.port,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),  # the test must see the first failure, as the workload does
    )


def start_run(scenario: Path, out: Path, env: dict[str, str], *flags: str) -> subprocess.Popen[str]:
    """``harness chaos run`` in the background, for tests that interrupt it or act on
    the lab while it runs."""
    args = ["chaos", "run", str(scenario), "--out", str(out), *flags]
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def running(
    scenario: Path, out: Path, env: dict[str, str], *flags: str
) -> Iterator[subprocess.Popen[str]]:
    """``start_run``, killed on the way out if the test left it running."""
    run = start_run(scenario, out, env, *flags)
    try:
        yield run
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()


def wait_applied(out: Path, timeout_s: float = 30) -> None:
    """Wait until the run in ``out`` has recorded its first fault apply."""

    def applied() -> bool:
        try:
            return any(r.get("op") == "fault" and r["action"] == "apply" for r in history(out))
        except FileNotFoundError:
            return False

    wait_for(applied, timeout_s, "the fault to be applied")


def write_scenario(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def history(run_dir: Path) -> list[dict[str, Any]]:
    out = []
    with open(run_dir / "history.jsonl") as handle:
        for line in handle:
            if line.endswith("\n"):
                out.append(json.loads(line))
    return out


def run_record(run_dir: Path) -> dict[str, Any]:
    return next(r for r in history(run_dir) if r.get("op") == "run")


def started_run_record(run_dir: Path) -> dict[str, Any] | None:
    """The run record once the run has written it, else None (for ``wait_for``)."""
    try:
        return run_record(run_dir)
    except (FileNotFoundError, StopIteration):
        return None


def wait_started(run_dir: Path, timeout_s: float = 60) -> dict[str, Any]:
    """The run record of a run started in the background, once it is written."""
    record: dict[str, Any] = wait_for(
        lambda: started_run_record(run_dir), timeout_s, "the run to start"
    )
    return record


def upstream_redis(record: dict[str, Any]) -> redis.Redis:
    """A client straight to the run's Redis, not through its proxy: for tests that
    change what Redis holds or does behind the harness's back."""
    host, port = record["lab"]["services"]["redis"]["upstream"]
    return redis.Redis(host=host, port=port, socket_timeout=2)


def lab_pids(record: dict[str, Any]) -> list[int]:
    lab = record["lab"]
    procs = [lab["toxiproxy_process"], *lab["processes"].values()]
    pids = [p["pid"] for p in procs if p and p.get("pid")]
    if record.get("loadgen_pid"):
        pids.append(record["loadgen_pid"])
    return pids


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
