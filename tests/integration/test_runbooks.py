"""Every command of every runbook, run: the lab's lifecycle and what only reads it for
real, on a real lab; what would break things (`chaos run`, `fault apply`, `gameday`)
with `--dry-run`, which checks it against that lab. A command of any other shape fails
the test, so no step is skipped unnoticed."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness.runbook import commands

from .support import REPO, harness

pytestmark = pytest.mark.services

RUNBOOKS = sorted(p for p in (REPO / "runbooks").glob("*.md") if p.name != "README.md")
RUN = {("scenario", "validate"), ("lab", "up"), ("lab", "status"), ("lab", "down")}
RUN |= {("fault", "list"), ("fault", "revert"), ("heal",)}
DRY_RUN = {("chaos", "run"), ("fault", "apply"), ("gameday",)}


def how(words: list[str]) -> str:
    """'run' or 'dry-run' for a `harness` command; the test fails on anything else."""
    for shape in (tuple(words[1:3]), tuple(words[1:2])):
        if shape in RUN:
            return "run"
        if shape in DRY_RUN:
            return "dry-run"
    pytest.fail(f"no way to check {' '.join(words)!r}: add it to RUN or DRY_RUN")


@pytest.mark.parametrize("book", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_every_command_of_the_runbook_works(
    book: Path, harness_env: dict[str, str], no_leftovers: None
) -> None:
    steps = commands(book.read_text())
    assert any(c.text.startswith("harness lab up") for c in steps)
    assert any(c.text.startswith("harness fault apply") for c in steps)
    assert steps[-1].text == "harness lab down"
    for step in steps:
        words = shlex.split(step.text)
        assert words[0] == "harness", f"{book.name}:{step.line}: not a harness command"
        args = words[1:] + (["--dry-run"] if how(words) == "dry-run" else [])
        done = harness(args, harness_env, timeout_s=120)
        assert done.returncode == 0, (
            f"{book.name}:{step.line}: {step.text}\n{done.stdout}\n{done.stderr}"
        )
