"""The ``redis.pubsub`` Locust users: publishers and subscribers on a few channels.

A publisher PUBLISHes numbered messages (``producer|seq|payload``) round-robin over the
channels; its send is ``ok`` when Redis replied (with the number of subscribers it
handed the message to, kept as ``receivers``), ``fail`` when never sent or refused,
``info`` when the reply was lost. A subscriber holds one connection subscribed to every
channel and records a receipt per message with the digest of the payload it read. When
its connection breaks it writes down the subscription that ended (``{op: "subscribe",
t_start: confirmed, t_end: ended, end: "error"}``), waits about ``resubscribe_backoff``
(0.5-1.5 times it, so subscribers cut off together do not come back in step) like a
real client would, and subscribes again; at the stop it writes the last one (``end:
"stop"``). Pub/Sub keeps nothing for a subscriber that is away, so the checker
(``harness/checks/fanout.py``) expects each subscriber to have received what was
acknowledged while it was subscribed, and counts what was published while it was
reconnecting as missed.
"""

from __future__ import annotations

import itertools
import random
import time
import zlib
from typing import Any

import gevent
from locust import User, task

from harness.workloads.params import RedisPubSubParams
from harness.workloads.redis_kv import CONNECTION_ERRORS, RedisUser
from harness.workloads.roles import senders_and_receivers
from harness.workloads.values import digest, value_for


def channel_names(key_prefix: str, count: int) -> list[str]:
    return [f"{key_prefix}:ch{i}" for i in range(count)]


def make_user_classes(
    host: str, port: int, params: RedisPubSubParams, key_prefix: str, process_prefix: str
) -> list[type[User]]:
    """A publisher and a subscriber class bound to the target, weighted by the share."""
    counter = itertools.count()
    channels = channel_names(key_prefix, params.channels)

    def init(user: Any, role: str) -> None:
        user.params = params
        user.channels = channels
        user.process = f"{process_prefix}{role}{next(counter)}"
        user.rng = random.Random(zlib.crc32(f"{key_prefix}/{user.process}".encode()))
        # RESP2 on the subscriber: its messages arrive as plain arrays.
        user.connect_to(host, port, protocol=2 if role == "s" else None)
        user.fire = user.environment.events.request.fire

    return senders_and_receivers(
        PubSubPublisher,
        PubSubSubscriber,
        ("Publisher", "Subscriber"),
        params.publisher_share,
        params.wait,
        init,
    )


class PubSubUser(RedisUser):
    abstract = True
    channels: list[str]
    rng: random.Random


class PubSubPublisher(PubSubUser):
    abstract = True
    seq: int = 0

    @task
    def publish(self) -> None:
        self.seq += 1
        channel = self.channels[self.seq % len(self.channels)]
        payload = value_for(f"{self.process}:{self.seq}", self.params.message_size_bytes)
        t_start = time.monotonic_ns()
        phase, reply, error = self._exchange(
            "PUBLISH", channel, f"{self.process}|{self.seq}|".encode() + payload
        )
        if error is None:
            type_ = "ok"
        elif phase in ("connect", "reply"):
            type_ = "fail"
        else:
            type_ = "info"
        self._report(
            "send",
            channel,
            digest(payload),
            type_,
            error,
            t_start,
            time.monotonic_ns(),
            producer=self.process,
            seq=self.seq,
            receivers=reply if error is None else None,
        )


class PubSubSubscriber(PubSubUser):
    abstract = True
    subscribed_at: int | None = None

    @task
    def listen(self) -> None:
        if self.subscribed_at is None:
            self.subscribe()
            return
        try:
            if not self.conn.can_read(timeout=self.params.block):
                return
            reply = self.conn.read_response(disconnect_on_error=True)
        except CONNECTION_ERRORS:
            self.conn.disconnect()
            self.end_subscription("error")
            self.back_off()
            return
        if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
            self.receive(reply[1].decode(), reply[2])

    def subscribe(self) -> None:
        try:
            self.conn.connect()
            self.conn.send_command("SUBSCRIBE", *self.channels, check_health=False)
            for _ in self.channels:
                self.conn.read_response(disconnect_on_error=True)
        except CONNECTION_ERRORS:
            self.conn.disconnect()
            self.back_off()
            return
        self.subscribed_at = time.monotonic_ns()

    def back_off(self) -> None:
        gevent.sleep(self.params.resubscribe_backoff * (0.5 + self.rng.random()))

    def receive(self, channel: str, data: bytes) -> None:
        producer, seq, payload = (
            data.split(b"|", 2) if data.count(b"|") >= 2 else (b"?", b"-1", data)
        )
        self.fire(
            request_type="redis",
            name="recv",
            response_time=0,
            response_length=0,
            exception=None,
            context={
                "t_end": time.monotonic_ns(),
                "process": self.process,
                "op": "recv",
                "key": channel,
                "producer": producer.decode(errors="replace"),
                "seq": int(seq) if seq.lstrip(b"-").isdigit() else -1,
                "digest": digest(payload),
            },
        )

    def end_subscription(self, how: str) -> None:
        """Write down the subscription that just ended, one record per channel."""
        if self.subscribed_at is None:
            return
        ended = time.monotonic_ns()
        for channel in self.channels:
            self.note(
                {
                    "op": "subscribe",
                    "process": self.process,
                    "key": channel,
                    "t_start": self.subscribed_at,
                    "t_end": ended,
                    "end": how,
                }
            )
        self.subscribed_at = None

    def on_stop(self) -> None:
        self.end_subscription("stop")
        super().on_stop()
