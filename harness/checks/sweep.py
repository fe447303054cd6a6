"""The final sweep of an S3 run, after heal: LIST the run's prefix, then GET every object
listed or acknowledged, hashing each body as it streams; the results go into the history.

Kept apart from the checker (``checks/objects.py``): this talks to S3, the checker only
reads the history. Multipart uploads the run left incomplete are aborted first, so the
bucket keeps no hidden parts.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from harness.checks.collect import attempt, checker_record
from harness.history import HistoryWriter
from harness.lab.s3 import S3Target, s3_client

BATCH = 200
WORKERS = 8
READ_CHUNK = 1 << 20


def objects_to_read(records: Iterable[dict[str, Any]]) -> list[str]:
    """Every key the run tried to write, in history order."""
    seen: dict[str, None] = {}
    for r in records:
        if r.get("op") in ("put", "populate"):
            seen.setdefault(r["key"], None)
    return list(seen)


def sweep(
    target: S3Target,
    prefix: str,
    keys: list[str],
    history: HistoryWriter,
    deadline_s: float,
) -> bool:
    """LIST ``prefix`` and GET every listed or given key; each request is retried until
    ``deadline_s`` runs out. Returns False (and records ``fail``) if anything could not be
    read, which makes the integrity verdict ``unknown``."""
    client = s3_client(target, timeout_s=30.0, pool=WORKERS)
    end = time.monotonic() + deadline_s
    _abort_incomplete(client, target.bucket, prefix)
    listed: dict[str, int] = {}
    # Any error is retried: boto3's and urllib3's exceptions share no base class.
    listing = partial(_list, client, target.bucket, prefix, listed)
    if not attempt(end, history, "sweep-list", listing, (Exception,)):
        return False
    wanted = list(dict.fromkeys([*keys, *listed]))
    ok = True
    with ThreadPoolExecutor(WORKERS) as pool:
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            values = dict(
                zip(
                    batch,
                    pool.map(lambda k: _read_until(client, target.bucket, k, end), batch),
                    strict=True,
                )
            )
            failed = {k: v for k, v in values.items() if isinstance(v, Exception)}
            good = {k: v for k, v in values.items() if not isinstance(v, Exception)}
            history.write(checker_record("sweep-get", "ok", values=good))
            if failed:
                ok = False
                example = next(iter(failed.values()))
                error = f"{type(example).__name__}: {example}"
                history.write(checker_record("sweep-get", "fail", keys=list(failed), error=error))
    return ok


def _list(client: Any, bucket: str, prefix: str, into: dict[str, int]) -> dict[str, Any]:
    into.clear()
    token: dict[str, str] = {}
    while True:
        page = client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000, **token)
        for obj in page.get("Contents", []):
            into[obj["Key"]] = obj["Size"]
        if not page.get("IsTruncated"):
            return {"listed": len(into), "keys": sorted(into)}
        token = {"ContinuationToken": page["NextContinuationToken"]}


def _read(client: Any, bucket: str, key: str) -> str | None:
    """The SHA-256 (hex) of the object's bytes, or None when there is no such object."""
    import botocore.exceptions

    try:
        reply = client.get_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    h = hashlib.sha256()
    for piece in reply["Body"].iter_chunks(READ_CHUNK):
        h.update(piece)
    return str(h.hexdigest())


def _read_until(client: Any, bucket: str, key: str, end: float) -> str | Exception | None:
    while True:
        try:
            return _read(client, bucket, key)
        except Exception as exc:  # any error is retried, then reported
            if time.monotonic() >= end:
                return exc
        time.sleep(0.2)


def _abort_incomplete(client: Any, bucket: str, prefix: str) -> None:
    try:
        uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
        for upload in uploads:
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
    except Exception:  # best effort: leftover parts are not objects and change no verdict
        pass
