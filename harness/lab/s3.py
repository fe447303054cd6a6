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
import re
import secrets
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import LabError
from harness.lab.base import ServiceHandle
from harness.scenario import is_external

if TYPE_CHECKING:
    from harness.scenario import ServiceSpec

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
    # Keep-alive as S3 servers have it: without it versitygw closes the connection after
    # every response, and whatever Toxiproxy decides per connection (toxicity, a
    # limit_data budget, closing live connections) would act per request instead.
    return [
        binary,
        "--port",
        f"{host}:{port}",
        "--region",
        REGION,
        "--keep-alive",
        "posix",
        str(data_dir),
    ]


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


def tcp_open(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True when something accepts a TCP connection on the port (an https server, whose
    answer needs a TLS handshake and its certificate's trust, is only checked this far)."""
    with socket.create_connection((host, port), timeout=timeout_s):
        return True


def default_region(environ: Mapping[str, str] | None = None) -> str:
    """``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else us-east-1."""
    environ = os.environ if environ is None else environ
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or REGION


@dataclass(frozen=True)
class S3Target:
    """Everything a client needs to reach one S3 service. The secret is held here in
    memory only: ``repr`` hides it, and nothing writes this object to a file.

    ``credentials_source`` says where the keys came from (``lab``: the lab's own file;
    ``scenario``; ``environment``: the ``AWS_*`` variables), for messages that must not
    show them; ``server`` is the external server's URL when ``endpoint_url`` is the
    proxy in front of it."""

    endpoint_url: str
    region: str
    bucket: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    credentials_source: str = "lab"
    server: str | None = None

    def client_env(self) -> dict[str, str]:
        """The credentials as the ``AWS_*`` variables a child process (the load
        generator) reads, so they never go through its configuration file."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    def where(self) -> str:
        """The endpoint for a message: the proxy, and the server behind it if external."""
        if self.server and self.server != self.endpoint_url:
            return f"{self.endpoint_url} (the lab's proxy to {self.server})"
        return self.endpoint_url


CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def s3_target(
    handle: ServiceHandle,
    spec: ServiceSpec | None = None,
    environ: Mapping[str, str] | None = None,
) -> S3Target:
    """How to reach an S3 service, with its credentials.

    A lab service: through its proxy, with the lab's keys (``spec`` and ``environ`` are
    not used). An external one (``options["external"]``): through its proxy (http) or
    directly (https); the region from ``spec``, else the one the lab recorded; the
    credentials from ``spec.credentials``, else ``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` in ``environ`` (default
    ``os.environ``). ``LabError`` when neither has them."""
    server = handle.options.get("external")
    if server is None:
        access, secret = read_credentials(handle.options["credentials"])
        return S3Target(
            endpoint_url=f"http://{handle.client}",
            region=handle.options.get("region", REGION),
            bucket=handle.options["bucket"],
            access_key=access,
            secret_key=secret,
        )
    environ = os.environ if environ is None else environ
    external = spec if is_external(spec) else None
    given = external.credentials if external is not None else None
    if given is not None:
        access, secret = given.access_key.get_secret_value(), given.secret_key.get_secret_value()
        token = given.session_token.get_secret_value() if given.session_token else None
        source = "scenario"
    else:
        unset = [name for name in CREDENTIAL_VARIABLES if not environ.get(name)]
        if unset:
            raise LabError(
                f"no credentials for the external S3 service '{handle.name}' ({server}): "
                f"give lab.services.{handle.name}.credentials (access_key, secret_key) in "
                f"the scenario, or set {' and '.join(CREDENTIAL_VARIABLES)} (and "
                f"AWS_SESSION_TOKEN for temporary keys); not set: {', '.join(unset)}"
            )
        access, secret = environ[CREDENTIAL_VARIABLES[0]], environ[CREDENTIAL_VARIABLES[1]]
        token = environ.get("AWS_SESSION_TOKEN") or None
        source = "environment"
    region = (external.region if external is not None else None) or handle.options.get("region")
    return S3Target(
        endpoint_url=f"http://{handle.client}" if handle.proxy else server,
        region=region or default_region(environ),
        bucket=handle.options["bucket"],
        access_key=access,
        secret_key=secret,
        session_token=token,
        credentials_source=source,
        server=server,
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


# Error codes that mean "these keys are not accepted here" (XAdminUserNotFound: versitygw's
# unknown access key).
REJECTED_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "XAdminUserNotFound",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "InvalidSecurity",
        "AllAccessDisabled",
        "403",
    }
)
REGION_CODES = frozenset(
    {
        "AuthorizationHeaderMalformed",
        "PermanentRedirect",
        "IllegalLocationConstraintException",
        "301",
    }
)
_SOURCES = {
    "lab": "the lab's credentials file",
    "scenario": "the scenario (its credentials: block)",
    "environment": "the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
}


def check_s3_target(target: S3Target, timeout_s: float = 3.0) -> None:
    """Preflight: ``head_bucket`` on the target, with short timeouts and no retries.

    ``LabError`` (exit 3) that says what is wrong: the endpoint is unreachable (refused,
    timed out, closed by the proxy, TLS), the credentials were rejected (and where they
    came from, never their value), the bucket does not exist, or the region is wrong.
    boto3 is loaded only when this is called (``s3_client``), never by the CLI's start."""
    import botocore.exceptions

    try:
        client = s3_client(target, timeout_s=timeout_s, pool=1)
    except botocore.exceptions.BotoCoreError as exc:
        raise LabError(f"cannot make an S3 client for {target.where()}: {exc}") from None
    unreachable = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)
    try:
        client.head_bucket(Bucket=target.bucket)
        return
    except unreachable as exc:
        raise LabError(_unreachable(target, exc, timeout_s)) from None
    except botocore.exceptions.ClientError as exc:
        status, code, message = _error_of(exc)
    # A HEAD reply has no body, so no error code: a GET says which error it is.
    try:
        client.list_objects_v2(Bucket=target.bucket, MaxKeys=1)
    except botocore.exceptions.ClientError as exc:
        status, code, message = _error_of(exc)
    except (botocore.exceptions.BotoCoreError, OSError):
        pass
    raise LabError(_refusal(target, status, code, _scrubbed(message, target)))


def _error_of(exc: Any) -> tuple[int, str, str]:
    response = exc.response
    error = response.get("Error", {})
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return status, str(error.get("Code") or status), str(error.get("Message") or "")


def _scrubbed(text: str, target: S3Target) -> str:
    for secret in (target.access_key, target.secret_key, target.session_token):
        if secret:
            text = text.replace(secret, "***")
    return text


def _unreachable(target: S3Target, exc: Exception, timeout_s: float) -> str:
    import botocore.exceptions as bx

    if isinstance(exc, bx.SSLError):
        why = (
            "the TLS handshake failed (not a TLS server, or a certificate this machine does "
            "not trust: see AWS_CA_BUNDLE)"
        )
    elif isinstance(exc, bx.ConnectTimeoutError):
        why = "the connection timed out"
    elif isinstance(exc, bx.ReadTimeoutError):
        why = f"no answer within {timeout_s:g} s"
    elif isinstance(exc, bx.ConnectionClosedError):
        why = "the connection was closed before an answer (behind a proxy: the server is down)"
    else:
        errno = re.search(r"\[Errno -?\d+\] [^'\")\]]+", str(getattr(exc, "kwargs", {})))
        why = f"the connection failed ({errno.group(0).strip() if errno else type(exc).__name__})"
    return f"the S3 endpoint {target.where()} is unreachable: {why}"


def _refusal(target: S3Target, status: int, code: str, message: str) -> str:
    where, bucket = target.where(), target.bucket
    http = f"HTTP {status}" + ("" if code == str(status) else f" {code}")
    if code == "NoSuchBucket" or (code == "404" and status == 404):
        return f"bucket '{bucket}' does not exist on the S3 server at {where} ({http})" + (
            ": create it first (the harness creates no bucket on an external server)"
            if target.server
            else ""
        )
    if code in REJECTED_CODES:
        source = _SOURCES.get(target.credentials_source, target.credentials_source)
        return (
            f"the S3 server at {where} rejected the credentials from {source} for bucket "
            f"'{bucket}' ({http}): check the access key and secret"
            + (", and that they may use this bucket" if code in ("AccessDenied", "403") else "")
        )
    if code in REGION_CODES or status == 400:
        return (
            f"the S3 server at {where} refused requests signed for region {target.region} "
            f"on bucket '{bucket}' ({http}): set the service's region (its region: field, or "
            "AWS_REGION) to the bucket's region"
        )
    detail = f": {message}" if message else ""
    return f"the S3 server at {where} refused bucket '{bucket}' ({http}){detail}"
