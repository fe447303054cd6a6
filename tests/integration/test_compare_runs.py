"""Regressions between real runs: the same short scenario run three times on the local
lab, the third with a latency toxic planted. `--compare-last` and `report compare` pass
the identical run and flag the slowed one (exit 1, naming the metric)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .support import harness, write_scenario

pytestmark = pytest.mark.services

SCENARIO = """\
name: compare-me
seed: 3
duration: 3s
load:
  workload: redis.kv
  users: 4
  spawn_rate: 50
  params: {wait: 5ms}
checks:
  integrity: {}
regressions:                 # a busy 2-core machine: wide margins for noise
  throughput_ratio: 0.5
  p95_floor_ms: 20
"""

# Every reply 100 ms late for most of the run: p95 and throughput both far out of bounds.
PLANTED = """\
timeline:
  - id: slow
    at: 0.3s
    for: 2.5s
    fault: network.latency
    params: {latency_ms: 100}
"""


def run(scenario: Path, out: Path, env: dict[str, str]) -> tuple[int, str, dict[str, object]]:
    proc = harness(
        ["chaos", "run", str(scenario), "--out", str(out), "--ci", "--compare-last"], env
    )
    result = json.loads((out / "result.json").read_text())
    return proc.returncode, proc.stdout + proc.stderr, result


def test_compare_passes_an_identical_run_and_flags_a_planted_regression(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    scenario = write_scenario(tmp_path / "compare-me.yaml", SCENARIO)

    code, output, first = run(scenario, tmp_path / "a", harness_env)
    assert code == 0, output
    assert "no earlier run of compare-me" in output
    assert "comparison" not in first
    assert "junit.xml: " in output and "FAILED" not in output  # the --ci summary

    code, output, second = run(scenario, tmp_path / "b", harness_env)
    assert code == 0, output
    assert second["comparison"]["verdict"] == "pass", second["comparison"]
    assert second["comparison"]["baseline"]["run_dir"] == str((tmp_path / "a").resolve())

    # The same file, now slowed down: still the same scenario for --compare-last.
    write_scenario(scenario, SCENARIO + PLANTED)
    code, output, third = run(scenario, tmp_path / "c", harness_env)
    assert third["status"] == "pass"  # no SLO of its own failed...
    assert code == 1, output  # ...the regression alone fails it
    comparison = third["comparison"]
    assert comparison["baseline"]["run_dir"] == str((tmp_path / "b").resolve())
    assert "p95_ms" in comparison["regressions"], comparison
    assert "REGRESSION" in output and "p95_ms" in output
    # The reports are written again with the comparison: CI sees the regression too.
    junit = ET.parse(tmp_path / "c" / "junit.xml").getroot()
    failed = {
        c.get("name")
        for c in junit.iter("testcase")
        if c.get("classname") == "regression" and c.find("failure") is not None
    }
    assert "p95_ms" in failed, ET.tostring(junit, encoding="unicode")
    assert "REGRESSION" in (tmp_path / "c" / "summary.md").read_text()

    same = harness(["report", "compare", str(tmp_path / "a"), str(tmp_path / "b")], harness_env)
    assert same.returncode == 0, same.stdout + same.stderr
    worse = harness(["report", "compare", str(tmp_path / "a"), str(tmp_path / "c")], harness_env)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "REGRESSION: " in worse.stdout and "p95_ms" in worse.stdout

    listing = harness(["report", "list", "--scenario", "compare-me"], harness_env)
    assert listing.returncode == 0
    assert [str(tmp_path / n) in listing.stdout for n in "abc"] == [True] * 3
