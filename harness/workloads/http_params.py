"""Typed parameters of the HTTP workloads, and the request templates of ``http.users``
(importable without locust).

A template is text with ``{{generator}}`` placeholders, checked when the scenario is
loaded and filled per request:

* ``{{seq}}``: the user's request count (1, 2, ...);
* ``{{uuid}}``: a random UUID;
* ``{{random_int(A,B)}}``: an integer in [A, B];
* ``{{random_string(N)}}``: N random letters and digits;
* ``{{user_class}}``: the user's class name; ``{{user}}``: the user's id.
"""

from __future__ import annotations

import json
import random
import re
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.units import Duration


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- templates -------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*(?:\(([^)]*)\))?\s*\}\}")
_ALNUM = string.ascii_letters + string.digits
GENERATORS = ("seq", "uuid", "random_int(A,B)", "random_string(N)", "user_class", "user")


@dataclass
class RequestContext:
    """What a template's generators draw on: one per user."""

    rng: random.Random
    user_class: str
    user: str
    seq: int = 0


Part = Callable[[RequestContext], str]


def _generator(name: str, args: str | None) -> Part:
    """The function for one placeholder, or ``ValueError`` saying what is wrong."""
    numbers = _int_args(name, args)
    if name in ("seq", "uuid", "user_class", "user"):
        if args is not None:
            raise ValueError(f"{{{{{name}}}}} takes no arguments")
        return {
            "seq": lambda c: str(c.seq),
            "uuid": lambda c: str(uuid.UUID(int=c.rng.getrandbits(128), version=4)),
            "user_class": lambda c: c.user_class,
            "user": lambda c: c.user,
        }[name]
    if name == "random_int":
        if len(numbers) != 2 or numbers[0] > numbers[1]:
            raise ValueError("random_int takes two integers A <= B: {{random_int(1,100)}}")
        low, high = numbers
        return lambda c: str(c.rng.randint(low, high))
    if name == "random_string":
        if len(numbers) != 1 or not 1 <= numbers[0] <= 1 << 20:
            raise ValueError("random_string takes a length 1..1048576: {{random_string(16)}}")
        (size,) = numbers
        return lambda c: "".join(c.rng.choices(_ALNUM, k=size))
    raise ValueError(f"unknown generator '{name}' (known: {', '.join(GENERATORS)})")


def _int_args(name: str, args: str | None) -> list[int]:
    if not args:
        return []
    try:
        return [int(a) for a in args.split(",")]
    except ValueError:
        raise ValueError(f"{name}: arguments must be integers, got ({args})") from None


def compile_template(text: str) -> Callable[[RequestContext], str]:
    """A function that fills ``text``'s placeholders; ``ValueError`` for a bad one."""
    parts: list[str | Part] = []
    last = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(text[last : match.start()])
        parts.append(_generator(match.group(1), match.group(2)))
        last = match.end()
    parts.append(text[last:])
    if "{{" in "".join(p for p in parts if isinstance(p, str)):
        raise ValueError("a '{{' that is not a placeholder {{name}} or {{name(args)}}")
    if len(parts) == 1:
        fixed = text
        return lambda _: fixed
    return lambda c: "".join(p if isinstance(p, str) else p(c) for p in parts)


# -- http.users ------------------------------------------------------------------------

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
# Reads: a timeout or reset after sending one is a failed read (``fail``); any other
# request may have taken effect, so the same is indeterminate (``info``).
READ_METHODS = frozenset({"GET", "HEAD"})
Status = Annotated[int, Field(ge=100, le=599)]
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,40}$"


