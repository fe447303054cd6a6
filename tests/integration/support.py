"""Helpers for the integration tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

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
