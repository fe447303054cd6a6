"""A throughput sweep on a real Redis behind the real Toxiproxy finds the elbow where a
latency toxic starts: from the second step on every answer takes 150 ms more, so the
asked rate is out of reach of the users and their p95 crosses the warning band."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import write_scenario
from .test_profiles import run, users_between

pytestmark = pytest.mark.services

ELBOW = """\
name: elbow
load:
  workload: redis.kv
  users: 8
  profile: {shape: throughput, rates: [100, 200, 400], step_duration: 3s, cooldown: 1s}
thresholds:
  p95_ms: {warning: 100}
timeline:
  # 8 users at 150 ms a reply manage about 53 operations a second: far below 200.
  - {at: 3500ms, for: 7500ms, fault: network.latency, params: {latency_ms: 150}}
"""


def test_throughput_sweep_finds_the_elbow_where_latency_starts(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    result, series = run(tmp_path, harness_env, write_scenario(tmp_path / "e.yaml", ELBOW))
    sweep = result["throughput"]
    first, second, _ = sweep["steps"]
    assert [s["rate"] for s in sweep["steps"]] == [100, 200, 400]
    assert first["crossed"] == [] and first["throughput_ops_s"] >= 0.9 * 100, first
    assert "p95_ms" in second["crossed"] and second["p95_ms"] >= 150, second
    assert "achieved rate below 90%" in second["crossed"], second
    assert (sweep["elbow_rate"], sweep["max_good_rate"]) == (200, 100)
    assert users_between(series, 1.0, 10.9) == {8}  # the users ran all along
