"""report.html from a stored run directory: charts with fault windows and recovery marks,
the failure shown where it happened, user data escaped, nothing fetched from a network."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from report_runs import HOSTILE_KEY, result, write_run

from harness.report import load_run_data, write_reports
from harness.report.charts import downsample, nice_step
from harness.report.html import render_html
from harness.report.rundata import Window, read_timeseries


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, tag: str, attr: str) -> list[str | None]:
        return [a.get(attr) for t, a in self.tags if t == tag and attr in a]


def _page(tmp_path: Path) -> tuple[str, _Tags]:
    run = write_run(tmp_path / "run")
    write_reports(run, result())
    html = (run / "report.html").read_text()
    tags = _Tags()
    tags.feed(html)
    return html, tags


def test_charts_shade_each_fault_and_mark_recovery_or_censoring(tmp_path: Path) -> None:
    _, tags = _page(tmp_path)
    assert tags.having("svg", "data-chart") == ["throughput", "error_rate", "latency", "users"]
    classes = [a.get("class") for t, a in tags.tags if t == "rect"]
    assert classes.count("fault") == 2 * 4  # both faults on every chart
    assert classes.count("censored") == 4  # stall never recovered
    assert [a.get("class") for t, a in tags.tags if t == "line"].count("recovered") == 4
    text = "".join(tags.text)
    assert "partition (network.down)" in text and "stall (process.pause)" in text
    assert "stall: not recovered" in text and "partition recovered +0.50s" in text
    assert len(tags.having("polyline", "points")) >= 6


def test_the_failure_shows_in_tables_and_badges(tmp_path: Path) -> None:
    html, tags = _page(tmp_path)
    tables = tags.having("table", "data-table")
    for name in ("run", "workload", "operations", "faults", "check-integrity", "slo"):
        assert name in tables
    assert {"examples-integrity", "thresholds", "operator_notes"} <= set(tables)
    assert '<span class="badge v-fail">FAIL</span></h1>' in html
    row = re.search(r"<tr><td>stall</td>.*?</tr>", html)
    assert row and "never (censored)" in row[0] and '<td class="v-fail">fail</td>' in row[0]
    assert "<td>lost</td><td>run/k1, run/k2, " in html
    assert '<td class="v-critical">critical</td>' in html


def test_user_data_is_escaped_and_nothing_is_fetched(tmp_path: Path) -> None:
    html, tags = _page(tmp_path)
    assert HOSTILE_KEY not in html and "&lt;script&gt;alert(1)&lt;/script&gt;|k" in html
    assert "paged &lt;b&gt;ops&lt;/b&gt; &amp; waited" in html
    assert "a &lt;pre&gt; &amp; more" in html  # the scenario as run
    assert not [t for t, _ in tags.tags if t in ("script", "link", "img", "iframe")]
    assert not re.search(r"(src|href)\s*=|url\(|@import", html)


def test_a_run_directory_without_series_or_scenario_still_renders(tmp_path: Path) -> None:
    run = tmp_path / "bare"
    run.mkdir()
    html = render_html(load_run_data(run, result(operator_notes=None)))
    assert "no timeseries.csv in the run directory" in html
    assert "no scenario.json in the run directory" in html
    assert "Operator notes" not in html


def test_downsampling_keeps_a_latency_spike_and_the_error_rate(tmp_path: Path) -> None:
    windows = read_timeseries(write_run(tmp_path / "run") / "timeseries.csv")
    assert len(windows) == 100
    spike = [Window(i / 10, 10, 0, 0, 100.0, 0.0, 1.0, 2.0, 3.0, 4) for i in range(3000)]
    spike[1234] = Window(123.4, 5, 5, 0, 100.0, 0.5, 1.0, 2.0, 750.0, 4)
    merged = downsample(spike, 900)
    assert len(merged) <= 900
    assert max(w.p99_ms or 0 for w in merged) == 750.0
    worst = max(merged, key=lambda w: w.error_rate)
    assert worst.fail == 5 and 0 < worst.error_rate < 0.5
    assert [nice_step(s) for s in (10, 45, 3600, 0.7)] == [2, 10, 1000, 0.2]
