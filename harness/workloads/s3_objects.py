"""The S3 Locust users: ``s3.small_objects``, ``s3.mixed`` and ``s3.concurrent_access``.

Imported by the load generator only, after ``locust`` (boto3 must come after gevent's
monkey-patching). Every upload streams its body from (key, seed) and sends the SHA-256
of its bytes as the S3 checksum, so the server refuses bytes that were changed on the
way; every download is hashed as it streams and compared with what the history says
was written. ETags are never used as checksums.

Operations are classified the way Jepsen does: an error before the request was sent
(connection refused, connect timeout) is ``fail``; a timeout, reset or 5xx after a
write was sent is ``info`` (it may have happened); a 4xx answer, and a 501, 503 or 507
(not implemented, slow down, insufficient storage), is ``fail``; a failed read is
always ``fail``. A user stopped in the middle of an operation records it as
``info`` with the error ``stopped``, so no attempt is missing from the history.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions as bce
import gevent
from botocore.config import Config
from locust import User, constant, task

from harness.units import format_size
from harness.workloads.objects import ObjectSource, UploadPlan, b64, pick_size, plan_upload
from harness.workloads.params import S3ConcurrentParams, S3Params

READ_CHUNK = 256 * 1024
_BEFORE_SEND = (bce.EndpointConnectionError, bce.ConnectTimeoutError)
_AFTER_SEND = (
    bce.ReadTimeoutError,
    bce.ConnectionClosedError,
    bce.ResponseStreamingError,
    bce.IncompleteReadError,
    bce.HTTPClientError,
    ConnectionError,
    OSError,
)
_MAX_TRACKED = 50_000
_REFUSALS = (501, 503, 507)


def make_client(s3: dict[str, Any], params: S3Params, pool: int) -> Any:
    """A boto3 client for the target: no retries (a retry would hide a failure), path
    style, checksums only where we send them, payload signing off (the SHA-256 checksum
    we send covers the body)."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3["endpoint_url"],
        region_name=s3["region"],
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=params.connect_timeout,
            read_timeout=params.op_timeout,
            max_pool_connections=pool,
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


