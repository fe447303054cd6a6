"""A Toxiproxy HTTP API client in which every call is bounded by a timeout.

toxiproxy-python sends its requests with no timeout and keeps the server address in
process-global class attributes, so one hung control call would stall the whole
schedule and a second server could not be addressed. Its calls cannot take a timeout
from outside, so this module speaks the same REST API (``/proxies``, ``/toxics``,
``/reset``, ``/version``) itself with ``http.client`` and raises toxiproxy-python's own
``NotFound`` / ``ProxyExists`` / ``InvalidToxic`` classes (mixed into ours) so code
written against that library still recognises them. See docs/architecture.md.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from harness.errors import ToxiproxyError

DEFAULT_TIMEOUT_S = 2.0


def _library_exceptions() -> tuple[type[Exception], type[Exception], type[Exception]]:
    # Imported lazily: importing the toxiproxy package pulls in requests (slow CLI start).
    try:
        from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

        return NotFound, ProxyExists, InvalidToxic
    except ImportError:  # pragma: no cover - the dependency is declared
        return Exception, Exception, Exception


_NotFound, _ProxyExists, _InvalidToxic = _library_exceptions()


class ToxiproxyNotFound(ToxiproxyError, _NotFound):  # type: ignore[valid-type,misc]
    """The proxy or toxic does not exist (HTTP 404)."""


class ToxiproxyConflict(ToxiproxyError, _ProxyExists):  # type: ignore[valid-type,misc]
    """The proxy or toxic already exists (HTTP 409)."""


class ToxiproxyBadRequest(ToxiproxyError, _InvalidToxic):  # type: ignore[valid-type,misc]
    """The server rejected the request (HTTP 400), e.g. an invalid toxic."""


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...]


class ToxiproxyClient:
    """Bounded client for one Toxiproxy server at ``host:port``."""

    def __init__(self, host: str, port: int, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_address(cls, address: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> ToxiproxyClient:
        host, _, port = address.rpartition(":")
        return cls(host.strip("[]"), int(port), timeout_s)

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except TimeoutError:
            raise ToxiproxyError(
                f"Toxiproxy at {self.address} did not answer {method} {path} "
                f"within {self.timeout_s:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise ToxiproxyError(
                f"Toxiproxy at {self.address} unreachable for {method} {path}: {exc!r}"
            ) from None
        finally:
            conn.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, data = self._request(method, path, body)
        if status >= 400:
            detail = data.decode(errors="replace").strip()
            message = f"Toxiproxy {method} {path} -> {status}: {detail}"
            if status == 404:
                raise ToxiproxyNotFound(message, status)
            if status == 409:
                raise ToxiproxyConflict(message, status)
            if status == 400:
                raise ToxiproxyBadRequest(message, status)
            raise ToxiproxyError(message, status)
        if not data:
            return None
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise ToxiproxyError(
                f"Toxiproxy {method} {path} -> {status}: not JSON: {data[:200]!r}", status
            ) from None

    def version(self) -> str:
        """The server's version string (plain text, not JSON)."""
        status, data = self._request("GET", "/version", None)
        if status >= 400:
            raise ToxiproxyError(f"Toxiproxy GET /version -> {status}", status)
        return data.decode(errors="replace").strip()

    def proxies(self) -> dict[str, Proxy]:
        raw = self._call("GET", "/proxies") or {}
        return {name: _proxy(value) for name, value in raw.items()}

    def get_proxy(self, name: str) -> Proxy:
        return _proxy(self._call("GET", f"/proxies/{name}"))

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> Proxy:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return _proxy(self._call("POST", "/proxies", body))

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._call("POST", f"/proxies/{name}", {"enabled": enabled})

    def add_toxic(
        self,
        proxy: str,
        name: str,
        type_: str,
        stream: str,
        attributes: dict[str, Any],
        toxicity: float = 1.0,
    ) -> None:
        body = {
            "name": name,
            "type": type_,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        self._call("POST", f"/proxies/{proxy}/toxics", body)

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """Remove a toxic; ``False`` if it was already gone (removal is idempotent)."""
        try:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        except ToxiproxyNotFound:
            return False
        return True

    def reset(self) -> None:
        """Enable every proxy and remove every toxic on this server."""
        self._call("POST", "/reset")


def _proxy(raw: dict[str, Any]) -> Proxy:
    toxics = tuple(
        Toxic(
            name=t["name"],
            type=t["type"],
            stream=t.get("stream", "downstream"),
            toxicity=float(t.get("toxicity", 1.0)),
            attributes=dict(t.get("attributes") or {}),
        )
        for t in raw.get("toxics") or ()
    )
    return Proxy(
        name=raw["name"],
        listen=raw["listen"],
        upstream=raw["upstream"],
        enabled=bool(raw["enabled"]),
        toxics=toxics,
    )
