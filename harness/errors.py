"""The harness's exception tree and the exit code each branch maps to.

::

    HarnessError                      (exit 3 unless a subclass says otherwise)
    ├── InvalidInput                  exit 2: the user asked for something malformed
    │   └── ScenarioError             a scenario file failed to parse or validate
    ├── EnvironmentProblem            exit 3: the machine or the lab is not as needed
    │   ├── LabError                  a lab service did not start or become ready
    │   └── ToxiproxyError            the Toxiproxy API failed or timed out
    ├── FaultError                    exit 3: applying or reverting a fault failed
    └── Interrupted                   exit 130: SIGINT/SIGTERM, after heal and teardown

``InvalidInput`` means "the experiment is invalid" and is raised before anything
starts; ``FaultError`` means "the action failed" while a run was in progress.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_VERDICT_FAILED = 1
EXIT_INVALID_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    exit_code = EXIT_ENVIRONMENT


class InvalidInput(HarnessError):
    """Bad input from the user (flags, scenario values)."""

    exit_code = EXIT_INVALID_INPUT


class ScenarioError(InvalidInput):
    """A scenario file is malformed; ``problems`` holds one line per finding."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))


class EnvironmentProblem(HarnessError):
    """Something outside the scenario is missing or broken."""

    exit_code = EXIT_ENVIRONMENT


class LabError(EnvironmentProblem):
    """A lab service failed to start, become ready or stop."""


class ToxiproxyError(EnvironmentProblem):
    """A Toxiproxy API call failed or did not answer within its timeout."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class FaultError(HarnessError):
    """Applying or reverting a fault failed."""

    exit_code = EXIT_ENVIRONMENT


class Interrupted(HarnessError):
    """The run was interrupted by a signal; faults were reverted and the lab torn down."""

    exit_code = EXIT_INTERRUPTED
