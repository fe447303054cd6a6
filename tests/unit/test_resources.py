"""The resource sampler on real (small) processes: RSS and CPU read with psutil, a
restarted process followed to its new pid, a reused pid refused, samples in the history."""

from __future__ import annotations

import itertools
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.history import HistoryWriter, read_history
from harness.lab.procs import ManagedProcess
from harness.resources import (
    ProcessProbe,
    ResourceSample,
    ResourceSampler,
    lab_targets,
    write_resources_csv,
)

# Allocates 80 MB when sent SIGUSR1 (its stdin is /dev/null), after saying it is ready
# with a file, and spins a CPU core meanwhile.
GROWER = """
import pathlib, signal
blocks = []
signal.signal(signal.SIGUSR1, lambda *a: blocks.append(bytearray(80_000_000)))
pathlib.Path("ready").touch()
while True:
    pass
"""


def managed(tmp_path: Path, name: str, code: str = "import time; time.sleep(60)") -> ManagedProcess:
    return ManagedProcess(
        name=name,
        argv=[sys.executable, "-c", code],
        cwd=str(tmp_path),
        log_path=str(tmp_path / f"{name}.log"),
    )


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[ManagedProcess]]:
    started: list[ManagedProcess] = []
    yield started
    for proc in started:
        proc.stop(grace_s=1.0, sig=signal.SIGKILL)


def by_service(samples: list[ResourceSample]) -> dict[str, ResourceSample]:
    return {s.service: s for s in samples}


def test_rss_and_cpu_of_a_real_process_are_read(tmp_path, procs):
    grower = managed(tmp_path, "redis", GROWER)
    grower.start()
    procs.append(grower)
    probe = ProcessProbe(lab_targets({"redis": grower}, None))
    deadline = time.monotonic() + 10
    while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    first = by_service(probe.read())["redis"]
    assert first.pid == grower.pid and first.cpu_percent is None  # no delta yet
    grower.send(signal.SIGUSR1)
    time.sleep(1.0)
    second = by_service(probe.read())["redis"]
    assert second.rss_bytes - first.rss_bytes > 60_000_000
    # It spins one core; a shared machine may give it less than all of it.
    assert second.cpu_percent is not None and second.cpu_percent > 25


def test_a_restarted_process_is_followed_to_its_new_pid(tmp_path, procs):
    service = managed(tmp_path, "redis")
    proxy = managed(tmp_path, "toxiproxy")
    for p in (service, proxy):
        p.start()
        procs.append(p)
    probe = ProcessProbe(lab_targets({"redis": service}, proxy))
    before = by_service(probe.read())
    assert set(before) == {"redis", "toxiproxy"}
    old_pid = service.pid
    service.stop(grace_s=1.0)
    assert "redis" not in by_service(probe.read())  # gone: no sample, not a zero
    service.start()
    after = by_service(probe.read())
    assert after["redis"].pid == service.pid != old_pid
    assert after["redis"].cpu_percent is None  # a new process: its CPU deltas start afresh
    assert after["toxiproxy"].pid == before["toxiproxy"].pid
    assert after["toxiproxy"].cpu_percent is not None


def test_a_pid_with_another_start_time_is_not_sampled(tmp_path, procs):
    proc = managed(tmp_path, "redis")
    proc.start()
    procs.append(proc)
    assert proc.pid is not None and proc.create_time is not None
    probe = ProcessProbe(lambda: {"redis": (proc.pid, proc.create_time - 100.0)})  # type: ignore[operator,dict-item]
    assert probe.read() == []


def test_the_sampler_writes_records_to_the_history_until_stopped(tmp_path, procs):
    proc = managed(tmp_path, "redis")
    proc.start()
    procs.append(proc)
    time.sleep(0.3)  # past the interpreter's start, whose RSS is still tiny
    history = HistoryWriter(tmp_path / "history.jsonl")
    sampler = ResourceSampler(ProcessProbe(lab_targets({"redis": proc}, None)), history, 0.1)
    sampler.start()
    time.sleep(0.55)
    sampler.stop()
    count = len(list(read_history(tmp_path / "history.jsonl")))
    time.sleep(0.25)
    history.close()
    records = list(read_history(tmp_path / "history.jsonl"))
    assert len(records) == count, "a record was written after stop()"
    assert 3 <= len(records) <= 8  # about 6 at 0.1 s; fewer when the machine is busy
    assert {r["op"] for r in records} == {"resources"}
    assert all(r["pid"] == proc.pid and r["rss_bytes"] > 1_000_000 for r in records)
    gaps = [(b["t"] - a["t"]) / 1e9 for a, b in itertools.pairwise(records)]
    # A fixed schedule: a late sample is followed by an early one, never by a drift.
    assert all(0 < gap < 0.5 for gap in gaps), gaps
    assert 0.05 < sum(gaps) / len(gaps) < 0.2, gaps


def test_a_failing_probe_is_an_error_of_the_run_not_a_crash(tmp_path):
    class Broken:
        def read(self) -> list[ResourceSample]:
            raise RuntimeError("no /proc")

    history = HistoryWriter(tmp_path / "history.jsonl")
    sampler = ResourceSampler(Broken(), history, 0.05)
    sampler.start()
    time.sleep(0.2)
    sampler.stop()
    history.close()
    assert sampler.errors == ["resource sampling failed: RuntimeError: no /proc"]


def test_resources_csv_has_seconds_from_t0_and_megabytes(tmp_path):
    samples = [
        ResourceSample(5_500_000_000, "redis", 42, 12_345_678, None).to_record(),
        ResourceSample(6_500_000_000, "redis", 42, 13_000_000, 3.14159).to_record(),
    ]
    write_resources_csv(tmp_path / "resources.csv", samples, t0_ns=5_000_000_000)
    assert (tmp_path / "resources.csv").read_text().splitlines() == [
        "t_s,service,pid,rss_mb,cpu_percent",
        "0.500,redis,42,12.346,",
        "1.500,redis,42,13.000,3.1",
    ]