class Outcome(Exception):
    """How a request ended when it did not succeed: ``fail`` or ``info`` plus a message."""

    def __init__(self, type_: str, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.type = type_
        self.missing = missing


def classify(exc: BaseException, write: bool) -> Outcome:
    if isinstance(exc, bce.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code", "?")
        message = f"{code} (HTTP {status}): {exc.response.get('Error', {}).get('Message', '')}"
        missing = code in ("NoSuchKey", "404")
        # 4xx, and 5xx answers that say the request was not carried out (not
        # implemented, slow down, no space), are refusals; other 5xx may hide a write.
        refused = status < 500 or status in _REFUSALS
        return Outcome("info" if write and not refused else "fail", message.strip(), missing)
    name = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, _BEFORE_SEND):
        return Outcome("fail", name)
    if isinstance(exc, _AFTER_SEND):
        return Outcome("info" if write else "fail", name)
    return Outcome("info" if write else "fail", name)


@dataclass
class Shared:
    """What the users of one load generator share: the client, the target and, for the
    shared pool, the digests each object may hold."""

    client: Any
    bucket: str
    prefix: str  # the run's key prefix, ending with '/'
    seed: int
    params: Any
    process_prefix: str
    counter: itertools.count[int] = field(default_factory=itertools.count)
    # concurrent_access: key -> {digest: in-flight, acked or indeterminate}
    versions: dict[str, set[str]] = field(default_factory=dict)
    version_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class S3User(User):
    abstract = True
    shared: Shared

    def on_start(self) -> None:
        index = next(self.shared.counter)
        self.process = f"{self.shared.process_prefix}u{index}"
        self.rng = random.Random(self.shared.seed * 1_000_003 + index)
        self.params = self.shared.params
        self.client = self.shared.client
        self.bucket = self.shared.bucket
        self.fire = self.environment.events.request.fire
        self.weights = self.params.mix.weights()
        self.ops: list[str] = list(self.weights)
        self.op_weights = list(self.weights.values())

    # -- one request, timed and recorded -------------------------------------------------

    def _record(
        self,
        op: str,
        key: str,
        call: Callable[[], dict[str, Any]],
        write: bool,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        """Run ``call`` and record the operation; ``call`` returns fields to add (it may
        raise ``Outcome`` itself, e.g. for a digest mismatch)."""
        t_start = time.monotonic_ns()
        error: str | None = None
        type_ = "ok"
        fields: dict[str, Any] = {}
        try:
            fields = call()
        except Outcome as known:
            type_, error = known.type, str(known)
            fields = {"missing": True} if known.missing else {}
        except gevent.GreenletExit:
            stopped = {**extra, "stopped": True}  # not counted in the statistics
            self._report(op, key, "info" if write else "fail", "stopped", t_start, stopped)
            raise
        except Exception as exc:  # every client error is an outcome to record
            outcome = classify(exc, write)
            type_, error = outcome.type, str(outcome)
            if outcome.missing:
                fields = {"missing": True}
            if isinstance(exc, _BEFORE_SEND) and self.params.reconnect_backoff:
                record = self._report(op, key, type_, error, t_start, {**extra, **fields})
                gevent.sleep(self.params.reconnect_backoff)
                return record
        return self._report(op, key, type_, error, t_start, {**extra, **fields})

    def _report(
        self,
        op: str,
        key: str,
        type_: str,
        error: str | None,
        t_start: int,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        t_end = time.monotonic_ns()
        record = {
            "t_start": t_start,
            "t_end": t_end,
            "process": self.process,
            "op": op,
            "key": key,
            "digest": fields.pop("digest", None),
            "type": type_,
            "error": error,
            **fields,
        }
        self.fire(
            request_type="s3",
            name=op,
            response_time=(t_end - t_start) / 1e6,
            response_length=record.get("size") or 0,
            exception=None if type_ == "ok" else Exception(error),
            context=record,
        )
        return record

    # -- requests --------------------------------------------------------------------

    def plan(self, source: ObjectSource) -> UploadPlan:
        return plan_upload(source, self.params.multipart_threshold, self.params.part_size)

    def upload(self, key: str, source: ObjectSource, plan: UploadPlan) -> dict[str, Any]:
        """PUT (or multipart upload) of ``source`` with the checksums in ``plan``."""
        if not plan.parts:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=source.body(),
                ContentLength=source.size,
                ChecksumSHA256=b64(plan.digest),
            )
            return {}
        return self._multipart(key, source, plan)

    def _multipart(self, key: str, source: ObjectSource, plan: UploadPlan) -> dict[str, Any]:
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256"
        )
        upload_id = upload["UploadId"]
        parts = []
        try:
            for number, (a, b, digest) in enumerate(plan.parts, 1):
                reply = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=source.body(a, b),
                    ContentLength=b - a,
                    ChecksumSHA256=b64(digest),
                )
                parts.append(
                    {"PartNumber": number, "ETag": reply["ETag"], "ChecksumSHA256": b64(digest)}
                )
        except BaseException as exc:
            # Nothing is visible before the completion: a failed part fails the upload.
            self._abort(key, upload_id)
            if isinstance(exc, gevent.GreenletExit):
                raise
            raise Outcome("fail", f"part {len(parts) + 1}: {classify(exc, False)}") from None
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return {"parts": len(parts)}

    def _abort(self, key: str, upload_id: str) -> None:
        # Best effort: the final sweep aborts what is left.
        with contextlib.suppress(Exception):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def download(self, key: str, allowed: Callable[[str], bool] | None) -> dict[str, Any]:
        """GET ``key``, hashing the body as it streams. ``allowed(digest)`` says whether
        the bytes are a version the ledger knows; a mismatch is a ``fail`` naming the key."""
        reply = self.client.get_object(Bucket=self.bucket, Key=key)
        h = hashlib.sha256()
        size = 0
        for piece in reply["Body"].iter_chunks(READ_CHUNK):
            h.update(piece)
            size += len(piece)
        digest = h.hexdigest()
        if allowed is not None and self.params.verify_reads and not allowed(digest):
            sys.stderr.write(f"corrupted read: {key} returned {size} bytes, sha256 {digest}\n")
            raise CorruptRead(key, digest, size)
        return {"digest": digest, "size": size}

    def delete(self, key: str) -> dict[str, Any]:
        self.client.delete_object(Bucket=self.bucket, Key=key)
        return {}

    def list_keys(self, prefix: str) -> dict[str, Any]:
        reply = self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=prefix, MaxKeys=self.params.list_max_keys
        )
        return {"count": reply.get("KeyCount", len(reply.get("Contents", [])))}

    def pick_op(self) -> str:
        return self.rng.choices(self.ops, weights=self.op_weights)[0]


class CorruptRead(Outcome):
    def __init__(self, key: str, digest: str, size: int) -> None:
        super().__init__("fail", f"ChecksumMismatch: {key}: {size} bytes with sha256 {digest}")
        self.digest = digest
        self.size = size


