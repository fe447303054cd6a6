"""A user stopped in the middle of an operation still records it.

Locust stops a user by killing its greenlet. A kill meant for the pause between two
tasks can land after the next request was sent (the sleep's wake-up and the kill are
both queued on the event loop), so the operation in flight would vanish from the
history while the server may well have done it: an acknowledged-looking key or message
the history never attempted. Users catch the exit around their I/O, record the
operation as indeterminate, then let the exit go on.
"""

from __future__ import annotations

import gevent


class StoppedMidOperation(Exception):
    """The load stopped while an operation was in flight: its outcome is unknown."""

    def __init__(self) -> None:
        super().__init__("the load stopped during the operation")


class RecordsBeforeStopping:
    """Mixin for Locust users: ``interrupted`` in the I/O's ``except GreenletExit``,
    ``raise_if_stopped`` once the operation is recorded."""

    stopped: BaseException | None = None

    def interrupted(self, exc: gevent.GreenletExit) -> StoppedMidOperation:
        self.stopped = exc
        return StoppedMidOperation()

    def raise_if_stopped(self) -> None:
        """Let a stop that arrived during an operation go on, once it is recorded."""
        if self.stopped is not None:
            raise self.stopped
