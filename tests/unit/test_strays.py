"""A lab's processes that were never journaled are found by their working directory."""

from __future__ import annotations

import subprocess

import psutil

from harness.lab.procs import stop_strays


def _sleeper(cwd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"], cwd=cwd, start_new_session=True)


def test_processes_under_the_root_are_stopped_and_others_are_not(tmp_path) -> None:
    root = tmp_path / "lab"
    (root / "redis").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    inside = _sleeper(str(root / "redis"))
    outside = _sleeper(str(tmp_path / "elsewhere"))
    sibling = tmp_path / "lab-2"  # shares the prefix "lab" but is not under it
    sibling.mkdir()
    neighbour = _sleeper(str(sibling))
    try:
        assert stop_strays(root) == [inside.pid]
        assert inside.wait(timeout=5) is not None
        assert outside.poll() is None and neighbour.poll() is None
        assert psutil.pid_exists(outside.pid)
    finally:
        for proc in (inside, outside, neighbour):
            proc.kill()
            proc.wait()
