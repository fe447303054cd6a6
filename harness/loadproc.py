"""Runs the load generator as a child process and follows its progress lines."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness.errors import LabError
from harness.lab.base import Endpoint
from harness.lab.s3 import S3Target

_PR_SET_PDEATHSIG = 1
LOADGEN_NICENESS = 5


def _child_setup() -> None:
    # If the harness is SIGKILLed, the kernel sends the load generator SIGTERM.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    # The load generator is the bulk CPU user; when cores are scarce the fault injector
    # (and the services under test) must not queue behind it.
    with contextlib.suppress(OSError):
        os.nice(LOADGEN_NICENESS)


# The load starts this long after the harness fixes t0, so the generator is listening.
START_MARGIN_S = 0.05


def loadgen_config(
    client: Endpoint,
    params: BaseModel,
    *,
    seed: int,
    key_prefix: str,
    history: Path,
    users: int,
    spawn_rate: float,
    workload: str = "redis.kv",
    s3: S3Target | None = None,
    stages: list[dict[str, Any]] | None = None,
    process_prefix: str = "",
) -> dict[str, Any]:
    """The configuration the load generator process reads (``loadgen.json``). It holds
    no secret: an S3 target's credentials reach the process by environment."""
    return {
        "workload": workload,
        "host": client.host,
        "port": client.port,
        "s3": None
        if s3 is None
        else {"endpoint_url": s3.endpoint_url, "region": s3.region, "bucket": s3.bucket},
        "params": params.model_dump(),
        "seed": seed,
        "key_prefix": key_prefix,
        "history": str(history),
        "users": users,
        "spawn_rate": spawn_rate,
        # A load profile's stages (harness/profiles.py); None: all users, all along.
        "stages": stages,
        # One of several generators: prepended to its records' process field.
        "process_prefix": process_prefix,
        "generator": process_prefix.rstrip("/"),
    }


class LoadGenerator:
    def __init__(
        self,
        run_dir: Path,
        config: dict[str, Any],
        env: dict[str, str] | None = None,
        name: str = "",
    ) -> None:
        """``name``: one of several generators (``g1``...), which names its files
        ``loadgen-g1.json`` and ``loadgen-g1.log``; left out, ``loadgen.json``."""
        self.run_dir = run_dir
        self.name = name
        self.file_stem = f"loadgen-{name}" if name else "loadgen"
        self.label = f" {name}" if name else ""
        self.log_path = run_dir / f"{self.file_stem}.log"
        self.records: int | None = None
        # Called from the reader thread when the process's output ends.
        self.on_exit: Callable[[LoadGenerator], None] | None = None
        self.config = config
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.ready = threading.Event()
        self.done = threading.Event()
        self.totals: dict[str, int] = {}
        self.last_tick: dict[str, Any] = {}
        # Operations counted so far, from the ticks (the live metrics' counters).
        self.ticked = {"ok": 0, "fail": 0, "info": 0}
        self.finished_ns: int | None = None
        self._reader: threading.Thread | None = None

    def start(self, ready_deadline_s: float = 60.0) -> None:
        self.spawn()
        self.wait_ready(ready_deadline_s)

    def spawn(self) -> None:
        """Start the process; it reports ready once Locust is set up (``wait_ready``)."""
        config_path = self.run_dir / f"{self.file_stem}.json"
        config_path.write_text(json.dumps(self.config, indent=2))
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "harness.workloads.loadgen", str(config_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
                preexec_fn=_child_setup,
                env={**os.environ, **self.env},
            )
        finally:
            log.close()
        self._reader = threading.Thread(target=self._read, name="loadgen-reader", daemon=True)
        self._reader.start()

    def wait_ready(self, deadline_s: float) -> None:
        if not self.ready.wait(deadline_s):
            self.stop()
            raise LabError(self.failure(f"the load generator{self.label} did not become ready"))

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind = event.get("ev")
            if kind == "ready":
                self.ready.set()
            elif kind == "tick":
                self.last_tick = event
                for key in self.ticked:
                    self.ticked[key] += int(event.get(key, 0))
            elif kind == "done":
                self.totals = {k: event[k] for k in ("ok", "fail", "info")}
                self.records = event.get("records")
                self.finished_ns = time.monotonic_ns()
                self.done.set()
        # EOF: the process ended; wake anyone still waiting.
        self.finished_ns = self.finished_ns or time.monotonic_ns()
        self.ready.set()
        self.done.set()
        if self.on_exit is not None:
            self.on_exit(self)

    def go(self, t0_ns: int, stop_ns: int) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        if self.proc.poll() is not None:
            raise LabError(self.failure(f"the load generator{self.label} exited before the start"))
        self.proc.stdin.write(json.dumps({"t0_ns": t0_ns, "stop_ns": stop_ns}) + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout_s: float) -> bool:
        if self.done.wait(timeout_s):
            self.finished_ns = self.finished_ns or time.monotonic_ns()
            return True
        return False

    def exited_early(self, stop_ns: int) -> bool:
        """True when the generator ended before ``stop_ns`` or without its totals."""
        return not self.totals or (self.finished_ns or 0) < stop_ns

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM (the generator stops its users and flushes), SIGKILL after ``grace_s``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5.0)

    def close(self) -> None:
        # Its users may each need two operation timeouts to finish and flush the history.
        op_timeout = float(self.config.get("params", {}).get("op_timeout", 1.0))
        self.stop(grace_s=2 * op_timeout + 5.0)
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def failure(self, what: str) -> str:
        time.sleep(0.1)
        try:
            tail = self.log_path.read_text(errors="replace").strip()
        except OSError:
            tail = ""
        tail = "\n".join(tail.splitlines()[-10:])
        return what + (f"; {self.log_path.name} ends with:\n{tail}" if tail else "")
