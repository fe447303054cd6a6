"""External S3 services in the lab, before anything starts: which faults can act on them,
what the plan says, and the --allow-external opt-in at every command that targets them.

Non-loopback addresses (192.0.2.0/24, TEST-NET-1) are only ever refused or planned
here; nothing connects to them."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from faults.base import FaultTarget, get_kind
from harness.cli import app
from harness.errors import EXIT_INVALID_INPUT, FaultError, InvalidInput, ScenarioError
from harness.lab.base import Endpoint, ServiceHandle
from harness.lab.local import LocalLab, external_endpoints, find_service_binaries
from harness.plan import render_plan
from harness.scenario import LabSpec, parse_scenario

SECRET = "wJalrXUtnFEMI-example-secret-0123456789"


def scenario_text(endpoint: str, timeline: str = "", credentials: bool = True) -> str:
    keys = f"      credentials: {{access_key: AKIAEXAMPLE, secret_key: {SECRET}}}\n"
    return (
        "name: ext\nduration: 10s\nlab:\n  services:\n    redis: {}\n    store:\n"
        f"      kind: s3\n      endpoint: {endpoint}\n      bucket: userbucket\n"
        + (keys if credentials else "")
        + "load:\n  workload: redis.kv\n"
        + (f"timeline:\n{timeline}" if timeline else "")
    )


def fault_on_store(fault: str) -> str:
    return f"  - at: 1s\n    for: 1s\n    fault: {fault}\n    target: store\n"


def target_problem(endpoint: str, fault: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(scenario_text(endpoint, fault_on_store(fault)), "ext.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith("ext.yaml:17: timeline.0.target: "), problem
    return problem


@pytest.mark.parametrize("fault", ["process.kill", "process.pause", "process.stop"])
def test_process_faults_refuse_an_external_server(fault: str) -> None:
    problem = target_problem("http://127.0.0.1:9000", fault)
    assert f"{fault} cannot act on service 'store': it is an external server" in problem
    assert "(http://127.0.0.1:9000) that the lab did not start: it has no process" in problem


@pytest.mark.parametrize("fault", ["disk.fill", "disk.readonly", "disk.io_error", "disk.slow"])
def test_disk_faults_refuse_an_external_server(fault: str) -> None:
    problem = target_problem("http://127.0.0.1:9000", fault)
    assert "it is an external server" in problem and "no lab filesystem" in problem
    assert "add a disk: block" not in problem  # the lab cannot give it one


@pytest.mark.parametrize("fault", ["network.down", "network.latency", "network.flap"])
def test_network_faults_refuse_an_https_server_reached_directly(fault: str) -> None:
    problem = target_problem("https://127.0.0.1:9443", fault)
    assert "external https server, reached directly" in problem
    assert "certificate" in problem and "http:// endpoint" in problem


def test_network_faults_refuse_https_from_the_environment_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://127.0.0.1:9443")
    assert "external https server" in target_problem("env", "network.down")


@pytest.mark.parametrize("fault", ["network.down", "network.latency", "network.blackhole"])
def test_network_faults_act_on_an_http_server_through_its_proxy(fault: str) -> None:
    text = scenario_text("http://127.0.0.1:9000", fault_on_store(fault))
    (planned,) = parse_scenario(text, "ext.yaml").plan()
    assert planned.targets == ("store",)


def test_a_network_fault_on_a_service_without_a_proxy_is_refused_when_made() -> None:
    direct = ServiceHandle(
        "store",
        "s3",
        Endpoint("127.0.0.1", 9443),
        Endpoint("127.0.0.1", 9443),
        "",
        "127.0.0.1:8474",
        {"external": "https://127.0.0.1:9443", "bucket": "b1b"},
    )
    kind = get_kind("network.down")
    assert kind is not None
    with pytest.raises(FaultError, match="store reached without a proxy"):
        kind("f1", FaultTarget(lab=None, services=[direct]), kind.params_model())  # type: ignore[arg-type]


def test_the_plan_says_the_server_is_external_and_how_it_is_reached() -> None:
    plan = render_plan(parse_scenario(scenario_text("http://127.0.0.1:9000"), "ext.yaml"))
    line = next(line for line in plan.splitlines() if line.startswith("  store: "))
    assert "external S3 server at http://127.0.0.1:9000 (not started by the lab" in line
    assert "bucket userbucket, credentials from the scenario" in line
    assert line.endswith("clients through Toxiproxy proxy 'store'")
    https = render_plan(
        parse_scenario(scenario_text("https://127.0.0.1:9443", credentials=False), "e.yaml")
    )
    assert "credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY" in https
    assert "directly (https: no proxy, no network faults)" in https
    assert SECRET not in plan


def test_an_external_service_needs_no_server_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_VERSITYGW_BIN", "/nonexistent/versitygw")
    monkeypatch.setenv("HARNESS_REDIS_SERVER_BIN", sys.executable)
    services = parse_scenario(scenario_text("http://127.0.0.1:9000"), "ext.yaml").lab.services
    assert find_service_binaries(dict(services)) == {"redis": sys.executable}


def test_the_lab_s_record_holds_no_credentials(tmp_path: Path) -> None:
    services = parse_scenario(scenario_text("http://127.0.0.1:9000"), "ext.yaml").lab.services
    record = LocalLab(tmp_path / "lab", dict(services)).to_record()
    text = json.dumps(record)  # the journal and lab.json hold this
    assert SECRET not in text and "AKIAEXAMPLE" not in text and "credentials" not in text
    rebuilt = LocalLab.from_record(record)
    assert rebuilt.specs["store"].model_dump()["endpoint"] == "http://127.0.0.1:9000"


# -- the opt-in -----------------------------------------------------------------------------


@pytest.fixture
def lab_binaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Preflight only checks that the binaries exist; nothing may connect anywhere."""
    monkeypatch.setenv("HARNESS_TOXIPROXY_BIN", sys.executable)
    monkeypatch.setenv("HARNESS_REDIS_SERVER_BIN", sys.executable)
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing may connect while checking a scenario")

    monkeypatch.setattr(socket, "create_connection", refuse)


