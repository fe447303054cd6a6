"""What every ``harness`` subcommand module shares: errors become messages and exit codes."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

from harness.errors import EXIT_INVALID_INPUT, HarnessError, ScenarioError

F = TypeVar("F", bound=Callable[..., Any])


def err(message: str) -> None:
    typer.echo(message, err=True)


def positive_duration(option: str, text: str) -> float:
    """``text`` as seconds above zero; ``InvalidInput`` naming ``option`` otherwise."""
    from harness.errors import InvalidInput
    from harness.units import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(f"{option}: {exc}") from None
    if value <= 0:
        raise InvalidInput(f"{option}: expected a duration above zero, e.g. 30s")
    return value


def reports_errors(func: F) -> F:
    """Turn ``HarnessError`` into a message and its exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ScenarioError as exc:
            err(f"error: invalid scenario {exc.path}:")
            for problem in exc.problems:
                err(f"  {problem}")
            raise typer.Exit(EXIT_INVALID_INPUT) from None
        except HarnessError as exc:
            err(f"error: {exc}")
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]
