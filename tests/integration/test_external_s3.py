"""External S3 targets: a real versitygw on 127.0.0.1, started here as "the user's own
server", reached by a second lab that starts no server of its own, only a Toxiproxy
proxy in front of it. Everything stays on loopback."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from faults.base import FaultTarget, get_kind
from harness.errors import LabError
from harness.journal import Journal
from harness.lab.local import LocalLab
from harness.lab.procs import free_port
from harness.lab.s3 import S3Target, check_s3_target, read_credentials, s3_target
from harness.lab.toxiproxy import ToxiproxyClient
from harness.scenario import LabSpec, ServiceSpec

from .support import harness, write_scenario

pytestmark = pytest.mark.services

BUCKET = "userbucket"


@dataclasses.dataclass
class Server:
    """The user's server: a versitygw this test module runs, and its keys."""

    lab: LocalLab
    url: str
    access: str
    secret: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("users-server")
    services = LabSpec.model_validate({"services": {"s3": {"kind": "s3", "bucket": BUCKET}}})
    lab = LocalLab(root / "lab", dict(services.services), Journal(root / "journal.jsonl"))
    lab.up()
    try:
        svc = lab.services["s3"]
        access, secret = read_credentials(svc.options["credentials"])
        # Straight to the server, not through its own lab's proxy.
        yield Server(lab, f"http://127.0.0.1:{svc.upstream.port}", access, secret)
    finally:
        lab.down()


def external(url: str, credentials: dict[str, str] | None = None, **more: Any) -> ServiceSpec:
    body: dict[str, Any] = {"kind": "s3", "endpoint": url, "bucket": BUCKET, **more}
    if credentials is not None:
        body["credentials"] = credentials
    return LabSpec.model_validate({"services": {"store": body}}).services["store"]


def keys(server: Server, secret: str | None = None) -> dict[str, str]:
    return {"access_key": server.access, "secret_key": secret or server.secret}


@pytest.fixture(scope="module")
def lab(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLab]:
    root = tmp_path_factory.mktemp("external-lab")
    spec = external(server.url, keys(server))
    lab = LocalLab(root / "lab", {"store": spec}, Journal(root / "journal.jsonl"))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def client(target: S3Target) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=target.endpoint_url,
        region_name=target.region,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=2),
        **{k.lower(): v for k, v in target.client_env().items()},
    )


def target_of(lab: LocalLab) -> S3Target:
    return s3_target(lab.services["store"], lab.specs["store"])


def test_objects_reach_the_user_s_server_through_the_lab_s_proxy(
    server: Server, lab: LocalLab
) -> None:
    svc = lab.services["store"]
    assert lab.processes == {}  # the lab started no server
    assert svc.options == {"bucket": BUCKET, "region": "us-east-1", "external": server.url}
    assert str(svc.upstream) == server.url.removeprefix("http://")
    assert lab.toxiproxy is not None
    assert lab.toxiproxy.get_proxy("store").upstream == str(svc.upstream)
    target = target_of(lab)
    assert target.endpoint_url == f"http://{svc.client}" != server.url
    assert target.credentials_source == "scenario"
    check_s3_target(target)
    s3 = client(target)
    s3.put_object(Bucket=BUCKET, Key="through/proxy", Body=b"external bytes")
    assert s3.get_object(Bucket=BUCKET, Key="through/proxy")["Body"].read() == b"external bytes"
    # It is the user's server that holds the object (versitygw's posix backend).
    stored = server.lab.root / "s3" / BUCKET / "through" / "proxy"
    assert stored.read_bytes() == b"external bytes"


def test_network_down_refuses_and_the_revert_restores(lab: LocalLab) -> None:
    target = target_of(lab)
    client(target).put_object(Bucket=BUCKET, Key="kept", Body=b"kept")
    kind = get_kind("network.down")
    assert kind is not None
    fault = kind("cut", FaultTarget(lab, [lab.services["store"]]), kind.params_model(), tag="x")
    fault.apply()
    try:
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            client(target).get_object(Bucket=BUCKET, Key="kept")
        with pytest.raises(LabError) as caught:
            check_s3_target(target, timeout_s=1.0)
        assert f"the S3 endpoint {target.endpoint_url} (the lab's proxy to" in str(caught.value)
        assert "is unreachable: the connection failed" in str(caught.value)
    finally:
        fault.revert()
    assert client(target).get_object(Bucket=BUCKET, Key="kept")["Body"].read() == b"kept"
    check_s3_target(target)


def test_latency_on_the_proxy_slows_the_external_server(lab: LocalLab) -> None:
    target = target_of(lab)
    s3 = client(target)
    s3.put_object(Bucket=BUCKET, Key="slow", Body=b"x")
    kind = get_kind("network.latency")
    assert kind is not None
    params = kind.params_model(latency_ms=300, stream="downstream")
    fault = kind("lag", FaultTarget(lab, [lab.services["store"]]), params, tag="lag")
    fault.apply()
    try:
        start = time.monotonic()
        assert s3.get_object(Bucket=BUCKET, Key="slow")["Body"].read() == b"x"
        assert time.monotonic() - start >= 0.3
    finally:
        fault.revert()


