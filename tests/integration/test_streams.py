"""The ``redis.streams`` workload end to end on a real Redis behind the real Toxiproxy:
every acknowledged message is delivered through a partition; messages deleted from the
stream behind the harness's back are reported lost."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis

from .support import REPO, history, started_run_record, wait_for, write_scenario

pytestmark = pytest.mark.services

STREAMS = """\
name: streams
seed: 4
duration: {duration}
load:
  workload: redis.streams
  users: {users}
  spawn_rate: 100
  params: {params}
timeline: {timeline}
checks:
  delivery: {{drain_deadline: 10s}}
slo:
  delivery: pass
"""


def run(tmp_path: Path, env: dict[str, str], text: str) -> subprocess.Popen[str]:
    scenario = write_scenario(tmp_path / "streams.yaml", text)
    args = ["chaos", "run", str(scenario), "--out", str(tmp_path / "run")]
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_every_acknowledged_message_arrives_through_a_partition(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    timeline = "[{at: 2s, for: 1500ms, fault: network.down, target: redis}]"
    proc = run(
        tmp_path,
        harness_env,
        STREAMS.format(duration="6s", users=6, params="{}", timeline=timeline),
    )
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout + stderr
    out = tmp_path / "run"
    result = json.loads((out / "result.json").read_text())
    delivery = result["checks"]["delivery"]
    assert delivery["verdict"] == "pass" and delivery["lost"] == 0
    assert delivery["acked"] > 1000 and delivery["received"] >= delivery["acked"]
    assert delivery["latency_ms"]["p50"] is not None and delivery["pending"] == 0
    (fault,) = delivery["faults"]
    assert fault["id"] == "f1"
    records = history(out)
    sends = [r for r in records if r.get("op") == "send"]
    assert any(r["type"] != "ok" for r in sends)  # the partition was felt
    receivers = {r["process"] for r in records if r.get("op") == "recv"}
    assert len(receivers - {"drain"}) >= 2  # the consumers shared the group's messages
    assert "delivery latency sent->received" in stdout


def test_messages_deleted_behind_the_harness_s_back_are_lost(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    # Nine producers and one slow consumer: a backlog the deleter can reach first.
    params = "{producer_share: 0.9, read_count: 5}"
    proc = run(
        tmp_path, harness_env, STREAMS.format(duration="4s", users=10, params=params, timeline="[]")
    )
    out = tmp_path / "run"
    deleted: list[bytes] = []
    stop = threading.Event()
    try:
        record = wait_for(lambda: started_run_record(out), 60, "the run to start")
        host, port = record["lab"]["services"]["redis"]["upstream"]
        stream = f"{record['run_tag']}:stream"
        direct = redis.Redis(host=host, port=port, socket_timeout=2)

        def delete() -> None:
            while not stop.is_set() and len(deleted) < 200:
                # Entries after the last one the group delivered: never read by anyone.
                groups = direct.xinfo_groups(stream)
                last = groups[0]["last-delivered-id"] if groups else b"0-0"
                ids = [i for i, _ in direct.xrange(stream, min=b"(" + last, count=20)]
                if ids:
                    direct.xdel(stream, *ids)
                    deleted.extend(ids)
                stop.wait(0.05)

        deleter = threading.Thread(target=delete, daemon=True)
        deleter.start()
        stdout, stderr = proc.communicate(timeout=120)
        stop.set()
        deleter.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert deleted, "nothing was deleted: the consumer kept up"
    assert proc.returncode == 1, stdout + stderr
    delivery = json.loads((out / "result.json").read_text())["checks"]["delivery"]
    assert delivery["verdict"] == "fail"
    assert 0 < delivery["lost"] <= len(deleted)
    lost = delivery["examples"]["lost"]
    sends = {f"{r['producer']}:{r['seq']}": r for r in history(out) if r.get("op") == "send"}
    assert all(sends[m]["type"] == "ok" for m in lost)
    assert "delivery  FAIL" in stdout


def test_consumers_that_die_before_acknowledging_are_covered_by_the_others(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    params = "{crash_every: 1s, claim_idle: 300ms, claim_every: 200ms}"
    text = STREAMS.format(duration="5s", users=6, params=params, timeline="[]")
    stdout, stderr = run(tmp_path, harness_env, text).communicate(timeout=120)
    out = tmp_path / "run"
    records = history(out)
    crashes = [r for r in records if r.get("op") == "crash"]
    claimed = sum(r.get("count", 0) for r in records if r.get("op") == "claim")
    assert crashes and claimed > 0, stdout + stderr
    delivery = json.loads((out / "result.json").read_text())["checks"]["delivery"]
    # The dead consumers' batches were received again by the others: duplicates, no loss.
    assert delivery["duplicated"] > 0 and delivery["lost"] == 0, delivery
    assert delivery["verdict"] == "pass"