class WaitTime(_Params):
    """Exactly one of: ``constant`` (a pause), ``between`` ([low, high], uniform) or
    ``constant_throughput`` (tasks per second per user, as Locust paces it)."""

    constant: Duration | None = Field(None, ge=0, le=3600)
    between: tuple[Duration, Duration] | None = None
    constant_throughput: float | None = Field(None, gt=0, le=10_000)

    @model_validator(mode="after")
    def _one(self) -> WaitTime:
        given = [k for k, v in self.model_dump().items() if v is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of constant, between, constant_throughput "
                f"(e.g. {{constant: 1s}}), got {', '.join(given) or 'none'}"
            )
        if self.between is not None and not 0 <= self.between[0] <= self.between[1] <= 3600:
            raise ValueError(
                f"between: expected [low, high] with 0 <= low <= high, got {list(self.between)}"
            )
        return self


class HttpTask(_Params):
    """One request a user class makes, picked by weight among the class's tasks."""

    name: str | None = Field(None, pattern=NAME_PATTERN, description="default: METHOD path")
    method: Method = "GET"
    path: str = Field(description="starts with /; may hold {{generators}}")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | dict[str, Any] | list[Any] | None = Field(
        None, description="text, or a mapping/list sent as JSON; may hold {{generators}}"
    )
    expect: Status | list[Status] = Field(200, description="the status (or statuses) that is ok")
    weight: float = Field(1.0, gt=0, le=1_000_000)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in " \r\n#"):
            raise ValueError(f"expected a path starting with / (no spaces), got {value!r}")
        compile_template(value)
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not re.fullmatch(r"[A-Za-z0-9-]{1,100}", key) or "\n" in text or "\r" in text:
                raise ValueError(f"header {key!r}: expected a token name and a one-line value")
            compile_template(text)
        return value

    @model_validator(mode="after")
    def _body(self) -> HttpTask:
        if self.body is not None:
            compile_template(self.body_text() or "")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.method} {self.path}"

    @property
    def expected(self) -> frozenset[int]:
        return frozenset(self.expect if isinstance(self.expect, list) else [self.expect])

    def body_text(self) -> str | None:
        if self.body is None or isinstance(self.body, str):
            return self.body
        return json.dumps(self.body, separators=(",", ":"))


class UserClassSpec(_Params):
    """A kind of user: its share of the users, its pace and its tasks."""

    weight: int = Field(description="relative share of the users (Locust's weight)", ge=1)
    wait_time: WaitTime = Field(default_factory=lambda: WaitTime(constant=1.0))
    tasks: list[HttpTask] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> UserClassSpec:
        labels = [t.label for t in self.tasks]
        twice = sorted({n for n in labels if labels.count(n) > 1})
        if twice:
            raise ValueError(f"tasks need distinct names (give name:), repeated: {twice}")
        return self


class _HttpParams(_Params):
    op_timeout: Duration = Field(5.0, gt=0, le=600, description="socket timeout of a request")
    connect_timeout: Duration = Field(1.0, gt=0, le=60, description="TCP connect timeout")
    reconnect_backoff: Duration = Field(
        0.05, ge=0, le=10, description="pause after a request that could not connect"
    )
    record: bool = Field(True, description="write the history (off only for benchmarks)")


class HttpUsersParams(_HttpParams):
    """``http.users``: user classes with weights, each with weighted request tasks."""

    classes: dict[Annotated[str, Field(pattern=NAME_PATTERN)], UserClassSpec] = Field(min_length=1)


class HttpMessagesParams(_HttpParams):
    """``http.messages``: producers POST numbered messages to the app; subscribers hold
    ``GET /events`` and resume with ``Last-Event-ID`` after every disconnect."""

    producer_share: float = Field(0.5, gt=0, lt=1, description="share of users that produce")
    message_size_bytes: int = Field(128, ge=16, le=1 << 20, description="payload bytes")
    wait: Duration = Field(0.01, ge=0, le=60, description="pause between a producer's sends")
    idle_timeout: Duration = Field(
        3.0, gt=0, le=600, description="a subscription silent this long (no keep-alive) is dead"
    )
    op_timeout: Duration = Field(2.0, gt=0, le=600, description="socket timeout of a request")