def test_the_credentials_appear_in_no_record(server: Server, lab: LocalLab) -> None:
    assert lab.journal is not None
    texts = [json.dumps(lab.to_record()), lab.journal.path.read_text()]
    texts += [json.dumps(dataclasses.asdict(svc)) for svc in lab.services.values()]
    for text in texts:
        assert server.secret not in text and server.access not in text


def test_a_closed_port_is_named_as_unreachable() -> None:
    port = free_port()
    target = S3Target(f"http://127.0.0.1:{port}", "us-east-1", BUCKET, "a", "b")
    with pytest.raises(LabError) as caught:
        check_s3_target(target)
    assert caught.value.exit_code == 3
    assert str(caught.value) == (
        f"the S3 endpoint http://127.0.0.1:{port} is unreachable: the connection failed "
        "([Errno 111] Connection refused)"
    )


def test_a_wrong_secret_from_the_scenario_is_rejected_without_being_shown(
    server: Server, lab: LocalLab
) -> None:
    wrong = "not-the-secret-0123456789abcdefghij"
    spec = external(server.url, keys(server, secret=wrong))
    target = s3_target(lab.services["store"], spec)
    with pytest.raises(LabError) as caught:
        check_s3_target(target)
    message = str(caught.value)
    assert "rejected the credentials from the scenario (its credentials: block)" in message
    assert f"for bucket '{BUCKET}' (HTTP 403 SignatureDoesNotMatch)" in message
    for value in (wrong, server.secret, server.access):
        assert value not in message


def test_an_unknown_key_from_the_environment_is_rejected_and_says_so(
    server: Server, lab: LocalLab
) -> None:
    environ = {"AWS_ACCESS_KEY_ID": "AKIANOSUCHUSER000001", "AWS_SECRET_ACCESS_KEY": "whatever-1"}
    target = s3_target(lab.services["store"], external(server.url), environ)
    assert target.credentials_source == "environment"
    with pytest.raises(LabError) as caught:
        check_s3_target(target)
    message = str(caught.value)
    assert "rejected the credentials from the environment (AWS_ACCESS_KEY_ID / " in message
    assert "AKIANOSUCHUSER000001" not in message and "whatever-1" not in message


def test_a_missing_bucket_is_named(lab: LocalLab) -> None:
    target = dataclasses.replace(target_of(lab), bucket="no-such-bucket")
    with pytest.raises(LabError) as caught:
        check_s3_target(target)
    message = str(caught.value)
    assert message.startswith("bucket 'no-such-bucket' does not exist on the S3 server at ")
    assert "(HTTP 404 NoSuchBucket): create it first" in message


def test_a_lab_whose_external_server_is_down_does_not_come_up(
    tmp_path: Path, no_leftovers: None
) -> None:
    port = free_port()
    spec = external(f"http://127.0.0.1:{port}")
    lab = LocalLab(tmp_path / "lab", {"store": spec}, ready_deadline_s=0.5)
    with pytest.raises(LabError) as caught:
        lab.up()
    assert str(caught.value).startswith(
        f"external S3 service 'store' (http://127.0.0.1:{port}, reached through its proxy "
    )
    assert "the lab does not start it, is it up?): not ready within 0.5 s" in str(caught.value)


@pytest.fixture
def plain_http_on_a_port() -> Iterator[int]:
    """A listener that answers plain HTTP and hangs up: an https URL pointing at it
    fails the TLS handshake."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(2)
    listener.close()


def test_an_https_server_is_reached_directly_without_a_proxy(
    tmp_path: Path, plain_http_on_a_port: int, no_leftovers: None
) -> None:
    url = f"https://127.0.0.1:{plain_http_on_a_port}"
    lab = LocalLab(
        tmp_path / "lab", {"store": external(url, {"access_key": "a", "secret_key": "b"})}
    )
    lab.up()
    try:
        svc = lab.services["store"]
        assert svc.proxy == "" and svc.client == svc.upstream
        assert lab.toxiproxy is not None
        assert ToxiproxyClient.from_address(lab.toxiproxy.address).proxies() == {}
        target = target_of(lab)
        assert target.endpoint_url == url
        with pytest.raises(LabError, match="is unreachable: the TLS handshake failed"):
            check_s3_target(target, timeout_s=1.0)
    finally:
        lab.down()


SCENARIO = """\
name: external
duration: 10s
lab:
  services:
    redis: {{}}
    store:
      kind: s3
      endpoint: {url}
      bucket: userbucket
      credentials: {{access_key: {access}, secret_key: {secret}}}
load:
  workload: redis.kv
