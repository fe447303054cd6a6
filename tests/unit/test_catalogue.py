"""``harness fault kinds``: every registered kind with its parameters."""

from __future__ import annotations

from typer.testing import CliRunner

from faults.base import kinds
from harness.cli import app

NETWORK = [
    "network.latency",
    "network.bandwidth",
    "network.slow_close",
    "network.blackhole",
    "network.timeout",
    "network.reset_peer",
    "network.slicer",
    "network.limit_data",
    "network.down",
    "network.flap",
]

PROCESS = ["process.kill", "process.stop", "process.restart", "process.pause"]


def test_every_network_toxic_of_toxiproxy_has_a_kind():
    assert set(NETWORK) <= set(kinds())


def test_every_process_fault_has_a_kind():
    assert set(PROCESS) <= set(kinds())


def test_fault_kinds_lists_every_kind_with_its_parameters_and_defaults():
    result = CliRunner().invoke(app, ["fault", "kinds"])
    assert result.exit_code == 0
    for name, kind in kinds().items():
        assert f"\n{name}\n" in f"\n{result.output}"
        for param, field in kind.params_model.model_fields.items():
            assert f"{param}" in result.output and repr(field.default) in result.output
    assert "rate_kb_s  int, default 100: throughput cap, KB/s" in result.output
    assert "restart_after  duration | None, default None: start the service" in result.output


def test_fault_kinds_of_one_kind_and_of_an_unknown_one():
    one = CliRunner().invoke(app, ["fault", "kinds", "network.timeout"])
    assert one.exit_code == 0 and one.output.startswith("network.timeout\n")
    assert "network.latency" not in one.output
    unknown = CliRunner().invoke(app, ["fault", "kinds", "network.nope"])
    assert unknown.exit_code == 2 and "unknown fault kind 'network.nope'" in unknown.output
