"""``s3_target``: how a client reaches an S3 service, and where its credentials come from
(the lab's file, the scenario, the ``AWS_*`` environment), without ever showing them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import LabError
from harness.lab.base import Endpoint, ServiceHandle
from harness.lab.s3 import S3Target, make_credentials, read_credentials, s3_target
from harness.scenario import LabSpec, ServiceSpec

ACCESS = "AKIAEXAMPLEACCESS01"
SECRET = "wJalrXUtnFEMI-example-secret-0123456789"
ENV_ACCESS = "AKIAFROMENVIRONMENT9"
ENV_SECRET = "environment-secret-0123456789abcdef"


def external_handle(server: str = "http://127.0.0.1:9000", proxied: bool = True) -> ServiceHandle:
    upstream = Endpoint("127.0.0.1", 9000)
    return ServiceHandle(
        name="store",
        kind="s3",
        client=Endpoint("127.0.0.1", 41000) if proxied else upstream,
        upstream=upstream,
        proxy="store" if proxied else "",
        toxiproxy="127.0.0.1:8474",
        options={"bucket": "userbucket", "region": "us-east-1", "external": server},
    )


def spec(**fields: object) -> ServiceSpec:
    body = {"kind": "s3", "endpoint": "http://127.0.0.1:9000", "bucket": "userbucket", **fields}
    return LabSpec.model_validate({"services": {"store": body}}).services["store"]


def test_a_lab_service_keeps_its_old_call_and_the_lab_s_keys(tmp_path: Path) -> None:
    path = make_credentials(tmp_path / "store.credentials.json")
    handle = ServiceHandle(
        "store",
        "s3",
        Endpoint("127.0.0.1", 41000),
        Endpoint("127.0.0.1", 9000),
        "store",
        "127.0.0.1:8474",
        {"bucket": "chaos", "credentials": str(path), "region": "us-east-1"},
    )
    target = s3_target(handle)
    assert (target.endpoint_url, target.bucket, target.credentials_source) == (
        "http://127.0.0.1:41000",
        "chaos",
        "lab",
    )
    assert (target.access_key, target.secret_key) == read_credentials(path)


def test_external_credentials_from_the_scenario_win_over_the_environment() -> None:
    target = s3_target(
        external_handle(),
        spec(credentials={"access_key": ACCESS, "secret_key": SECRET, "session_token": "tok"}),
        environ={"AWS_ACCESS_KEY_ID": ENV_ACCESS, "AWS_SECRET_ACCESS_KEY": ENV_SECRET},
    )
    assert (target.access_key, target.secret_key, target.session_token) == (ACCESS, SECRET, "tok")
    assert target.credentials_source == "scenario"
    # Through the lab's proxy, with the server behind it named for messages.
    assert target.endpoint_url == "http://127.0.0.1:41000"
    assert target.server == "http://127.0.0.1:9000"
    assert target.bucket == "userbucket"


def test_external_credentials_from_the_environment_without_a_spec() -> None:
    environ = {
        "AWS_ACCESS_KEY_ID": ENV_ACCESS,
        "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
        "AWS_SESSION_TOKEN": "env-token",
    }
    target = s3_target(external_handle(), None, environ)
    assert (target.access_key, target.secret_key, target.session_token) == (
        ENV_ACCESS,
        ENV_SECRET,
        "env-token",
    )
    assert target.credentials_source == "environment"
    assert target.client_env()["AWS_SESSION_TOKEN"] == "env-token"


def test_a_spec_without_credentials_falls_back_to_the_environment() -> None:
    environ = {"AWS_ACCESS_KEY_ID": ENV_ACCESS, "AWS_SECRET_ACCESS_KEY": ENV_SECRET}
    target = s3_target(external_handle(), spec(), environ)
    assert (target.access_key, target.credentials_source) == (ENV_ACCESS, "environment")
    assert target.session_token is None


@pytest.mark.parametrize(
    ("environ", "unset"),
    [
        ({}, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"),
        ({"AWS_ACCESS_KEY_ID": ENV_ACCESS}, "AWS_SECRET_ACCESS_KEY"),
        ({"AWS_SECRET_ACCESS_KEY": ENV_SECRET, "AWS_ACCESS_KEY_ID": ""}, "AWS_ACCESS_KEY_ID"),
    ],
    ids=["none", "no-secret", "empty-key"],
)
def test_missing_credentials_name_the_variables_not_their_values(
    environ: dict[str, str], unset: str
) -> None:
    with pytest.raises(LabError) as caught:
        s3_target(external_handle(), spec(), environ)
    message = str(caught.value)
    assert caught.value.exit_code == 3
    assert "no credentials for the external S3 service 'store' (http://127.0.0.1:9000)" in message
    assert "lab.services.store.credentials" in message
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in message
    assert message.endswith(f"not set: {unset}")
    assert ENV_ACCESS not in message and ENV_SECRET not in message


def test_the_region_comes_from_the_spec_then_the_lab_s_record_then_the_environment() -> None:
    environ = {
        "AWS_ACCESS_KEY_ID": ENV_ACCESS,
        "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
        "AWS_REGION": "ap-south-1",
    }
    assert s3_target(external_handle(), spec(region="eu-west-3"), environ).region == "eu-west-3"
    assert s3_target(external_handle(), spec(), environ).region == "us-east-1"  # recorded
    handle = external_handle()
    del handle.options["region"]
    assert s3_target(handle, None, environ).region == "ap-south-1"
    environ["AWS_REGION"] = ""
    environ["AWS_DEFAULT_REGION"] = "sa-east-1"
    assert s3_target(handle, None, environ).region == "sa-east-1"


def test_an_https_server_is_reached_directly() -> None:
    environ = {"AWS_ACCESS_KEY_ID": ENV_ACCESS, "AWS_SECRET_ACCESS_KEY": ENV_SECRET}
    handle = external_handle("https://127.0.0.1:9000", proxied=False)
    target = s3_target(handle, None, environ)
    assert target.endpoint_url == "https://127.0.0.1:9000"
    assert target.where() == "https://127.0.0.1:9000"


def test_the_target_never_shows_its_keys() -> None:
    target = S3Target(
        "http://127.0.0.1:1", "us-east-1", "b1b", ACCESS, SECRET, "tok", "scenario", "x"
    )
    shown = repr(target) + str(target) + target.where()
    assert ACCESS not in shown and SECRET not in shown and "tok" not in shown
