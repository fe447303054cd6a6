"""The bounded Toxiproxy client against fake HTTP servers on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.errors import EXIT_ENVIRONMENT, EnvironmentProblem, ToxiproxyError
from harness.lab.toxiproxy import (
    ToxiproxyBadRequest,
    ToxiproxyClient,
    ToxiproxyConflict,
    ToxiproxyNotFound,
)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A socket that accepts connections (via the backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


PROXY = {
    "name": "redis",
    "listen": "127.0.0.1:26379",
    "upstream": "127.0.0.1:6379",
    "enabled": True,
    "toxics": [
        {
            "name": "chaos-x-latency-downstream",
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1,
            "attributes": {"latency": 50, "jitter": 10},
        }
    ],
}


# -- timeouts and unreachable servers -----------------------------------------------------


def test_a_server_that_never_answers_raises_within_the_timeout(silent_server):
    client = ToxiproxyClient("127.0.0.1", silent_server, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(ToxiproxyError, match="did not answer") as info:
        client.set_enabled("redis", False)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0
    assert elapsed >= 0.25
    assert f"127.0.0.1:{silent_server}" in str(info.value)
    assert info.value.status is None


def test_version_on_a_server_that_never_answers_raises_within_the_timeout(silent_server):
    client = ToxiproxyClient("127.0.0.1", silent_server, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(ToxiproxyError):
        client.version()
    assert time.monotonic() - started < 3.0


def test_a_closed_port_raises_toxiproxy_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ToxiproxyError, match="unreachable"):
        ToxiproxyClient("127.0.0.1", port, timeout_s=0.3).proxies()


def test_toxiproxy_error_is_an_environment_problem_with_exit_3():
    assert issubclass(ToxiproxyError, EnvironmentProblem)
    assert ToxiproxyError("x").exit_code == EXIT_ENVIRONMENT


# -- status codes --------------------------------------------------------------------------


def test_404_raises_not_found_that_is_also_the_library_not_found(serve):
    server = serve(404)
    with pytest.raises(ToxiproxyNotFound) as info:
        server.client().get_proxy("nope")
    assert isinstance(info.value, NotFound)
    assert isinstance(info.value, ToxiproxyError)
    assert info.value.status == 404
    assert "404" in str(info.value)
    assert "proxy not found" in str(info.value)


def test_remove_toxic_on_404_returns_false(serve):
    server = serve(404)
    assert server.client().remove_toxic("redis", "chaos-x") is False
    assert server.requests == [("DELETE", "/proxies/redis/toxics/chaos-x", None)]


def test_remove_toxic_that_exists_returns_true(serve):
    server = serve(204)
    assert server.client().remove_toxic("redis", "chaos-x") is True


def test_409_raises_conflict_that_is_also_the_library_proxy_exists(serve):
    server = serve(409)
    with pytest.raises(ToxiproxyConflict) as info:
        server.client().create_proxy("redis", "127.0.0.1:0", "127.0.0.1:6379")
    assert isinstance(info.value, ProxyExists)
    assert isinstance(info.value, ToxiproxyError)
    assert info.value.status == 409


def test_400_raises_bad_request_that_is_also_the_library_invalid_toxic(serve):
    server = serve(400)
    with pytest.raises(ToxiproxyBadRequest) as info:
        server.client().add_toxic("redis", "t", "latency", "downstream", {"latency": -1})
    assert isinstance(info.value, InvalidToxic)
    assert info.value.status == 400


def test_500_raises_plain_toxiproxy_error(serve):
    server = serve(500)
    with pytest.raises(ToxiproxyError) as info:
        server.client().reset()
    assert not isinstance(info.value, ToxiproxyNotFound | ToxiproxyConflict | ToxiproxyBadRequest)
    assert info.value.status == 500


# -- requests and responses ----------------------------------------------------------------


def test_set_enabled_posts_the_flag(serve):
    server = serve(200, {**PROXY, "enabled": False})
    server.client().set_enabled("redis", False)
    assert server.requests == [("POST", "/proxies/redis", {"enabled": False})]


def test_add_toxic_sends_the_whole_toxic(serve):
    server = serve(200, {})
    server.client().add_toxic(
        "redis", "chaos-x", "latency", "upstream", {"latency": 50, "jitter": 10}, 0.5
    )
    assert server.requests == [
        (
            "POST",
            "/proxies/redis/toxics",
            {
                "name": "chaos-x",
                "type": "latency",
                "stream": "upstream",
                "toxicity": 0.5,
                "attributes": {"latency": 50, "jitter": 10},
            },
        )
    ]


def test_get_proxy_parses_the_proxy_and_its_toxics(serve):
    server = serve(200, PROXY)
    proxy = server.client().get_proxy("redis")
    assert server.requests == [("GET", "/proxies/redis", None)]
    assert proxy.name == "redis"
    assert proxy.listen == "127.0.0.1:26379"
    assert proxy.enabled is True
    (toxic,) = proxy.toxics
    assert toxic.name == "chaos-x-latency-downstream"
    assert toxic.type == "latency"
    assert toxic.toxicity == 1.0
    assert toxic.attributes == {"latency": 50, "jitter": 10}


def test_proxies_by_name(serve):
    server = serve(200, {"redis": {**PROXY, "toxics": None}})
    proxies = server.client().proxies()
    assert list(proxies) == ["redis"]
    assert proxies["redis"].toxics == ()


def test_from_address_parses_host_and_port():
    client = ToxiproxyClient.from_address("127.0.0.1:8474", timeout_s=0.5)
    assert (client.host, client.port, client.timeout_s) == ("127.0.0.1", 8474, 0.5)
    assert client.address == "127.0.0.1:8474"
    v6 = ToxiproxyClient.from_address("[::1]:8474")
    assert (v6.host, v6.port) == ("::1", 8474)


def test_a_peer_that_does_not_speak_http_raises_toxiproxy_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)

        def answer_garbage() -> None:
            conn, _ = sock.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"-ERR not http\r\n")

        thread = threading.Thread(target=answer_garbage, daemon=True)
        thread.start()
        try:
            with pytest.raises(ToxiproxyError):
                ToxiproxyClient("127.0.0.1", sock.getsockname()[1], timeout_s=1.0).proxies()
        finally:
            thread.join(5)
