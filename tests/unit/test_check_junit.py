"""scripts/check_junit.py, the CI check of a run's junit.xml, on small fixture reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_junit.py"

PASSING = """\
<testsuites>
  <testsuite name="ci-resilience" tests="3" failures="0" errors="0">
    <testcase classname="slo" name="time_to_recover_s[partition] &lt;= 5"/>
    <testcase classname="checks" name="integrity"/>
    <testcase classname="recovery" name="partition"/>
  </testsuite>
</testsuites>
"""

FAILING = """\
<testsuites>
  <testsuite name="ci-resilience" tests="2" failures="1" errors="0">
    <testcase classname="slo" name="time_to_recover_s[partition] &lt;= 5">
      <failure message="observed 7.2 s, limit 5 s"/>
    </testcase>
    <testcase classname="checks" name="integrity"/>
  </testsuite>
</testsuites>
"""


def check(tmp_path: Path, text: str | None) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "junit.xml"
    if text is not None:
        path.write_text(text)
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=30
    )


def test_a_report_where_every_case_passed_passes(tmp_path: Path):
    proc = check(tmp_path, PASSING)
    assert proc.returncode == 0, proc.stderr
    assert "3 test cases, none failed" in proc.stdout


def test_a_failed_case_fails_with_its_name_and_message(tmp_path: Path):
    proc = check(tmp_path, FAILING)
    assert proc.returncode == 1
    assert "failure: slo.time_to_recover_s[partition] <= 5: observed 7.2 s, limit 5 s" in (
        proc.stderr
    )


def test_an_error_element_fails_too(tmp_path: Path):
    proc = check(
        tmp_path,
        PASSING.replace(
            'name="integrity"/>', 'name="integrity"><error message="lab down"/></testcase>'
        ),
    )
    assert proc.returncode == 1
    assert "error: checks.integrity: lab down" in proc.stderr


def test_failures_counted_but_not_named_still_fail(tmp_path: Path):
    proc = check(tmp_path, PASSING.replace('failures="0"', 'failures="2"'))
    assert proc.returncode == 1
    assert "2 failures" in proc.stderr


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (None, "no such file"),
        ("<testsuites><testsuite", "not readable XML"),
        ("<html/>", "expected <testsuites> or <testsuite>"),
        ('<testsuites><testsuite name="s" tests="0"/></testsuites>', "no <testcase>"),
    ],
)
def test_a_missing_broken_or_empty_report_is_exit_2(tmp_path: Path, text: str | None, said: str):
    proc = check(tmp_path, text)
    assert proc.returncode == 2
    assert said in proc.stderr
