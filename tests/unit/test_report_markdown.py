"""summary.md: the verdict first, the failures visible, tables GitHub can render."""

from __future__ import annotations

from report_runs import result

from harness.report.markdown import render_markdown


def test_the_verdict_line_and_each_failure_show() -> None:
    md = render_markdown(result())
    lines = md.splitlines()
    assert lines[0] == "### ❌ synthetic: **FAIL**"
    assert "| stall | process.pause | redis | 6s | 7s | 0.2 | never (censored) | FAIL |" in lines
    assert "| partition | network.down | redis | 2s | 4s | 0 | 0.5s | PASS |" in lines
    assert any(line.startswith("| integrity | FAIL | acked 600, lost 3") for line in lines)
    assert "| p99_ms | warning 10, critical 30 | 40 | CRITICAL |" in lines


def test_user_data_cannot_break_a_table_row() -> None:
    md = render_markdown(result())
    row = next(line for line in md.splitlines() if line.startswith("| integrity | FAIL"))
    # The example key's pipe is escaped, so the row keeps its four cells.
    assert "alert(1)</script>\\|k" in row
    assert len(row.replace("\\|", "").split("|")) == 6


def test_errors_are_listed_for_a_run_with_status_error() -> None:
    md = render_markdown(result(status="error", errors=["the final read failed: boom"]))
    assert md.startswith("### ⚠️ synthetic: **ERROR**")
    assert "- the final read failed: boom" in md.splitlines()
