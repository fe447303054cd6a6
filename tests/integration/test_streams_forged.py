"""The delivery check on a real Redis behind the real Toxiproxy, for what the stream
holds that no producer sent: an entry added behind the harness's back under a producer
that does not exist is unexpected, and a copy of a real message with its payload changed
is corrupted; either fails the run. Each message carries its producer, sequence number,
payload digest and send time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .support import running, upstream_redis, wait_for, wait_started, write_scenario

pytestmark = pytest.mark.services

STREAMS = """\
name: forged
seed: 6
duration: 4s
load:
  workload: redis.streams
  users: 4
  spawn_rate: 100
  params: {wait: 5ms}
checks:
  delivery: {drain_deadline: 10s}
"""


def test_entries_no_producer_sent_are_unexpected_or_corrupted_and_fail_the_run(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    scenario = write_scenario(tmp_path / "forged.yaml", STREAMS)
    out = tmp_path / "run"
    with running(scenario, out, harness_env) as run:
        record = wait_started(out)
        stream = f"{record['run_tag']}:stream"
        direct = upstream_redis(record)
        entries = wait_for(lambda: direct.xrevrange(stream, count=1), 30, "a message")
        (_, fields), *_ = entries
        assert {b"p", b"s", b"d", b"t", b"v"} <= set(fields), fields
        assert abs(int(fields[b"t"]) - time.monotonic_ns()) < 30e9  # the send time
        direct.xadd(stream, {b"p": b"ghost", b"s": 1, b"d": b"?", b"t": 0, b"v": b"boo"})
        changed = {**fields, b"v": fields[b"v"][:-1] + b"#"}
        direct.xadd(stream, changed)
        stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stdout + stderr
    delivery = json.loads((out / "result.json").read_text())["checks"]["delivery"]
    assert delivery["verdict"] == "fail"
    assert (delivery["unexpected"], delivery["corrupted"], delivery["lost"]) == (1, 1, 0)
    assert delivery["examples"]["unexpected"] == ["ghost:1"]
    producer, seq = fields[b"p"].decode(), int(fields[b"s"])
    assert delivery["examples"]["corrupted"] == [f"{producer}:{seq}"]
    assert "delivery  FAIL" in stdout
