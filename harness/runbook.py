"""Game-day runbooks (``runbooks/*.md``): the scenario they name and their commands.

A runbook is Markdown with a front matter block naming its scenario::

    ---
    scenario: scenarios/redis-crash.yaml
    ---

A relative path is looked up next to the runbook, then in the directory above it (the
repository root for ``runbooks/``). Its steps are shell commands in ```` ```sh ````
blocks; ``commands`` returns them with their lines, so a test can run every one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.errors import InvalidInput

FENCE = "```"


@dataclass(frozen=True)
class Command:
    line: int  # of the command's first line in the runbook
    text: str  # continuation lines joined


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the file ({exc.strerror})") from None


def scenario_of(path: Path) -> Path:
    """The scenario file a runbook names; ``InvalidInput`` naming the line otherwise."""
    lines = read_text(path).splitlines()
    if not lines or lines[0].strip() != "---":
        raise InvalidInput(
            f"{path}:1: a runbook starts with a front matter block naming its scenario "
            "(---, scenario: scenarios/NAME.yaml, ---)"
        )
    end = next((i for i, text in enumerate(lines[1:], 1) if text.strip() == "---"), None)
    if end is None:
        raise InvalidInput(f"{path}:1: the front matter block is not closed by a --- line")
    try:
        front = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}:2: front matter is not YAML: {exc}") from None
    where = next((i + 1 for i in range(1, end) if lines[i].startswith("scenario:")), 1)
    value = front.get("scenario") if isinstance(front, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            f"{path}:{where}: scenario: expected the path of a scenario YAML file, got {value!r}"
        )
    candidates = (
        [Path(value)]
        if Path(value).is_absolute()
        else [
            path.parent / value,
            path.parent.parent / value,
        ]
    )
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise InvalidInput(
            f"{path}:{where}: scenario: no file {value} next to the runbook or above it"
        )
    return found


def commands(text: str) -> list[Command]:
    """Every command of the runbook's ``sh`` blocks: comments and blank lines left out,
    lines ending in a backslash joined to the next."""
    out: list[Command] = []
    in_block = False
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith(FENCE):
            in_block = not in_block and stripped[len(FENCE) :].strip() in ("sh", "bash", "shell")
            continue
        if not in_block or (not pending and (not stripped or stripped.startswith("#"))):
            continue
        if not pending:
            start = number
        pending.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            out.append(Command(start, " ".join(pending)))
            pending = []
    return out
