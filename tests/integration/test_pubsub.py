"""The ``redis.pubsub`` workload end to end on a real Redis behind the real Toxiproxy:
a partition costs subscribers messages, reported per subscriber and for the fault, and
a loss threshold turns that into a failed run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .support import REPO, harness, history, write_scenario

pytestmark = pytest.mark.services


def test_a_partition_loses_messages_for_subscribers_and_the_run_still_passes(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    scenario = REPO / "scenarios" / "pubsub-partition.yaml"
    proc = harness(["chaos", "run", str(scenario), "--out", str(out)], harness_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    delivery = json.loads((out / "result.json").read_text())["checks"]["delivery"]
    assert delivery["verdict"] == "pass"  # at-most-once: reported, not failed
    assert delivery["lost"] > 0 and delivery["examples"]["lost"]
    assert (delivery["unexpected"], delivery["corrupted"]) == (0, 0)
    assert delivery["received"] + delivery["lost"] == delivery["owed"]
    (partition,) = delivery["faults"]
    assert partition["id"] == "partition" and partition["lost"] > 0
    # Every subscriber was cut off and subscribed again.
    assert [s["subscriptions"] for s in delivery["per_subscriber"]] == [2, 2, 2, 2]
    ended = {r["end"] for r in history(out) if r.get("op") == "subscribe"}
    assert ended == {"error", "stop"}
    assert "delivery during partition:" in proc.stdout


def test_a_loss_threshold_fails_the_run_when_the_partition_exceeds_it(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    text = (REPO / "scenarios" / "pubsub-partition.yaml").read_text()
    text = text.replace("duration: 15s", "duration: 7s").replace("at: 5s", "at: 2s")
    text = text.replace("  delivery: {}", "  delivery: {max_loss_ratio: 0.0001}")
    out = tmp_path / "run"
    scenario = write_scenario(tmp_path / "p.yaml", text)
    proc = harness(["chaos", "run", str(scenario), "--out", str(out)], harness_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    delivery = json.loads((out / "result.json").read_text())["checks"]["delivery"]
    assert delivery["verdict"] == "fail" and delivery["loss_ratio"] > 0.0001
