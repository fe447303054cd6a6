"""Messaging workloads split their users into senders and receivers: one place binds the
two Locust classes to a target."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from locust import User, constant


def senders_and_receivers(
    sender: type[User],
    receiver: type[User],
    names: tuple[str, str],
    sender_share: float,
    wait_s: float,
    init: Callable[[Any, str], None],
    roles: tuple[str, str] = ("p", "s"),
) -> list[type[User]]:
    """Concrete subclasses of ``sender`` and ``receiver`` named ``names``, weighted by
    the senders' share of the users. Senders pause ``wait_s`` between tasks, receivers
    not at all; each new user is handed to ``init(user, role)`` with its role letter."""

    def bound(base: type[User], name: str, share: float, wait: float, role: str) -> type[User]:
        def __init__(self: User, environment: Any) -> None:
            base.__init__(self, environment)
            init(self, role)

        attrs = {
            "abstract": False,
            "weight": max(1, round(share * 100)),
            "wait_time": constant(wait),
            "__init__": __init__,
        }
        return type(name, (base,), attrs)

    return [
        bound(sender, names[0], sender_share, wait_s, roles[0]),
        bound(receiver, names[1], 1 - sender_share, 0, roles[1]),
    ]
