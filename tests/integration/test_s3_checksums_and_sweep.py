"""Object integrity against the real versitygw behind the real Toxiproxy, beyond what
``test_s3_workloads.py`` covers: every upload the workload acknowledged reached the
server with the SHA-256 of its bytes as the S3 checksum (single PUTs and each part of a
multipart upload), a part whose bytes do not match its checksum is refused, and objects
that appear in the bucket behind the server's back after the run's own deletes, or that
the run never wrote, are reported by the final sweep."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from harness.lab.s3 import read_credentials
from harness.workloads.objects import ObjectSource, plan_upload

from .support import harness, history, running, wait_for, write_scenario

pytestmark = pytest.mark.services

SEED = 11
SCENARIO = """\
name: s3-sweep
seed: {seed}
lab:
  services:
    s3: {{kind: s3}}
duration: {duration}
load:
  workload: s3.mixed
  target: s3
  users: 2
  spawn_rate: 50
  params: {params}
checks:
  integrity: {{}}
"""


def lab_up(env: dict[str, str]) -> dict[str, Any]:
    """A persistent lab (the fixture's heal stops it): its S3 service's record."""
    up = harness(["lab", "up", "--json"], env)
    assert up.returncode == 0, up.stderr
    store: dict[str, Any] = json.loads(up.stdout)["services"]["s3"]
    return store


def bucket_dir(store: dict[str, Any]) -> Path:
    return Path(store["options"]["credentials"]).parent / "s3" / "chaos"


def s3_client(store: dict[str, Any]) -> Any:
    access, secret = read_credentials(store["options"]["credentials"])
    host, port = store["client"]
    return boto3.client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=store["options"]["region"],
        config=Config(
            retries={"max_attempts": 0},
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_every_acknowledged_upload_carries_its_sha256_as_the_s3_checksum(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    store = lab_up(harness_env)
    params = (
        "{sizes: [{name: small, min: 1KB, max: 100KB, weight: 3}, "
        "{name: large, min: 6MiB, max: 7MiB, weight: 1}], "
        "mix: {put: 1}, multipart_threshold: 6MiB, part_size: 5MiB}"
    )
    text = SCENARIO.format(seed=SEED, duration="4s", params=params)
    scenario = write_scenario(tmp_path / "s.yaml", text)
    out = tmp_path / "run"
    args = ["chaos", "run", str(scenario), "--lab", "attach", "--out", str(out)]
    done = harness(args, harness_env)
    assert done.returncode == 0, done.stdout + done.stderr
    puts = [r for r in history(out) if r.get("op") == "put" and r["type"] == "ok"]
    s3 = s3_client(store)
    single = multipart = 0
    for rec in puts:
        head = s3.head_object(Bucket="chaos", Key=rec["key"], ChecksumMode="ENABLED")
        plan = plan_upload(ObjectSource(rec["key"], SEED, rec["size"]), 6 << 20, 5 << 20)
        assert plan.digest.hex() == rec["digest"]  # the ledger holds what was sent
        if plan.parts:
            # S3's checksum of a multipart object: SHA-256 of the parts' SHA-256s, "-N".
            composite = hashlib.sha256(b"".join(d for _, _, d in plan.parts)).digest()
            expected = f"{b64(composite)}-{len(plan.parts)}"
            multipart += 1
        else:
            expected = b64(plan.digest)
            single += 1
        assert head.get("ChecksumSHA256") == expected, rec["key"]
    # Both kinds were checked (how many depends on the machine's speed).
    assert single >= 3 and multipart >= 1, (single, multipart)


def test_a_part_whose_bytes_do_not_match_its_checksum_is_refused(
    harness_env: dict[str, str],
) -> None:
    store = lab_up(harness_env)
    s3 = s3_client(store)
    upload = s3.create_multipart_upload(Bucket="chaos", Key="bad", ChecksumAlgorithm="SHA256")
    wrong = b64(hashlib.sha256(b"other bytes").digest())
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.upload_part(
            Bucket="chaos",
            Key="bad",
            UploadId=upload["UploadId"],
            PartNumber=1,
            Body=b"p" * (5 << 20),
            ChecksumSHA256=wrong,
        )
    assert caught.value.response["Error"]["Code"] == "BadDigest"
    s3.abort_multipart_upload(Bucket="chaos", Key="bad", UploadId=upload["UploadId"])


def test_objects_brought_back_or_planted_behind_the_servers_back_are_reported(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    """An acknowledged delete whose object reappears is resurrected; an object under the
    run's prefix that the run never uploaded is unexpected."""
    store = lab_up(harness_env)
    bucket = bucket_dir(store)
    params = "{sizes: [{name: small, min: 1KB, max: 20KB}], mix: {put: 6, delete: 4}}"
    text = SCENARIO.format(seed=SEED, duration="5s", params=params)
    scenario = write_scenario(tmp_path / "s.yaml", text)
    out = tmp_path / "run"
    with running(scenario, out, harness_env, "--lab", "attach") as run:

        def acked_delete() -> dict[str, Any] | None:
            try:
                records = history(out)
            except FileNotFoundError:
                return None
            deletes = (r for r in records if r.get("op") == "delete" and r["type"] == "ok")
            return next(deletes, None)

        deleted = wait_for(acked_delete, 60, "an acknowledged delete")
        put = next(r for r in history(out) if r.get("op") == "put" and r["key"] == deleted["key"])
        # The deleted object comes back, byte for byte what was uploaded.
        source = ObjectSource(put["key"], SEED, put["size"])
        # The server removes a directory its last object leaves empty.
        (bucket / put["key"]).parent.mkdir(parents=True, exist_ok=True)
        (bucket / put["key"]).write_bytes(b"".join(source.chunks()))
        planted = f"{put['key'].rsplit('/', 1)[0]}/planted-behind-the-back"
        (bucket / planted).write_bytes(b"never uploaded by the run")
        stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stdout + stderr
    integrity = json.loads((out / "result.json").read_text())["checks"]["integrity"]
    assert integrity["verdict"] == "fail"
    assert (integrity["resurrected"], integrity["unexpected"]) == (1, 1), integrity
    assert integrity["examples"]["resurrected"] == [put["key"]]
    assert integrity["examples"]["unexpected"] == [planted]
    assert (integrity["lost"], integrity["corrupted"]) == (0, 0)
    assert "integrity  FAIL" in stdout