"""


def test_lab_up_status_and_faults_by_hand_on_an_external_server(
    server: Server, tmp_path: Path, harness_env: dict[str, str]
) -> None:
    path = write_scenario(
        tmp_path / "external.yaml",
        SCENARIO.format(url=server.url, access=server.access, secret=server.secret),
    )
    up = harness(["lab", "up", "--scenario", str(path)], harness_env)
    assert up.returncode == 0, up.stderr
    assert "store      s3     clients: 127.0.0.1:" in up.stdout
    assert f"(external {server.url})" in up.stdout
    try:
        status = harness(["lab", "status", "--json"], harness_env)
        assert status.returncode == 0, status.stderr
        store = json.loads(status.stdout)["services"]["store"]
        assert store["external"] == server.url
        assert store["process"] == f"external {server.url}"
        assert store["proxy_enabled"] is True and store["ping_ms"] is not None
        text = harness(["lab", "status"], harness_env).stdout
        assert f"external {server.url}" in text

        kill = harness(["fault", "apply", "process.kill", "-t", "store"], harness_env)
        assert kill.returncode == 2
        assert "process.kill cannot act on service 'store': it is an external server" in (
            kill.stderr
        )
        down = harness(["fault", "apply", "network.down", "-t", "store"], harness_env)
        assert down.returncode == 0, down.stderr
        state = harness(["lab", "status", "--json"], harness_env)
        assert json.loads(state.stdout)["services"]["store"]["proxy_enabled"] is False
        reverted = harness(["fault", "revert", "--all"], harness_env)
        assert reverted.returncode == 0, reverted.stderr

        state_dir = Path(harness_env["HARNESS_STATE_DIR"])
        for name in ("lab.json", "journal.jsonl"):
            text = (state_dir / name).read_text()
            assert server.secret not in text and server.access not in text, name
    finally:
        stopped = harness(["lab", "down"], harness_env)
    assert stopped.returncode == 0, stopped.stderr


RUN_SCENARIO = """\
name: external-run
seed: 5
lab:
  services:
    store:
      kind: s3
      endpoint: {url}
      bucket: userbucket
{credentials}duration: 6s
load:
  workload: s3.small_objects
  target: store
  users: 4
  spawn_rate: 50
timeline:
  - id: cut
    at: 2s
    for: 1s
    fault: network.down
    target: store
checks:
  integrity: {{final_read_deadline: 3s}}
"""


def run_files(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())


def test_a_chaos_run_on_the_external_server_with_credentials_from_the_scenario(
    server: Server, tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    block = f"      credentials: {{access_key: {server.access}, secret_key: {server.secret}}}\n"
    path = write_scenario(
        tmp_path / "run.yaml", RUN_SCENARIO.format(url=server.url, credentials=block)
    )
    out = tmp_path / "run"
    env = {k: v for k, v in harness_env.items() if not k.startswith("AWS_")}
    done = harness(["chaos", "run", str(path), "--out", str(out)], env)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["status"] != "error", result
    (fault,) = result["faults"]
    assert fault["kind"] == "network.down" and fault["reverted_at_s"] is not None
    integrity = result["checks"]["integrity"]
    assert integrity["verdict"] == "pass" and integrity["acked"] > 0, integrity
    # The objects are on the user's server, under this run's prefix.
    assert any((server.lab.root / "s3" / BUCKET).rglob("*"))
    stored = json.loads((out / "scenario.json").read_text())["lab"]["services"]["store"]
    assert stored["credentials"]["secret_key"] == "**********"
    # Every file of the run directory, the reports included, and the terminal.
    assert {"report.html", "junit.xml", "summary.md"} <= {p.name for p in out.iterdir()}
    everything = run_files(out) + done.stdout + done.stderr
    assert server.secret not in everything and server.access not in everything


def test_a_chaos_run_takes_the_credentials_from_the_environment_and_says_when_refused(
    server: Server, tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    path = write_scenario(
        tmp_path / "run.yaml", RUN_SCENARIO.format(url=server.url, credentials="")
    )
    env = {k: v for k, v in harness_env.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.access, AWS_SECRET_ACCESS_KEY="wrong-0123")
    out = tmp_path / "refused"
    done = harness(["chaos", "run", str(path), "--out", str(out)], env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "rejected the credentials from the environment (AWS_ACCESS_KEY_ID" in done.stderr
    assert "wrong-0123" not in run_files(out) + done.stderr and server.access not in done.stderr
    assert not (out / "loadgen.json").exists()  # no load was started

    env["AWS_SECRET_ACCESS_KEY"] = server.secret
    out = tmp_path / "accepted"
    done = harness(["chaos", "run", str(path), "--out", str(out)], env)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["checks"]["integrity"]["verdict"] == "pass"
    assert server.secret not in run_files(out) + done.stdout + done.stderr


def test_a_chaos_run_on_an_endpoint_nobody_answers_exits_3_naming_it(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    path = write_scenario(tmp_path / "run.yaml", RUN_SCENARIO.format(url=url, credentials=""))
    env = dict(harness_env, AWS_ACCESS_KEY_ID="someone", AWS_SECRET_ACCESS_KEY="s3cr3t-value")
    out = tmp_path / "run"
    started = time.monotonic()
    done = harness(["chaos", "run", str(path), "--out", str(out)], env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"external S3 service 'store' ({url}" in done.stderr
    assert "s3cr3t-value" not in done.stdout + done.stderr
    assert not (out / "loadgen.json").exists()
    assert time.monotonic() - started < 60
