"""A user stopped in the middle of a command still records it.

Locust stops users by killing their greenlets, and a kill can land while a command is in
flight (one meant for the pause between two tasks arrives after the next command was
sent). The command's outcome is unknown: it must reach the history as ``info`` rather
than vanish, or a key the server did store shows up as unexpected. Redis is made to hold
the SET with ``CLIENT PAUSE ... WRITE``; the user runs in a subprocess because the load
generator's modules need locust (and its gevent patching) imported first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.journal import Journal
from harness.lab.local import LocalLab
from harness.scenario import RedisServiceSpec

from .support import client

pytestmark = pytest.mark.services

SCRIPT = r"""
import locust  # first: gevent patching
import json, sys
import gevent
from locust.env import Environment
from harness.workloads.params import RedisKVParams
from harness.workloads.redis_kv import make_user_class

cls = make_user_class(sys.argv[1], int(sys.argv[2]), RedisKVParams(op_timeout=10), 1, "t", "")
env = Environment(user_classes=[cls])
records = []
env.events.request.add_listener(lambda context, **_: records.append(context))
user = cls(env)
user.conn.connect()
print("connected", flush=True)
sys.stdin.readline()  # the test pauses writes now
g = gevent.spawn(user.do_set)
gevent.sleep(0.3)
g.kill(block=True)
print(json.dumps({"records": records, "ended_by": type(g.value).__name__}), flush=True)
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LocalLab]:
    lab = LocalLab(
        tmp_path / "lab", {"redis": RedisServiceSpec(durability="off")}, Journal(tmp_path / "j")
    )
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def test_a_set_in_flight_when_the_user_is_killed_is_recorded_as_info_and_the_user_exits(
    lab: LocalLab,
) -> None:
    svc = lab.services["redis"]
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, svc.client.host, str(svc.client.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "connected"
        client(svc).execute_command("CLIENT", "PAUSE", 5000, "WRITE")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    (record,) = result["records"]
    assert record["op"] == "set" and record["key"] == "t:u0:1"
    assert record["type"] == "info"
    assert record["stopped"] is True  # judged by the checkers, left out of the statistics
    assert record["error"] == "StoppedMidOperation: the load stopped during the operation"
    assert result["ended_by"] == "GreenletExit"  # the stop went on after the record
    client(svc).execute_command("CLIENT", "UNPAUSE")
