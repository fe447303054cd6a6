"""Servers the lab does not start: a user's own endpoint, checked against the safety rule.

The harness only targets loopback addresses unless the user opts in (``--allow-external``):
an external endpoint's host is resolved, and every address it resolves to must be in
127.0.0.0/8 or be ::1. An endpoint is ``http(s)://host[:port]``, or ``env``: the URL in
``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (the variables the AWS SDKs read),
looked up when the scenario is checked and when the lab starts.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.errors import InvalidInput, LabError

FROM_ENV = "env"
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
ALLOW_FLAG = "--allow-external"


@dataclass(frozen=True)
class EndpointUrl:
    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.hostport}"

    @property
    def hostport(self) -> str:
        """``host:port`` as a dialer takes it (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


def parse_endpoint(text: str) -> EndpointUrl:
    """``http(s)://host[:port]`` (a trailing ``/`` is allowed); ``ValueError`` otherwise.
    The message never repeats the URL: it may carry a password (``user:pass@``)."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError("expected a URL starting with http:// or https:// (or env)")
    if "@" in parts.netloc:
        raise ValueError(
            "expected no user or password in the URL: give them under credentials "
            "(or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError("expected a port number from 1 to 65535 after the host") from None
    if not parts.hostname:
        raise ValueError("expected a host after the scheme, e.g. http://127.0.0.1:9000")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("expected scheme, host and port only (no path, query or fragment)")
    if port == 0:
        raise ValueError("expected a port number from 1 to 65535 after the host")
    default = 443 if parts.scheme == "https" else 80
    return EndpointUrl(parts.scheme, parts.hostname, port or default)


def resolve_endpoint(endpoint: str, environ: Mapping[str, str] | None = None) -> EndpointUrl:
    """The endpoint a spec names: its URL, or with ``env`` the first of
    ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` that is set (``LabError`` if none is,
    or if its value is not an endpoint URL)."""
    if endpoint != FROM_ENV:
        return parse_endpoint(endpoint)
    environ = os.environ if environ is None else environ
    for variable in ENDPOINT_VARIABLES:
        value = environ.get(variable)
        if value:
            try:
                return parse_endpoint(value)
            except ValueError as exc:
                raise LabError(f"{variable}: {exc}") from None
    raise LabError(
        f"endpoint: env, but neither {' nor '.join(ENDPOINT_VARIABLES)} is set: set one "
        "to the server's URL (e.g. http://127.0.0.1:9000), or write the URL in the scenario"
    )


def loopback_problem(host: str, port: int) -> str | None:
    """Why ``host`` may not be targeted without the opt-in, or ``None`` when every
    address it resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"host '{host}' does not resolve ({exc}), so it cannot be shown to be loopback"
    outside = sorted({str(info[4][0]) for info in infos if not _loopback(str(info[4][0]))})
    if outside:
        return f"host '{host}' is not a loopback address (it resolves to {', '.join(outside)})"
    return None


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def refuse_non_loopback(targets: Mapping[str, EndpointUrl], allow_external: bool) -> None:
    """``InvalidInput`` (exit 2) naming every service whose endpoint is not loopback,
    unless the user passed ``--allow-external``."""
    if allow_external:
        return
    problems = [
        f"service '{name}' ({url.url}): {why}"
        for name, url in targets.items()
        if (why := loopback_problem(url.host, url.port)) is not None
    ]
    if problems:
        raise InvalidInput(
            "the harness only targets loopback addresses unless you pass "
            f"{ALLOW_FLAG}:\n  " + "\n  ".join(problems)
        )
