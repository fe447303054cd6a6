"""The lab's S3 service: the real versitygw (posix backend) behind the real Toxiproxy,
reached with boto3 through the proxy."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from faults.base import FaultTarget, get_kind
from harness.journal import Journal
from harness.lab.base import ServiceHandle
from harness.lab.local import LocalLab
from harness.lab.s3 import read_credentials
from harness.scenario import LabSpec

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLab]:
    root = tmp_path_factory.mktemp("s3lab")
    services = LabSpec.model_validate({"services": {"store": {"kind": "s3"}}}).services
    lab = LocalLab(root / "lab", dict(services), Journal(root / "journal.jsonl"))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def client(svc: ServiceHandle, secret: str | None = None) -> Any:
    access, real_secret = read_credentials(svc.options["credentials"])
    return boto3.client(
        "s3",
        endpoint_url=f"http://{svc.client}",
        aws_access_key_id=access,
        aws_secret_access_key=secret or real_secret,
        region_name=svc.options["region"],
        config=Config(retries={"max_attempts": 0}, connect_timeout=1, read_timeout=2),
    )


def put(s3: Any, bucket: str, key: str, body: bytes) -> None:
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumSHA256=digest)


def test_objects_go_through_the_proxy_into_files_of_the_bucket(lab: LocalLab) -> None:
    svc = lab.services["store"]
    assert svc.client != svc.upstream  # clients talk to Toxiproxy
    s3 = client(svc)
    body = bytes(range(256)) * 40
    put(s3, "chaos", "dir/object-1", body)
    assert s3.get_object(Bucket="chaos", Key="dir/object-1")["Body"].read() == body
    listed = s3.list_objects_v2(Bucket="chaos", Prefix="dir/")["Contents"]
    assert [o["Key"] for o in listed] == ["dir/object-1"]
    # The posix backend: the object is a plain file, there to be tampered with in tests.
    assert (lab.root / "store" / "chaos" / "dir" / "object-1").read_bytes() == body


def test_an_upload_whose_bytes_do_not_match_its_checksum_is_refused(lab: LocalLab) -> None:
    s3 = client(lab.services["store"])
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.put_object(Bucket="chaos", Key="bad", Body=b"these bytes", ChecksumSHA256=wrong)
    assert caught.value.response["Error"]["Code"] == "BadDigest"
    assert not (lab.root / "store" / "chaos" / "bad").exists()


def test_a_wrong_secret_is_refused(lab: LocalLab) -> None:
    s3 = client(lab.services["store"], secret="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.list_objects_v2(Bucket="chaos")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_credentials_appear_in_no_record(lab: LocalLab) -> None:
    svc = lab.services["store"]
    access, secret = read_credentials(svc.options["credentials"])
    assert Path(svc.options["credentials"]).stat().st_mode & 0o777 == 0o600
    record = json.dumps(lab.to_record())
    journal = lab.journal.path.read_text() if lab.journal else ""
    argv = " ".join(lab.processes["store"].argv)
    for text in (record, journal, argv):
        assert access not in text and secret not in text


def test_network_down_refuses_and_the_revert_restores(lab: LocalLab) -> None:
    svc = lab.services["store"]
    put(client(svc), "chaos", "kept", b"kept")
    kind = get_kind("network.down")
    assert kind is not None
    fault = kind("cut", FaultTarget(lab, [svc]), kind.params_model(), tag="s3-cut")
    fault.apply()
    try:
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            client(svc).get_object(Bucket="chaos", Key="kept")
    finally:
        fault.revert()
    assert client(svc).get_object(Bucket="chaos", Key="kept")["Body"].read() == b"kept"


def test_a_killed_server_is_started_again_with_its_objects_and_credentials(
    lab: LocalLab,
) -> None:
    svc = lab.services["store"]
    put(client(svc), "chaos", "survivor", b"still here")
    before = lab.processes["store"].pid
    kind = get_kind("process.kill")
    assert kind is not None
    fault = kind("kill", FaultTarget(lab, [svc]), kind.params_model(), tag="s3-kill")
    fault.apply()
    try:
        assert not lab.service_running("store")
        with pytest.raises(botocore.exceptions.BotoCoreError):
            client(svc).get_object(Bucket="chaos", Key="survivor")
    finally:
        fault.revert()
    assert lab.processes["store"].pid != before
    assert client(svc).get_object(Bucket="chaos", Key="survivor")["Body"].read() == b"still here"
