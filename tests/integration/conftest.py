"""Integration tests: real redis-server and the real Toxiproxy server, run by the real
``harness`` command in a subprocess. Each test gets its own heal journal."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from .support import REPO


@pytest.fixture
def harness_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HARNESS_STATE_DIR"] = str(tmp_path / "state")
    env.setdefault("HARNESS_TOXIPROXY_BIN", str(REPO / ".bin" / "server"))
    return env


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """Fails the test if it leaves redis-server or Toxiproxy processes it started."""
    before = {p.pid for p in psutil.process_iter()}
    yield
    time.sleep(0.2)
    left = [
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if p.pid not in before
        and any(("redis-server" in c or c.endswith("/server")) for c in (p.info["cmdline"] or []))
    ]
    assert not left, f"processes left behind: {[p.info['cmdline'] for p in left]}"
