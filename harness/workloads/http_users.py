"""The ``http.users`` Locust users: one user class per class declared in the scenario,
each with its Locust weight, its wait time and its weighted request tasks.

Every request is one history record ``{op: method (lowercase), key: path, user_class,
task, status, type, ...}``: ``ok`` when the status is one the task expects; ``fail``
for another status, a connection that could not be made, or a read (GET, HEAD) whose
reply was lost; ``info`` when a write's reply was lost (a timeout or reset after it was
sent: it may have taken effect). Each user also writes ``{op: "user", process,
user_class}`` when it starts, so the result can count users per class.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

from locust import User, between, constant, constant_throughput, task

from harness.workloads.http_client import HttpClientUser, require_loopback
from harness.workloads.http_params import (
    READ_METHODS,
    HttpTask,
    HttpUsersParams,
    RequestContext,
    UserClassSpec,
    WaitTime,
    compile_template,
)


class CompiledTask:
    """A task with its templates compiled once."""

    def __init__(self, spec: HttpTask) -> None:
        self.label = spec.label
        self.method = spec.method
        self.op = spec.method.lower()
        self.expected = spec.expected
        self.read = spec.method in READ_METHODS
        self.path = compile_template(spec.path)
        self.headers = {k: compile_template(v) for k, v in spec.headers.items()}
        body = spec.body_text()
        self.body = None if body is None else compile_template(body)
        if isinstance(spec.body, dict | list) and not any(
            k.lower() == "content-type" for k in spec.headers
        ):
            self.headers["Content-Type"] = compile_template("application/json")


def wait_function(spec: WaitTime) -> Any:
    if spec.constant is not None:
        return constant(spec.constant)
    if spec.between is not None:
        return between(*spec.between)
    assert spec.constant_throughput is not None
    return constant_throughput(spec.constant_throughput)


def make_user_classes(
    host: str, port: int, params: HttpUsersParams, seed: int, process_prefix: str
) -> list[type[User]]:
    """One Locust user class per declared class, named after it (Locust allocates users
    to classes by these names and weights)."""
    require_loopback(host)
    return [
        _user_class(name, spec, host, port, params, seed, process_prefix)
        for name, spec in params.classes.items()
    ]


def _user_class(
    name: str,
    spec: UserClassSpec,
    host: str,
    port: int,
    params: HttpUsersParams,
    seed: int,
    process_prefix: str,
) -> type[User]:
    counter = itertools.count()
    tasks = [CompiledTask(t) for t in spec.tasks]
    weights = [t.weight for t in spec.tasks]

    class Bound(ClassUser):
        abstract = False
        weight = spec.weight
        wait_time = wait_function(spec.wait_time)

        def __init__(self, environment: Any) -> None:
            super().__init__(environment)
            index = next(counter)
            self.host_addr, self.port, self.params = host, port, params
            self.process = f"{process_prefix}{name}{index}"
            self.user_class = name
            self.tasks_ = tasks
            self.weights = weights
            self.ctx = RequestContext(random.Random(f"{seed}:{name}:{index}"), name, self.process)
            self.fire = environment.events.request.fire

    Bound.__name__ = Bound.__qualname__ = name
    return Bound


class ClassUser(HttpClientUser):
    abstract = True
    user_class: str
    tasks_: list[CompiledTask]
    weights: list[float]
    ctx: RequestContext

    def on_start(self) -> None:
        now = time.monotonic_ns()
        self.record(
            {
                "t_start": now,
                "t_end": now,
                "op": "user",
                "process": self.process,
                "user_class": self.user_class,
            }
        )

    @task
    def request(self) -> None:
        (chosen,) = self.ctx.rng.choices(self.tasks_, self.weights)
        self.ctx.seq += 1
        path = chosen.path(self.ctx)
        headers = {k: v(self.ctx) for k, v in chosen.headers.items()}
        body = None if chosen.body is None else chosen.body(self.ctx).encode()
        t_start = time.monotonic_ns()
        reply = self.exchange(chosen.method, path, body, headers)
        t_end = time.monotonic_ns()
        if reply.status is not None:
            type_ = "ok" if reply.status in chosen.expected else "fail"
            error = None if type_ == "ok" else f"status {reply.status}"
        else:
            lost_write = reply.phase != "connect" and not chosen.read
            type_ = "info" if lost_write else "fail"
            error = reply.error_text()
        self.record(
            {
                "t_start": t_start,
                "t_end": t_end,
                "process": self.process,
                "op": chosen.op,
                "key": path,
                "digest": None,
                "type": type_,
                "error": error,
                "status": reply.status,
                "user_class": self.user_class,
                "task": chosen.label,
            },
            len(reply.body),
        )
