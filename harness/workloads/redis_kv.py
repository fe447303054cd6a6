"""The ``redis.kv`` Locust user: SETs of unique keys, GETs of keys it saw acknowledged.

Each operation is classified the way Jepsen does: an error before the command was
sent (connection refused, connect timeout) is ``fail``; an error after a write was sent
(timeout, reset) is ``info`` because the write may or may not have happened; a failed
read is always ``fail``; an error reply from Redis (``-LOADING``, ``-MISCONF``) is
``fail``. A raw ``redis.Connection`` with retries disabled is used so that the client
library never hides a failure by retrying.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import gevent
import redis
from locust import User, constant, task
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.workloads.params import RedisKVParams
from harness.workloads.stopping import RecordsBeforeStopping
from harness.workloads.values import digest, value_for

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


_MAX_TRACKED_KEYS = 50_000


def make_user_class(
    host: str, port: int, params: RedisKVParams, seed: int, key_prefix: str, process_prefix: str
) -> type[User]:
    """A ``RedisKVUser`` subclass bound to one target and one parameter set."""

    counter = itertools.count()

    class BoundRedisKVUser(RedisKVUser):
        abstract = False
        wait_time = constant(params.wait)

        def __init__(self, environment: Any) -> None:
            super().__init__(environment)
            index = next(counter)
            self.setup(host, port, params, seed, key_prefix, f"{process_prefix}u{index}", index)

    BoundRedisKVUser.__name__ = "RedisKVUser"
    return BoundRedisKVUser


class RedisUser(RecordsBeforeStopping, User):
    """A Locust user with one raw Redis connection that never retries."""

    abstract = True
    params: Any
    conn: redis.Connection
    process: str
    fire: Any

    def connect_to(self, host: str, port: int, protocol: int | None = None) -> None:
        self.conn = redis.Connection(
            host=host,
            port=port,
            protocol=protocol,
            socket_timeout=self.params.op_timeout,
            socket_connect_timeout=self.params.connect_timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            driver_info=None,
        )

    def on_stop(self) -> None:
        self.conn.disconnect()

    def _report(
        self,
        op: str,
        key: str,
        d: str | None,
        type_: str,
        error: BaseException | None,
        t_start: int,
        t_end: int,
        length: int = 0,
        **fields: Any,
    ) -> None:
        """Record one operation in the history through Locust's request event."""
        record = {
            "t_start": t_start,
            "t_end": t_end,
            "process": self.process,
            "op": op,
            "key": key,
            "digest": d,
            "type": type_,
            "error": None if error is None else f"{type(error).__name__}: {error}",
            **fields,
        }
        if self.stopped is not None:
            record["stopped"] = True  # cut off by the stop: not counted in the statistics
        self.fire(
            request_type="redis",
            name=op,
            response_time=(t_end - t_start) / 1e6,
            response_length=length,
            exception=error,
            context=record,
        )
        self.raise_if_stopped()

    def note(self, record: dict[str, Any]) -> None:
        """Record something that is not an operation (a receipt): history only."""
        self.fire(
            request_type="redis",
            name=record["op"],
            response_time=0,
            response_length=0,
            exception=None,
            context=record,
        )

    def _exchange(self, *args: Any) -> tuple[str, Any, BaseException | None]:
        """Send one command; returns (phase reached, reply, error)."""
        phase = "connect"
        try:
            self.conn.connect()
            phase = "send"
            self.conn.send_command(*args, check_health=False)
            phase = "recv"
            return phase, self.conn.read_response(disconnect_on_error=True), None
        except redis.ResponseError as exc:
            return "reply", None, exc
        except CONNECTION_ERRORS as exc:
            self.conn.disconnect()
            if phase == "connect" and self.params.reconnect_backoff:
                gevent.sleep(self.params.reconnect_backoff)
            return phase, None, exc
        except gevent.GreenletExit as exc:  # see harness/workloads/stopping.py
            self.conn.disconnect()
            return phase, None, self.interrupted(exc)


class RedisKVUser(RedisUser):
    abstract = True

    def setup(
        self,
        host: str,
        port: int,
        params: RedisKVParams,
        seed: int,
        key_prefix: str,
        process: str,
        index: int,
    ) -> None:
        self.params = params
        self.process = process
        self.key_prefix = f"{key_prefix}:{process}:"
        self.rng = random.Random(seed * 1_000_003 + index)
        self.seq = 0
        self.acked: list[tuple[str, str]] = []
        self.connect_to(host, port)
        self.fire = self.environment.events.request.fire

    @task
    def operate(self) -> None:
        if not self.acked or self.rng.random() < self.params.write_ratio:
            self.do_set()
        else:
            self.do_get()

    def do_set(self) -> None:
        self.seq += 1
        key = f"{self.key_prefix}{self.seq}"
        value = value_for(key, self.params.value_size_bytes)
        d = digest(value)
        t_start = time.monotonic_ns()
        phase, _, error = self._exchange("SET", key, value)
        t_end = time.monotonic_ns()
        if error is None:
            type_ = "ok"
            if len(self.acked) < _MAX_TRACKED_KEYS:
                self.acked.append((key, d))
            else:
                self.acked[self.rng.randrange(_MAX_TRACKED_KEYS)] = (key, d)
        elif phase in ("connect", "reply"):
            type_ = "fail"
        else:
            type_ = "info"
        self._report("set", key, d, type_, error, t_start, t_end, len(value))

    def do_get(self) -> None:
        key, _expected = self.acked[self.rng.randrange(len(self.acked))]
        t_start = time.monotonic_ns()
        _, reply, error = self._exchange("GET", key)
        t_end = time.monotonic_ns()
        read = None if error is not None or reply is None else digest(reply)
        self._report(
            "get",
            key,
            read,
            "ok" if error is None else "fail",
            error,
            t_start,
            t_end,
            len(reply) if isinstance(reply, bytes) else 0,
        )
