"""The S3 workloads end to end against the real versitygw behind the real Toxiproxy:
each workload runs and records; objects changed or deleted on disk behind the server's
back are caught at read time and by the final sweep; a target that refuses the
credentials stops the run with exit 3 before any load."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.lab.s3 import read_credentials
from harness.workloads.objects import ObjectSource

from .support import REPO, harness, history, wait_for, write_scenario

pytestmark = pytest.mark.services

S3_SCENARIO = """\
name: {name}
seed: 3
lab:
  services:
    store: {{kind: s3}}
duration: {duration}
load:
  workload: {workload}
  target: store
  users: {users}
  spawn_rate: 50
  params: {params}
checks:
  integrity: {{}}
"""


def run_s3(
    tmp_path: Path, env: dict[str, str], workload: str, params: str, users: int = 4
) -> tuple[subprocess.CompletedProcess[str], Path]:
    scenario = write_scenario(
        tmp_path / "s.yaml",
        S3_SCENARIO.format(
            name=workload.replace(".", "-"),
            duration="4s",
            workload=workload,
            users=users,
            params=params,
        ),
    )
    out = tmp_path / "run"
    return harness(["chaos", "run", str(scenario), "--out", str(out)], env), out


def operations(result: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["op"], r["size_class"]): r for r in result["workload"]["operations"]}


def test_small_objects_records_every_operation_with_its_digest(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    done, out = run_s3(tmp_path, harness_env, "s3.small_objects", "{}")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    ops = operations(result)
    for op in ("put", "get", "delete"):
        row = ops[(op, "all")]
        assert row["ok"] > 10 and row["success_rate"] == 1.0, row
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
    assert ops[("put", "all")]["mb_s"] > 0
    integrity = result["checks"]["integrity"]
    assert integrity["verdict"] == "pass"
    assert integrity["acked"] == ops[("put", "all")]["ok"] and integrity["deleted"] > 0
    puts = [r for r in history(out) if r.get("op") == "put"]
    assert all(1000 <= r["size"] <= 100_000 and len(r["digest"]) == 64 for r in puts)
    assert "put" in done.stdout and "MB/s" in done.stdout  # the per-operation table
    # The lab's credentials were removed with the lab; no file of the run holds them.
    assert not list(out.rglob("*.credentials.json"))
    loadgen = json.loads((out / "loadgen.json").read_text())
    assert set(loadgen["s3"]) == {"endpoint_url", "region", "bucket"}


def test_mixed_uses_multipart_above_the_threshold_and_reports_size_classes(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    params = (
        "{sizes: [{name: small, min: 1KB, max: 100KB, weight: 6}, "
        "{name: large, min: 6MiB, max: 7MiB, weight: 4}], "
        "multipart_threshold: 6MiB, part_size: 5MiB}"
    )
    done, out = run_s3(tmp_path, harness_env, "s3.mixed", params)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    ops = operations(result)
    assert ops[("put", "small")]["ok"] > 0 and ops[("put", "large")]["ok"] > 0
    assert ops[("get", "all")]["ok"] > 0 and ops[("list", "all")]["ok"] > 0
    assert ops[("put", "large")]["mb_s"] > ops[("put", "small")]["mb_s"]
    large = [r for r in history(out) if r.get("op") == "put" and r.get("class") == "large"]
    assert large and all(r.get("parts") == 2 for r in large if r["type"] == "ok")
    assert result["checks"]["integrity"]["verdict"] == "pass"
    # The terminal summary has a row per size class under each operation.
    first_words = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert {"put", "small", "large"} <= set(first_words), done.stdout


def test_concurrent_access_shares_a_pool_and_counts_access_per_object(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    done, out = run_s3(
        tmp_path, harness_env, "s3.concurrent_access", "{objects: 10, object_size: 64KiB}", 8
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    access = result["workload"]["access"]
    assert access["objects"] == 10
    assert access["reads"]["min"] > 0 and access["writes"]["max"] > 0
    with open(out / "access.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    reads = sum(int(r["reads"]) for r in rows)
    assert reads == operations(result)[("get", "all")]["ops"]
    records = history(out)
    assert sum(r.get("op") == "populate" for r in records) == 10
    # Several users wrote the same objects; the sweep found each holding a version.
    integrity = result["checks"]["integrity"]
    assert (integrity["verdict"], integrity["acked"]) == ("pass", 10)


def test_uploaded_bytes_are_the_stream_derived_from_key_and_seed(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    """What lands in the bucket is exactly the body the ledger's digest describes."""
    up = harness(["lab", "up", "--json"], harness_env)
    assert up.returncode == 0, up.stderr
    store = json.loads(up.stdout)["services"]["s3"]
    bucket_dir = Path(store["options"]["credentials"]).parent / "s3" / "chaos"
    scenario = write_scenario(
        tmp_path / "s.yaml",
        S3_SCENARIO.format(
            name="bytes",
            duration="2s",
            workload="s3.small_objects",
            users=2,
            params="{mix: {put: 1}}",
        )
        .replace("    store: {kind: s3}", "    s3: {kind: s3}")
        .replace("target: store", "target: s3"),
    )
    out = tmp_path / "run"
    done = harness(
        ["chaos", "run", str(scenario), "--lab", "attach", "--out", str(out)], harness_env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    puts = [r for r in history(out) if r.get("op") == "put" and r["type"] == "ok"]
    for rec in puts[:20]:
        on_disk = (bucket_dir / rec["key"]).read_bytes()
        expected = ObjectSource(rec["key"], 3, rec["size"])
        assert on_disk == b"".join(expected.chunks())


TAMPER = """\
name: tamper
seed: 1
lab:
  services:
    s3: {kind: s3}
duration: 6s
load:
  workload: s3.concurrent_access
  target: s3
  users: 4
  spawn_rate: 50
  params: {objects: 4, object_size: 200KiB, mix: {get: 9, list: 1, put: 0}}
checks:
  integrity: {}
"""


def test_bytes_changed_or_deleted_behind_the_servers_back_are_caught(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    up = harness(["lab", "up", "--json"], harness_env)
    assert up.returncode == 0, up.stderr
    store = json.loads(up.stdout)["services"]["s3"]
    bucket_dir = Path(store["options"]["credentials"]).parent / "s3" / "chaos"
    scenario = write_scenario(tmp_path / "tamper.yaml", TAMPER)
    out = tmp_path / "run"
    args = ["chaos", "run", str(scenario), "--lab", "attach", "--out", str(out)]
    run = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO,
        env=harness_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def pool() -> list[Path]:
            found = sorted(bucket_dir.glob("*/shared/0000[0-3]"))
            return found if len(found) == 4 else []

        corrupted, deleted, *_ = wait_for(pool, 60, "the shared pool of 4 objects")
        time.sleep(1.0)  # some clean reads first
        with open(corrupted, "r+b") as handle:  # one byte flipped, size unchanged
            handle.seek(1000)
            byte = handle.read(1)
            handle.seek(1000)
            handle.write(bytes([byte[0] ^ 0xFF]))
        deleted.unlink()
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 1, stdout + stderr
    result = json.loads((out / "result.json").read_text())
    integrity = result["checks"]["integrity"]
    assert integrity["verdict"] == "fail"
    corrupted_key = str(corrupted.relative_to(bucket_dir))
    deleted_key = str(deleted.relative_to(bucket_dir))
    # At read time, with the key ...
    assert integrity["read_corrupted"] > 0 and integrity["read_lost"] > 0
    assert integrity["examples"]["read_corrupted"][0] == corrupted_key
    assert integrity["examples"]["read_lost"][0] == deleted_key
    assert f"corrupted read: {corrupted_key}" in (out / "loadgen.log").read_text()
    # ... and by the final sweep.
    assert (integrity["corrupted"], integrity["lost"]) == (1, 1)
    assert integrity["examples"]["corrupted"] == [corrupted_key]
    assert integrity["examples"]["lost"] == [deleted_key]
    assert "integrity  FAIL" in stdout and corrupted_key in stdout


def test_credentials_the_server_refuses_stop_the_run_before_any_load(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    up = harness(["lab", "up", "--json"], harness_env)
    assert up.returncode == 0, up.stderr
    credentials = Path(json.loads(up.stdout)["services"]["s3"]["options"]["credentials"])
    access, secret = read_credentials(credentials)
    # The server keeps the secret it was started with; clients now read another one.
    credentials.write_text(
        json.dumps({"ROOT_ACCESS_KEY_ID": access, "ROOT_SECRET_ACCESS_KEY": "not-the-secret"})
    )
    scenario = write_scenario(
        tmp_path / "s.yaml",
        S3_SCENARIO.format(
            name="creds", duration="2s", workload="s3.small_objects", users=1, params="{}"
        )
        .replace("    store: {kind: s3}", "    s3: {kind: s3}")
        .replace("target: store", "target: s3"),
    )
    out = tmp_path / "run"
    done = harness(
        ["chaos", "run", str(scenario), "--lab", "attach", "--out", str(out)], harness_env
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "rejected the credentials" in done.stderr
    assert secret not in done.stdout + done.stderr and "not-the-secret" not in done.stderr
    assert not (out / "loadgen.json").exists()  # no load was started


def test_shipped_disk_full_scenario_reports_the_first_put_after_the_revert(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    done = harness(
        ["chaos", "run", "scenarios/s3-mixed-disk-full.yaml", "--out", str(out)], harness_env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    (full,) = result["faults"]
    assert full["kind"] == "disk.fill" and full["reverted_at_s"] is not None
    assert full["first_write_ok_after_revert_s"] is not None
    assert full["first_write_ok_after_revert_s"] < 2.0
    assert "first write ok" in done.stdout
    # Uploads were refused while the disk was full ...
    records = history(out)
    applied = full["applied_at_s"] * 1e9 + run_t0(records)
    reverted = full["reverted_at_s"] * 1e9 + run_t0(records)
    refused = [
        r
        for r in records
        if r.get("op") == "put" and r["type"] != "ok" and applied <= r["t_end"] <= reverted + 1e9
    ]
    assert refused and any("No space left on device" in (r["error"] or "") for r in refused)
    # ... and every object acknowledged before, during and after still verifies.
    integrity = result["checks"]["integrity"]
    assert integrity["verdict"] == "pass" and integrity["acked"] > 100


def test_shipped_crash_scenario_restarts_the_server_under_concurrent_access(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    done = harness(
        ["chaos", "run", "scenarios/s3-concurrent-crash.yaml", "--out", str(out)], harness_env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    (crash,) = result["faults"]
    assert crash["availability"] < 0.5 and crash["censored"] is False
    assert result["workload"]["access"]["objects"] == 100
    integrity = result["checks"]["integrity"]
    assert (integrity["verdict"], integrity["acked"]) == ("pass", 100)


def run_t0(records: list[dict[str, Any]]) -> int:
    return int(next(r["t0_ns"] for r in records if r.get("op") == "run"))