def write(tmp_path: Path, endpoint: str) -> str:
    path = tmp_path / "ext.yaml"
    path.write_text(scenario_text(endpoint, fault_on_store("network.latency")))
    return str(path)


@pytest.mark.parametrize(
    "command",
    [["scenario", "validate"], ["chaos", "run", "--dry-run"], ["lab", "up", "--scenario"]],
    ids=["validate", "dry-run", "lab-up"],
)
def test_a_server_off_loopback_is_refused_without_the_opt_in_exit_2(
    tmp_path: Path, lab_binaries: None, command: list[str]
) -> None:
    result = CliRunner().invoke(app, [*command, write(tmp_path, "http://192.0.2.10:9000")])
    assert result.exit_code == EXIT_INVALID_INPUT, result.output
    assert "the harness only targets loopback addresses unless you pass --allow-external" in (
        result.output
    )
    assert "service 'store' (http://192.0.2.10:9000): host '192.0.2.10' is not a loopback" in (
        result.output
    )
    assert "Traceback" not in result.output and SECRET not in result.output
    assert not (tmp_path / "state" / "lab.json").exists()  # lab up started nothing


@pytest.mark.parametrize(
    "command", [["scenario", "validate"], ["chaos", "run", "--dry-run"]], ids=["validate", "dry"]
)
def test_the_opt_in_lets_it_through(tmp_path: Path, lab_binaries: None, command: list[str]) -> None:
    path = write(tmp_path, "http://192.0.2.10:9000")
    result = CliRunner().invoke(app, [*command, path, "--allow-external"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9000", "http://localhost:9000"])
def test_loopback_servers_need_no_opt_in(tmp_path: Path, lab_binaries: None, endpoint: str) -> None:
    result = CliRunner().invoke(app, ["scenario", "validate", write(tmp_path, endpoint)])
    assert result.exit_code == 0, result.output


def test_endpoint_env_unset_is_an_environment_problem_exit_3(
    tmp_path: Path, lab_binaries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    result = CliRunner().invoke(app, ["scenario", "validate", write(tmp_path, "env")])
    assert result.exit_code == 3, result.output
    assert "neither AWS_ENDPOINT_URL_S3 nor AWS_ENDPOINT_URL is set" in result.output
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://192.0.2.10:7480")
    refused = CliRunner().invoke(app, ["scenario", "validate", write(tmp_path, "env")])
    assert refused.exit_code == EXIT_INVALID_INPUT, refused.output
    assert "(http://192.0.2.10:7480)" in refused.output


def test_the_lab_itself_refuses_without_the_opt_in(lab_binaries: None, tmp_path: Path) -> None:
    """Whatever the caller, LocalLab checks before it starts anything."""
    services = parse_scenario(scenario_text("https://192.0.2.10"), "ext.yaml").lab.services
    lab = LocalLab(tmp_path / "lab", dict(services))
    with pytest.raises(InvalidInput, match="--allow-external"):
        lab.up()
    assert lab.toxiproxy_proc is None and not lab.processes
    assert external_endpoints(dict(services), allow_external=True)["store"].port == 443


def test_lab_specs_without_external_services_resolve_nothing() -> None:
    services = LabSpec().services
    assert external_endpoints(dict(services), allow_external=False) == {}
