"""The local lab's S3 server: versitygw with its posix backend.

Each bucket is a directory under the service's data directory and each object a file
in it, so a test can change or delete an object's bytes behind the server's back.
The lab makes a fresh access key and secret per service and keeps them in a file of
their own (mode 0600) beside the service's log: the server reads them from its
environment (``ROOT_ACCESS_KEY_ID`` / ``ROOT_SECRET_ACCESS_KEY``), never from its
command line, so they appear in no argv, journal, history, result or report, which
record only the file's path.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import LabError
from harness.lab.base import ServiceHandle

VERSITYGW_VERSION = "v1.7.0"
VERSITYGW_MODULE = "github.com/versity/versitygw/cmd/versitygw"
REGION = "us-east-1"


def find_versitygw() -> str:
    """Locate the versitygw binary, or explain how to get one."""
    explicit = os.environ.get("HARNESS_VERSITYGW_BIN")
    candidates = [explicit] if explicit else []
    candidates += [
        str(Path(__file__).resolve().parents[2] / ".bin" / "versitygw"),
        shutil.which("versitygw") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    if explicit:
        raise LabError(f"HARNESS_VERSITYGW_BIN={explicit} is not an executable file")
    raise LabError(
        "the versitygw binary (the lab's S3 server) was not found: run `make setup` (it "
        f"builds {VERSITYGW_MODULE}@{VERSITYGW_VERSION} into .bin/), put versitygw on "
        "PATH, or set HARNESS_VERSITYGW_BIN"
    )


def versitygw_argv(binary: str, host: str, port: int, data_dir: Path) -> list[str]:
    return [binary, "--port", f"{host}:{port}", "--region", REGION, "posix", str(data_dir)]


def make_credentials(path: Path) -> Path:
    """Write a fresh access key and secret to ``path`` (0600) unless it exists: a
    restarted server keeps the credentials its clients already have."""
    if not path.exists():
        env = {
            "ROOT_ACCESS_KEY_ID": "chaos" + secrets.token_hex(6),
            "ROOT_SECRET_ACCESS_KEY": secrets.token_hex(20),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(env, handle)
    return path


def read_credentials(path: str | Path) -> tuple[str, str]:
    """The (access key, secret) in a credentials file written by ``make_credentials``."""
    try:
        env = json.loads(Path(path).read_text())
        return env["ROOT_ACCESS_KEY_ID"], env["ROOT_SECRET_ACCESS_KEY"]
    except (OSError, ValueError, KeyError) as exc:
        raise LabError(f"cannot read the S3 credentials file {path}: {exc}") from None


def http_ready(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True when something answers HTTP on the port (versitygw answers an unsigned
    request with 403, which is enough to know it is serving)."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
        return sock.recv(16).startswith(b"HTTP/")


@dataclass(frozen=True)
class S3Target:
    """Everything a client needs to reach one S3 service. The secret is held here in
    memory only: ``repr`` hides it, and nothing writes this object to a file."""

    endpoint_url: str
    region: str
    bucket: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def client_env(self) -> dict[str, str]:
        """The credentials as the ``AWS_*`` variables a child process (the load
        generator) reads, so they never go through its configuration file."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


def s3_target(handle: ServiceHandle) -> S3Target:
    """How to reach a lab S3 service through its proxy, with its credentials."""
    access, secret = read_credentials(handle.options["credentials"])
    return S3Target(
        endpoint_url=f"http://{handle.client}",
        region=handle.options.get("region", REGION),
        bucket=handle.options["bucket"],
        access_key=access,
        secret_key=secret,
    )


def s3_client(target: S3Target, timeout_s: float = 5.0, pool: int = 10) -> Any:
    """A boto3 client for ``target`` with no retries (imported here: the CLI does not
    load boto3 unless an S3 service is in use)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=target.endpoint_url,
        region_name=target.region,
        aws_access_key_id=target.access_key,
        aws_secret_access_key=target.secret_key,
        aws_session_token=target.session_token,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=min(timeout_s, 2.0),
            read_timeout=timeout_s,
            max_pool_connections=pool,
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def check_s3_target(target: S3Target) -> None:
    """``LabError`` unless the bucket answers with these credentials."""
    import botocore.exceptions

    try:
        s3_client(target, timeout_s=3.0).head_bucket(Bucket=target.bucket)
    except botocore.exceptions.ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status in (401, 403):
            raise LabError(
                f"S3 at {target.endpoint_url} rejected the credentials for bucket "
                f"'{target.bucket}' (HTTP {status})"
            ) from None
        if status == 404:
            raise LabError(f"S3 at {target.endpoint_url} has no bucket '{target.bucket}'") from None
        raise LabError(
            f"S3 at {target.endpoint_url}: HTTP {status} for bucket '{target.bucket}'"
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise LabError(f"cannot reach S3 at {target.endpoint_url}: {exc}") from None
