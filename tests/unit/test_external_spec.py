"""External S3 services in a scenario: the endpoint's form, what may go with it, secrets
kept out of every dump and message, and the loopback rule.

Addresses other than loopback appear here only as input to the check that refuses them
(192.0.2.0/24 is TEST-NET-1, reserved for documentation); nothing connects to them, and
name resolution is faked where a name is needed."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from harness.errors import InvalidInput, LabError, ScenarioError
from harness.lab import external
from harness.lab.external import (
    EndpointUrl,
    loopback_problem,
    parse_endpoint,
    refuse_non_loopback,
    resolve_endpoint,
)
from harness.scenario import (
    ExternalS3ServiceSpec,
    LabSpec,
    S3ServiceSpec,
    against_lab,
    is_external,
    parse_scenario,
    spec_record,
)

ACCESS = "AKIAEXAMPLEACCESS01"
SECRET = "wJalrXUtnFEMI-example-secret-0123456789"
TOKEN = "session-token-example-0123456789"


def scenario_text(store: str) -> str:
    """A scenario whose service ``store`` is configured by ``store`` (lines 7 on)."""
    return (
        "name: t\nduration: 10s\nlab:\n  services:\n    redis: {}\n    store:\n"
        + store
        + "load:\n  workload: redis.kv\n"
    )


EXTERNAL = (
    "      kind: s3\n"
    "      endpoint: http://127.0.0.1:9000\n"
    "      bucket: userbucket\n"
    "      region: eu-west-1\n"
    "      credentials:\n"
    f"        access_key: {ACCESS}\n"
    f"        secret_key: {SECRET}\n"
    f"        session_token: {TOKEN}\n"
)


def problems(store: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(scenario_text(store), "s.yaml")
    return caught.value.problems


def test_a_service_with_an_endpoint_is_external_with_its_settings() -> None:
    spec = parse_scenario(scenario_text(EXTERNAL), "s.yaml").lab.services["store"]
    assert isinstance(spec, ExternalS3ServiceSpec) and is_external(spec)
    assert (spec.endpoint, spec.bucket, spec.region) == (
        "http://127.0.0.1:9000",
        "userbucket",
        "eu-west-1",
    )
    assert spec.credentials is not None
    assert spec.credentials.secret_key.get_secret_value() == SECRET


def test_a_service_without_one_is_still_the_lab_s_own_server() -> None:
    spec = parse_scenario(scenario_text("      kind: s3\n"), "s.yaml").lab.services["store"]
    assert isinstance(spec, S3ServiceSpec) and not is_external(spec)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("ftp://127.0.0.1:9000", "expected a URL starting with http:// or https:// (or env)"),
        ("127.0.0.1:9000", "expected a URL starting with http:// or https:// (or env)"),
        ("http://:9000", "expected a host after the scheme"),
        ("http://127.0.0.1:99999", "expected a port number from 1 to 65535"),
        ("http://127.0.0.1:0", "expected a port number from 1 to 65535"),
        ("http://127.0.0.1:9000/bucket", "expected scheme, host and port only"),
        ("http://127.0.0.1:9000?x=1", "expected scheme, host and port only"),
    ],
)
def test_a_malformed_endpoint_is_refused_at_its_line(endpoint: str, expected: str) -> None:
    store = f"      kind: s3\n      endpoint: {endpoint}\n      bucket: userbucket\n"
    (problem,) = problems(store)
    assert problem.startswith(f"s.yaml:8: lab.services.store.endpoint: {expected}"), problem
    assert problem.endswith(f", got {endpoint!r}")


def test_a_password_in_the_endpoint_is_refused_without_being_repeated() -> None:
    url = "http://admin:hunter22@127.0.0.1:9000"
    (problem,) = problems(f"      kind: s3\n      endpoint: {url}\n      bucket: b1b\n")
    assert problem.startswith("s.yaml:8: lab.services.store.endpoint: expected no user or pass")
    assert "hunter22" not in problem and "admin" not in problem


def test_disk_is_not_allowed_with_an_endpoint() -> None:
    (problem,) = problems(EXTERNAL + "      disk: {size: 64MiB}\n")
    assert problem.startswith("s.yaml:15: lab.services.store.disk: not allowed with an endpoint")
    assert "does not own" in problem


def test_an_external_service_names_its_bucket() -> None:
    (problem,) = problems("      kind: s3\n      endpoint: env\n")
    assert problem == "s.yaml:6: lab.services.store: missing required field 'bucket'"


def test_credentials_without_an_endpoint_ask_for_the_endpoint() -> None:
    store = f"      kind: s3\n      credentials: {{access_key: {ACCESS}, secret_key: {SECRET}}}\n"
    found = problems(store)
    assert "s.yaml:6: lab.services.store: missing required field 'endpoint'" in found
    assert not any(SECRET in p or ACCESS in p for p in found)


def test_an_unknown_field_lists_the_external_fields() -> None:
    (problem,) = problems(EXTERNAL + "      colour: blue\n")
    assert "expected one of: kind, endpoint, bucket, region, credentials, disk" in problem


@pytest.mark.parametrize(
    "credentials",
    [
        f"      credentials: {ACCESS}:{SECRET}\n",
        f"      credentials: {{access_key: {ACCESS}, secret_key: [{SECRET}]}}\n",
        f"      credentials: {{access_key: {ACCESS}, secret_key: 12345678, x: {SECRET}}}\n",
    ],
    ids=["a-string", "a-list", "a-number-and-an-unknown-field"],
)
def test_malformed_credentials_are_reported_without_their_values(credentials: str) -> None:
    store = "      kind: s3\n      endpoint: env\n      bucket: b1b\n" + credentials
    found = problems(store)
    assert found and all("lab.services.store.credentials" in p for p in found), found
    text = "\n".join(found)
    for value in (ACCESS, SECRET, "12345678"):
        assert value not in text


def test_secrets_are_masked_in_the_scenario_dump() -> None:
    scenario = parse_scenario(scenario_text(EXTERNAL), "s.yaml")
    dumped = scenario.model_dump_json(indent=2, by_alias=True)  # what scenario.json holds
    for value in (ACCESS, SECRET, TOKEN):
        assert value not in dumped
    creds = json.loads(dumped)["lab"]["services"]["store"]["credentials"]
    assert creds == {"access_key": "**********", "secret_key": "**********",
                     "session_token": "**********"}  # fmt: skip
    assert SECRET not in repr(scenario) and SECRET not in str(scenario)


def test_the_lab_s_record_of_a_spec_leaves_the_credentials_out() -> None:
    spec = parse_scenario(scenario_text(EXTERNAL), "s.yaml").lab.services["store"]
    record = spec_record(spec)
    assert "credentials" not in record
    assert record["endpoint"] == "http://127.0.0.1:9000"
    # A lab rebuilt from its record still knows the service is external.
    rebuilt = LabSpec.model_validate({"services": {"store": record}}).services["store"]
    assert is_external(rebuilt) and rebuilt.credentials is None


def test_attaching_takes_the_credentials_from_the_scenario_for_the_same_endpoint() -> None:
    scenario = parse_scenario(scenario_text(EXTERNAL), "s.yaml")
    running = dict(scenario.lab.services)
    recorded = LabSpec.model_validate(
        {"services": {n: spec_record(s) for n, s in running.items()}}
    ).services
    attached = against_lab(scenario, dict(recorded), "s.yaml", "lab-1").lab.services["store"]
    assert is_external(attached) and attached.credentials is not None
    assert attached.credentials.secret_key.get_secret_value() == SECRET
    # Another endpoint on the running lab: the scenario's keys are not sent there.
    other = dict(recorded)
    other["store"] = other["store"].model_copy(update={"endpoint": "http://127.0.0.1:9001"})
    moved = against_lab(scenario, other, "s.yaml", "lab-1").lab.services["store"]
    assert is_external(moved) and moved.credentials is None


# -- endpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://127.0.0.1:9000", EndpointUrl("http", "127.0.0.1", 9000)),
        ("http://localhost/", EndpointUrl("http", "localhost", 80)),
        ("https://LOCALHOST", EndpointUrl("https", "localhost", 443)),
        ("http://[::1]:7480", EndpointUrl("http", "::1", 7480)),
    ],
)
def test_endpoints_are_parsed_with_default_ports(text: str, expected: EndpointUrl) -> None:
    assert parse_endpoint(text) == expected


def test_an_ipv6_endpoint_is_dialled_in_brackets() -> None:
    url = parse_endpoint("http://[::1]:7480")
    assert url.hostport == "[::1]:7480"
    assert url.url == "http://[::1]:7480"


def test_endpoint_env_prefers_the_s3_variable() -> None:
    environ = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1111",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2222",
    }
    assert resolve_endpoint("env", environ).port == 2222
    assert resolve_endpoint("env", {"AWS_ENDPOINT_URL": "https://127.0.0.1"}).tls
    assert resolve_endpoint("http://127.0.0.1:3", environ).port == 3  # a URL is a URL


def test_endpoint_env_with_neither_variable_names_both() -> None:
    with pytest.raises(LabError) as caught:
        resolve_endpoint("env", {})
    assert "AWS_ENDPOINT_URL_S3" in str(caught.value)
    assert "AWS_ENDPOINT_URL " in str(caught.value)


def test_a_malformed_endpoint_variable_is_named_not_repeated() -> None:
    with pytest.raises(LabError) as caught:
        resolve_endpoint("env", {"AWS_ENDPOINT_URL_S3": "http://key:pw-in-url@127.0.0.1"})
    assert str(caught.value).startswith("AWS_ENDPOINT_URL_S3: expected no user or password")
    assert "pw-in-url" not in str(caught.value)


# -- the loopback rule -------------------------------------------------------------------


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check resolves names; it never connects."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the loopback check must not connect anywhere")

    monkeypatch.setattr(socket, "create_connection", refuse)


def fake_resolver(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(external.socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "localhost"])
def test_loopback_hosts_need_no_opt_in(host: str, no_connections: None) -> None:
    assert loopback_problem(host, 9000) is None


@pytest.mark.parametrize("host", ["192.0.2.10", "::ffff:192.0.2.10", "0.0.0.0"])
def test_other_addresses_are_named(host: str, no_connections: None) -> None:
    problem = loopback_problem(host, 9000)
    assert problem is not None and "is not a loopback address" in problem


def test_a_name_is_judged_by_every_address_it_resolves_to(
    monkeypatch: pytest.MonkeyPatch, no_connections: None
) -> None:
    fake_resolver(
        monkeypatch,
        {"lo.test": ["127.0.0.1", "::1"], "mixed.test": ["127.0.0.1", "192.0.2.7"]},
    )
    assert loopback_problem("lo.test", 80) is None
    problem = loopback_problem("mixed.test", 80)
    assert problem == "host 'mixed.test' is not a loopback address (it resolves to 192.0.2.7)"
    unknown = loopback_problem("nowhere.test", 80)
    assert unknown is not None and "does not resolve" in unknown


def test_refusal_names_each_service_and_the_flag(no_connections: None) -> None:
    targets = {
        "near": parse_endpoint("http://127.0.0.1:9000"),
        "far": parse_endpoint("https://192.0.2.10"),
    }
    with pytest.raises(InvalidInput) as caught:
        refuse_non_loopback(targets, allow_external=False)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "--allow-external" in message
    assert "service 'far' (https://192.0.2.10:443)" in message
    assert "'near'" not in message
    refuse_non_loopback(targets, allow_external=True)  # the opt-in
