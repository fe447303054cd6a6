"""The HTTP workloads through ``harness chaos run`` against the real reference app:
user classes get Locust's allocation and their task weights, constant_throughput paces
users, and messages sent through the app reach every subscriber across an app crash."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from .support import REPO, harness, history, write_scenario

pytestmark = pytest.mark.services

LAB = """\
lab:
  services:
    redis: {kind: redis}
    app: {kind: http, redis: redis}
"""
TIERS = (
    "name: tiers\nseed: 3\nduration: 4s\n"
    + LAB
    + """\
load:
  workload: http.users
  target: app
  users: 50
  spawn_rate: 500
  params:
    classes:
      guest:
        weight: 80
        wait_time: {constant: 100ms}
        tasks:
          - {path: /health, weight: 1}
          - {path: "/messages?count={{random_int(1,5)}}", name: browse, weight: 3}
      power:
        weight: 15
        wait_time: {constant_throughput: 5}
        tasks:
          - {method: POST, path: /messages, body: {by: "{{user}}"}, expect: 201, weight: 1}
      developer:
        weight: 4
        wait_time: {constant: 0s}
        tasks:
          - {method: POST, path: /messages, body: {n: "{{seq}}"}, expect: 201, weight: 9}
          - {path: /health, weight: 1}
      admin:
        weight: 1
        wait_time: {constant: 20ms}
        tasks:
          - {path: /nowhere, expect: 404}
"""
)


def locust_allocation(weights: dict[str, int], users: int) -> Counter[str]:
    """How Locust itself spreads ``users`` over weighted classes (its dispatcher's
    generator), computed in a process of its own since locust patches what it imports."""
    code = (
        "import json, sys, itertools\n"
        "from locust.dispatch import _kl_generator\n"
        "w = json.loads(sys.argv[1])\n"
        "print(json.dumps(list(itertools.islice(_kl_generator(w.items()), int(sys.argv[2])))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(weights), str(users)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Counter(json.loads(out.stdout))


@pytest.fixture(scope="module")
def tiers_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    base = tmp_path_factory.mktemp("tiers")
    env = dict(os.environ, HARNESS_STATE_DIR=str(base / "state"))
    env.setdefault("HARNESS_TOXIPROXY_BIN", str(REPO / ".bin" / "server"))
    scenario = write_scenario(base / "tiers.yaml", TIERS)
    result = harness(["chaos", "run", str(scenario), "--out", str(base / "run")], env)
    assert result.returncode == 0, result.stdout + result.stderr
    return base / "run"


def test_users_per_class_are_locust_s_allocation(tiers_run: Path) -> None:
    users = Counter(r["user_class"] for r in history(tiers_run) if r.get("op") == "user")
    weights = {"guest": 80, "power": 15, "developer": 4, "admin": 1}
    assert users == locust_allocation(weights, 50)
    result = json.loads((tiers_run / "result.json").read_text())
    rows = {r["user_class"]: r for r in result["workload"]["classes"] if r["task"] == "all"}
    assert {c: r["users"] for c, r in rows.items()} == dict(users)


def test_task_shares_match_their_weights_within_4_sigma(tiers_run: Path) -> None:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in history(tiers_run):
        if r.get("user_class") and r.get("task"):
            counts[r["user_class"]][r["task"]] += 1
    for user_class, task, p in (("guest", "browse", 0.75), ("developer", "GET /health", 0.1)):
        n = sum(counts[user_class].values())
        share = counts[user_class][task] / n
        sigma = math.sqrt(p * (1 - p) / n)
        assert n >= 100 and abs(share - p) <= 4 * sigma, (user_class, task, share, n)
    # Statuses are judged per task: the admin's 404 is what it expects.
    # (A request cut off by the stop is recorded as such, without a status.)
    stopped = "StoppedMidOperation: the load stopped during the operation"
    records = [
        r
        for r in history(tiers_run)
        if r.get("user_class") == "admin" and "type" in r and r["error"] != stopped
    ]
    assert records and all(r["status"] == 404 and r["type"] == "ok" for r in records)


def test_constant_throughput_paces_each_user(tiers_run: Path) -> None:
    records = [r for r in history(tiers_run) if r.get("user_class") == "power" and "type" in r]
    per_user = Counter(r["process"] for r in records)
    # 5 tasks per second per user over 4 s, less the spawn: about 20 each, never more
    # (fewer when a busy machine makes the requests themselves slow).
    for process, count in per_user.items():
        assert 8 <= count <= 23, (process, count)


MESSAGES = (
    "name: messages\nseed: 5\nduration: 6s\n"
    + LAB
    + """\
load:
  workload: http.messages
  target: app
  users: 6
  spawn_rate: 100
  params: {wait: 20ms, idle_timeout: 2s}
timeline:
  - {at: 2s, for: 1500ms, fault: process.kill, target: app}
checks:
  delivery: {}
"""
)


def test_every_acknowledged_message_reaches_every_subscriber_across_an_app_crash(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    scenario = write_scenario(tmp_path / "messages.yaml", MESSAGES)
    result = harness(["chaos", "run", str(scenario), "--out", str(tmp_path / "run")], harness_env)
    assert result.returncode == 0, result.stdout + result.stderr
    records = history(tmp_path / "run")
    sends = [r for r in records if r.get("op") == "send"]
    acked = {(r["producer"], r["seq"]): r for r in sends if r["type"] == "ok"}
    assert len(acked) > 200 and any(r["type"] != "ok" for r in sends)  # the crash was felt
    subscriptions: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("op") == "subscribe":
            subscriptions[r["process"]].append(r)
    assert len(subscriptions) == 3
    received: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for r in records:
        if r.get("op") == "recv":
            received[r["process"]].add((r["producer"], r["seq"]))
            assert r["digest"] == acked.get((r["producer"], r["seq"]), r)["digest"]
    for process, subs in subscriptions.items():
        assert len(subs) >= 2, f"{process} never reconnected"  # the crash ended them
        since = min(s["t_start"] for s in subs)
        expected = {k for k, r in acked.items() if r["t_start"] > since}
        missing = expected - received[process]
        assert not missing, f"{process} missed {len(missing)} acknowledged messages"
    # The fan-out checker agrees: a resumable feed, nothing lost across the crash.
    delivery = json.loads((tmp_path / "run" / "result.json").read_text())["checks"]["delivery"]
    assert (delivery["mode"], delivery["verdict"], delivery["lost"]) == ("resumable", "pass", 0)
    assert delivery["owed"] >= 3 * 200 and delivery["subscribers"] == 3