class ObjectsUser(S3User):
    """``s3.small_objects`` and ``s3.mixed``: each user writes keys of its own, reads and
    deletes only objects it saw acknowledged, and lists the run's prefix."""

    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        super().on_start()
        self.seq = 0
        self.live: list[tuple[str, str, int, str]] = []  # key, digest, size, class

    @task
    def operate(self) -> None:
        op = self.pick_op()
        if op in ("get", "delete") and not self.live:
            op = "put"
        getattr(self, f"do_{op}")()

    def do_put(self) -> None:
        self.seq += 1
        key = f"{self.shared.prefix}{self.process}/{self.seq:07d}"
        cls, size = pick_size(self.rng, self.params.sizes)
        source = ObjectSource(key, self.shared.seed, size)
        plan = self.plan(source)
        # The digest is recorded whatever happens: an indeterminate upload found
        # intact later is "recovered", found different "corrupted".
        extra = {"digest": plan.digest.hex(), "size": size, "class": cls}
        rec = self._record("put", key, lambda: self.upload(key, source, plan), True, extra)
        if rec["type"] == "ok":
            entry = (key, rec["digest"], size, cls)
            if len(self.live) < _MAX_TRACKED:
                self.live.append(entry)
            else:
                self.live[self.rng.randrange(_MAX_TRACKED)] = entry

    def do_get(self) -> None:
        key, expected, size, cls = self.live[self.rng.randrange(len(self.live))]
        self._get(key, lambda d: d == expected, {"size": size, "class": cls})

    def do_delete(self) -> None:
        index = self.rng.randrange(len(self.live))
        key, _, _, cls = self.live[index]
        rec = self._record("delete", key, lambda: self.delete(key), True, {"class": cls})
        if rec["type"] != "fail":  # deleted, or perhaps deleted: no longer readable
            self.live[index] = self.live[-1]
            self.live.pop()

    def do_list(self) -> None:
        prefix = self.shared.prefix
        self._record("list", prefix, lambda: self.list_keys(prefix), False, {})

    def _get(self, key: str, allowed: Callable[[str], bool], extra: dict[str, Any]) -> None:
        def call() -> dict[str, Any]:
            try:
                return self.download(key, allowed)
            except CorruptRead as bad:
                # The bytes read are part of the record: the checker judges them too.
                extra["digest"] = bad.digest
                extra["read_size"] = bad.size
                raise

        self._record("get", key, call, False, extra)


class SharedPoolUser(S3User):
    """``s3.concurrent_access``: every user reads, lists and overwrites one shared pool
    of objects. A read must return one of the versions written (acknowledged, still in
    flight, or indeterminate) of that object."""

    abstract = True
    wait_time = constant(0)

    @task
    def operate(self) -> None:
        op = self.pick_op()
        p: S3ConcurrentParams = self.params
        key = pool_key(self.shared.prefix, self.rng.randrange(p.objects))
        cls = format_size(p.object_size)
        if op == "list":
            prefix = f"{self.shared.prefix}shared/"
            self._record("list", prefix, lambda: self.list_keys(prefix), False, {})
        elif op == "get":
            known = self.shared.versions.setdefault(key, set())
            extra: dict[str, Any] = {"size": p.object_size, "class": cls}

            def call() -> dict[str, Any]:
                try:
                    return self.download(key, known.__contains__)
                except CorruptRead as bad:
                    extra["digest"] = bad.digest
                    raise

            self._record("get", key, call, False, extra)
        else:
            version = next(self.shared.version_seq)
            source = ObjectSource(key, f"{self.shared.seed}.{version}", p.object_size)
            plan = self.plan(source)
            digest = plan.digest.hex()
            known = self.shared.versions.setdefault(key, set())
            known.add(digest)  # readers may see it from the moment it is sent
            rec = self._record(
                "put",
                key,
                lambda: self.upload(key, source, plan),
                True,
                {"digest": digest, "size": p.object_size, "class": cls, "version": version},
            )
            if rec["type"] == "fail":
                known.discard(digest)


def pool_key(prefix: str, index: int) -> str:
    return f"{prefix}shared/{index:05d}"


def populate(shared: Shared, write: Callable[[dict[str, Any]], None], workers: int = 8) -> None:
    """Upload the shared pool before the load starts (version 0 of every object),
    recording each as a ``populate`` operation. Raises on the first failure: a pool
    that cannot be written means the target is not usable."""
    p: S3ConcurrentParams = shared.params
    queue = list(range(p.objects))

    def worker() -> None:
        while queue:
            key = pool_key(shared.prefix, queue.pop())
            source = ObjectSource(key, f"{shared.seed}.0", p.object_size)
            digest = source.sha256()
            t_start = time.monotonic_ns()
            shared.client.put_object(
                Bucket=shared.bucket,
                Key=key,
                Body=source.body(),
                ContentLength=source.size,
                ChecksumSHA256=b64(digest),
            )
            shared.versions.setdefault(key, set()).add(digest.hex())
            write(
                {
                    "t_start": t_start,
                    "t_end": time.monotonic_ns(),
                    "process": "populate",
                    "op": "populate",
                    "key": key,
                    "digest": digest.hex(),
                    "type": "ok",
                    "error": None,
                    "size": source.size,
                    "version": 0,
                }
            )

    greenlets = [gevent.spawn(worker) for _ in range(min(workers, p.objects))]
    gevent.joinall(greenlets, raise_error=True)


USER_CLASSES: dict[str, type[S3User]] = {
    "s3.small_objects": ObjectsUser,
    "s3.mixed": ObjectsUser,
    "s3.concurrent_access": SharedPoolUser,
}


def make_user_class(workload: str, shared: Shared) -> type[User]:
    base = USER_CLASSES[workload]
    bound = type(base.__name__, (base,), {"abstract": False, "shared": shared})
    bound.wait_time = constant(shared.params.wait)  # type: ignore[attr-defined]
    return bound
