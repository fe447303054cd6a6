"""The lab's reference HTTP app: a real app process (stdlib HTTP server + redis-py) in
front of the real Redis, both behind the real Toxiproxy."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.journal import Journal
from harness.lab.local import LocalLab
from harness.scenario import LabSpec

from .support import client, wait_for

pytestmark = pytest.mark.services


@pytest.fixture
def lab(tmp_path: Path, no_leftovers: None) -> Iterator[LocalLab]:
    specs = {"redis": {"kind": "redis"}, "app": {"kind": "http", "redis": "redis"}}
    services = LabSpec.model_validate({"services": specs}).services
    lab = LocalLab(tmp_path / "lab", dict(services), Journal(tmp_path / "journal.jsonl"))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def request(lab: LocalLab, method: str, path: str, body: bytes | None = None, **headers: str):
    app = lab.services["app"].client
    conn = http.client.HTTPConnection(app.host, app.port, timeout=2)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_the_app_answers_post_get_events_and_health_through_its_proxy(lab: LocalLab) -> None:
    app = lab.services["app"]
    assert app.client != app.upstream and app.proxy == "app"
    assert request(lab, "GET", "/health")[0] == 200
    status, body = request(lab, "POST", "/messages", b'{"n": 1}')
    assert status == 201
    first = json.loads(body)["id"]
    assert request(lab, "POST", "/messages", b"not json")[0] == 400
    status, body = request(lab, "GET", "/messages?count=5")
    assert status == 200 and json.loads(body)["messages"][0] == {"id": first, "data": {"n": 1}}
    # Resuming from before the first message replays it, then new ones follow live.
    conn = http.client.HTTPConnection(app.client.host, app.client.port, timeout=3)
    conn.request("GET", "/events", headers={"Last-Event-ID": "0-0"})
    events = conn.getresponse()
    assert events.status == 200 and events.fp.readline() == b": subscribed\n"
    request(lab, "POST", "/messages", b'{"n": 2}')
    lines = [events.fp.readline() for _ in range(9)]
    conn.close()
    assert lines[1] == f"id: {first}\n".encode() and lines[3] == b'data: {"n": 1}\n'
    assert lines[7] == b'data: {"n": 2}\n'


def test_health_is_503_while_redis_is_down(lab: LocalLab) -> None:
    lab.kill_service("redis", 9)
    assert request(lab, "GET", "/health")[0] == 503
    assert request(lab, "POST", "/messages", b"{}")[0] in (503, 504)
    lab.start_service("redis")
    wait_for(lambda: request(lab, "GET", "/health")[0] == 200, 10, "health back")


def test_a_killed_app_fails_requests_and_redis_keeps_every_acknowledged_message(
    lab: LocalLab,
) -> None:
    acked: list[str] = []
    failed = [0]
    stop = threading.Event()

    def post_loop() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                status, body = request(lab, "POST", "/messages", json.dumps({"n": n}).encode())
            except (OSError, http.client.HTTPException):
                status, body = 0, b""  # cut off by the kill
            if status == 201:
                acked.append(json.loads(body)["id"])
            else:
                failed[0] += 1

    posters = [threading.Thread(target=post_loop) for _ in range(4)]
    for t in posters:
        t.start()
    wait_for(lambda: len(acked) > 100, 10, "acknowledged posts before the kill")
    lab.kill_service("app", 9)
    before = len(acked)
    wait_for(lambda: failed[0] > 20, 5, "posts failing while the app is dead")
    assert len(acked) - before <= 4  # at most the replies already on the way
    lab.start_service("app")
    after_restart = len(acked)
    wait_for(lambda: len(acked) > after_restart + 100, 10, "posts acknowledged again")
    stop.set()
    for t in posters:
        t.join(5)
    stored = {entry_id.decode() for entry_id, _ in client(lab.services["redis"]).xrange("events")}
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged messages missing"
