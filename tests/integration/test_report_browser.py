"""The reports of a real run (real redis-server and Toxiproxy, one fault that recovers and
one reverted too late to recover before the end): junit.xml read by a JUnit parser,
report.html opened in headless Chromium, and the reports rendered again from the stored
run directory by `harness report show`."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import zlib
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import junitparser
import pytest

from harness.heal import heal
from harness.journal import Journal
from harness.labctl import lab_down

from .support import REPO, harness, start_run, wait_applied, write_scenario

pytestmark = pytest.mark.services

FILES = ("report.html", "junit.xml", "summary.md")

# `late` is reverted 0.5 s before the end, less than healthy_for: it cannot recover.
# `partition` has 2 s to recover in; slow windows are judged above baseline p95 + 25 ms
# so that a busy machine's latency is not taken for the fault's.
SCENARIO = """\
name: report-demo
duration: 7s
load:
  workload: redis.kv
  target: redis
  users: 4
  spawn_rate: 100
  params: {wait: 2ms}
timeline:
  - {id: partition, at: 2s, for: 1s, fault: network.down, target: redis}
  - {id: late, at: 5.5s, for: 1s, fault: network.down, target: redis}
recovery:
  p95_floor_ms: 25
checks:
  integrity: {}
slo:
  time_to_recover_s_max: 2
  integrity: pass
"""


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One real run for every test here; its lab and faults are undone afterwards."""
    base = tmp_path_factory.mktemp("report")
    env = dict(os.environ)
    env["HARNESS_STATE_DIR"] = str(base / "state")
    env.setdefault("HARNESS_TOXIPROXY_BIN", str(REPO / ".bin" / "server"))
    scenario = write_scenario(base / "report-demo.yaml", SCENARIO)
    out = base / "run"
    try:
        proc = harness(["chaos", "run", str(scenario), "--out", str(out)], env)
        # The late fault never recovers, so its recovery budget fails the run: exit 1.
        assert proc.returncode == 1, proc.stdout + proc.stderr
        yield out
    finally:
        journal = Journal(base / "state" / "journal.jsonl")
        if journal.path.exists():
            lab_down(journal)
            heal(journal, include_live=True)


def test_a_run_writes_the_reports_and_junit_names_each_budget_and_checker(
    stored_run: Path,
) -> None:
    for name in FILES:
        assert (stored_run / name).stat().st_size > 200, name
    xml = junitparser.JUnitXml.fromfile(str(stored_run / "junit.xml"))
    suites = list(xml)
    assert [s.name for s in suites] == ["report-demo"]
    cases = {(c.classname, c.name): c for c in suites[0]}
    assert set(cases) == {
        ("slo", "integrity"),
        ("recovery", "partition"),
        ("recovery", "late"),
        ("checks", "integrity"),
    }
    assert cases[("recovery", "partition")].is_passed
    assert cases[("checks", "integrity")].is_passed
    late = cases[("recovery", "late")]
    assert not late.is_passed
    assert "never recovered (censored); budget 2s" in late.result[0].message
    summary = (stored_run / "summary.md").read_text()
    assert summary.startswith("### ❌ report-demo: **FAIL**")
    assert "| late | network.down | redis |" in summary and "never (censored)" in summary


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[tuple[str, str]] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        self.tags[(tag, attr.get("class") or attr.get("data-table") or "")] += 1


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: run `make setup` (Debian: apt-get install chromium)"
    return found


def _browser(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    # A profile of its own: parallel browsers must not share one; nothing leaves loopback.
    command = [_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars"]
    command += [f"--user-data-dir={tmp / 'profile'}", "--no-first-run", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=tmp)


def _pixels(png: bytes) -> Counter[tuple[int, int, int]]:
    """The colours of an 8-bit RGB or RGBA PNG (what Chromium writes), decoded with zlib."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", data[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw, stride, prev = zlib.decompress(idat), width * channels, bytearray(width * channels)
    counts: Counter[tuple[int, int, int]] = Counter()
    for y in range(height):
        start = y * (stride + 1)
        kind, row = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = row[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + a) & 255
            elif kind == 2:
                row[i] = (row[i] + b) & 255
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        counts.update(zip(row[0::channels], row[1::channels], row[2::channels], strict=True))
        prev = row
    return counts


def _near(counts: Counter[tuple[int, int, int]], rgb: tuple[int, int, int], tol: int = 6) -> int:
    return sum(
        n
        for px, n in counts.items()
        if all(abs(p - q) <= tol for p, q in zip(px, rgb, strict=True))
    )


def test_report_html_renders_its_charts_and_tables_in_headless_chromium(
    stored_run: Path, tmp_path: Path
) -> None:
    html = (stored_run / "report.html").read_text()
    for external in ("<script", "<link", "src=", "href=", "url(", "@import"):
        assert external not in html, external
    url = (stored_run / "report.html").as_uri()
    dom = _browser(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr
    parsed = _Dom()
    parsed.feed(dom.stdout)
    assert parsed.tags[("svg", "chart")] == 4  # throughput, error rate, latency, users
    assert parsed.tags[("polyline", "series")] >= 6 and parsed.tags[("rect", "fault")] == 8
    assert parsed.tags[("rect", "censored")] == 4 and parsed.tags[("line", "recovered")] == 4
    for name in ("run", "workload", "operations", "faults", "check-integrity", "slo"):
        assert parsed.tags[("table", name)] == 1, name

    shot = tmp_path / "report.png"
    taken = _browser(["--window-size=1040,1200", f"--screenshot={shot}", url], tmp_path)
    assert taken.returncode == 0 and shot.exists(), taken.stderr
    colours = _pixels(shot.read_bytes())
    assert len(colours) > 50, "the screenshot is (almost) one colour: a blank page"
    assert _near(colours, (31, 111, 235)) > 100  # the acknowledged ops/s line
    assert _near(colours, (253, 239, 212)) > 2000  # fault windows shaded
    assert _near(colours, (26, 127, 55)) > 100  # recovery marks and the p50 line


def test_report_show_renders_the_same_reports_from_the_stored_run(
    stored_run: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "stored"
    shutil.copytree(stored_run, copy, ignore=shutil.ignore_patterns("lab"))
    for name in FILES:
        (copy / name).unlink()
    proc = harness(["report", "show", str(copy)], dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert "scenario report-demo: FAIL" in proc.stdout
    for name in FILES:
        assert (copy / name).read_text() == (stored_run / name).read_text(), name


def test_an_interrupted_run_gets_reports_with_an_error_case(
    tmp_path: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    out = tmp_path / "run"
    proc = start_run(write_scenario(tmp_path / "report-demo.yaml", SCENARIO), out, harness_env)
    wait_applied(out)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "warning" not in stderr
    (suite,) = junitparser.JUnitXml.fromfile(str(out / "junit.xml"))
    errors = [c for c in suite if c.classname == "run"]
    assert [c.result[0].message for c in errors] == ["interrupted by SIGTERM"]
    assert '<span class="badge v-error">ERROR</span>' in (out / "report.html").read_text()
    assert (out / "summary.md").read_text().startswith("### ⚠️ report-demo: **ERROR**")
