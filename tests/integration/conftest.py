"""Integration tests: real redis-server and the real Toxiproxy server, run by the real
``harness`` command in a subprocess. Each test gets its own heal journal."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.heal import heal
from harness.journal import Journal
from harness.labctl import lab_down

from .support import REPO


@pytest.fixture
def harness_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment for `harness` commands: a state directory of the test's own.
    Whatever a failed test left in it (faults, a run's lab, a persistent lab) is undone
    afterwards, so one failure does not leave processes behind for the next."""
    env = dict(os.environ)
    env["HARNESS_STATE_DIR"] = str(tmp_path / "state")
    # Runs are indexed; a test's runs go to an index of its own, not the checkout's runs/.
    env["HARNESS_INDEX"] = str(tmp_path / "index.sqlite")
    env.setdefault("HARNESS_TOXIPROXY_BIN", str(REPO / ".bin" / "server"))
    yield env
    journal = Journal(tmp_path / "state" / "journal.jsonl")
    if journal.path.exists():
        lab_down(journal)
        heal(journal, include_live=True)


@pytest.fixture
def no_leftovers(tmp_path: Path) -> Iterator[None]:
    """Fails the test if a process started inside its directory (every lab process runs
    with its working directory under the run directory) is still running."""
    yield
    time.sleep(0.2)
    left = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cwd = proc.cwd()
        except psutil.Error:
            continue
        if cwd.startswith(str(tmp_path)):
            left.append(proc.info["cmdline"])
    assert not left, f"processes left behind: {left}"
