"""The ``redis.streams`` Locust users: producers and the consumers of one group.

A producer XADDs messages numbered per producer, each with its payload's digest and its
send time (``p``, ``s``, ``d``, ``t``, then the payload ``v``); its send is recorded
``ok`` when XADD returned an id, ``fail`` when the command was never sent or refused,
``info`` when the reply was lost. A consumer XREADGROUPs new entries, records a receipt
per entry (with the digest of the payload it read, so a changed message shows), XACKs
them, and every ``claim_every`` XAUTOCLAIMs entries left pending on any consumer for
``claim_idle``: those are received again (duplicates are allowed,
loss is not). With ``crash_every``, each consumer dies that often right after
recording a batch and before acknowledging it, and comes back under a new name: its
pending entries are claimed by the others. After heal the harness drains the group
(``harness/checks/drain.py``).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from locust import User, task

from harness.workloads.messages import GROUP, receipt, stream_key
from harness.workloads.params import RedisStreamsParams
from harness.workloads.redis_kv import RedisUser
from harness.workloads.roles import senders_and_receivers
from harness.workloads.values import digest, value_for


def create_group(host: str, port: int, key_prefix: str) -> None:
    """The stream and its consumer group, before any user starts (from the first entry)."""
    import redis

    client = redis.Redis(host=host, port=port, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.xgroup_create(stream_key(key_prefix), GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    finally:
        client.close()


def make_user_classes(
    host: str, port: int, params: RedisStreamsParams, key_prefix: str, process_prefix: str
) -> list[type[User]]:
    """A producer and a consumer class bound to the target, weighted by the share."""
    counter = itertools.count()
    stream = stream_key(key_prefix)

    def init(user: Any, role: str) -> None:
        user.params = params
        user.stream = stream
        user.process = f"{process_prefix}{role}{next(counter)}"
        user.connect_to(host, port)
        user.fire = user.environment.events.request.fire
        if role == "p":
            user.seq = 0
        else:
            user.next_claim = time.monotonic() + params.claim_every
            user.started = time.monotonic()
            user.base_name = user.process

    return senders_and_receivers(
        StreamProducer,
        StreamConsumer,
        ("Producer", "Consumer"),
        params.producer_share,
        params.wait,
        init,
        roles=("p", "c"),
    )


class StreamUser(RedisUser):
    abstract = True
    stream: str


class StreamProducer(StreamUser):
    abstract = True
    seq: int

    @task
    def send(self) -> None:
        self.seq += 1
        payload = value_for(f"{self.process}:{self.seq}", self.params.message_size_bytes)
        d = digest(payload)
        t_start = time.monotonic_ns()
        # The send time (monotonic ns, the history's clock) travels with the message, so
        # a reader other than the harness can measure end-to-end latency too.
        phase, _, error = self._exchange(
            "XADD",
            self.stream,
            "*",
            "p",
            self.process,
            "s",
            self.seq,
            "d",
            d,
            "t",
            t_start,
            "v",
            payload,
        )
        if error is None:
            type_ = "ok"
        elif phase in ("connect", "reply"):
            type_ = "fail"
        else:
            type_ = "info"
        self._report(
            "send",
            self.stream,
            d,
            type_,
            error,
            t_start,
            time.monotonic_ns(),
            producer=self.process,
            seq=self.seq,
        )


class StreamConsumer(StreamUser):
    abstract = True
    next_claim: float
    started: float
    base_name: str
    incarnation: int = 0

    @task
    def consume(self) -> None:
        p = self.params
        t_start = time.monotonic_ns()
        if time.monotonic() >= self.next_claim:
            self.next_claim = time.monotonic() + p.claim_every
            _, reply, error = self._exchange(
                "XAUTOCLAIM",
                self.stream,
                GROUP,
                self.process,
                int(p.claim_idle * 1000),
                "0-0",
                "COUNT",
                p.read_count,
            )
            entries = [] if error is not None or reply is None else reply[1]
            op = "claim"
        else:
            _, reply, error = self._exchange(
                "XREADGROUP",
                "GROUP",
                GROUP,
                self.process,
                "COUNT",
                p.read_count,
                "BLOCK",
                max(1, int(p.block * 1000)),
                "STREAMS",
                self.stream,
                ">",
            )
            entries = [] if error is not None or reply is None else _stream_entries(reply)
            op = "read"
        received = receipts(entries)
        self._report(
            op,
            self.stream,
            None,
            "fail" if error else "ok",
            error,
            t_start,
            time.monotonic_ns(),
            count=len(received),
        )
        for fields in received:
            self.note(
                {
                    "t_end": time.monotonic_ns(),
                    "process": self.process,
                    "op": "recv",
                    "key": self.stream,
                    **fields,
                }
            )
        if received and self.crash_due():
            self.crash()
        elif received:
            # Not acknowledged (a reset, a timeout): the entries stay pending and are
            # claimed again later, which the checker sees as duplicates, not loss.
            self._exchange("XACK", self.stream, GROUP, *(f["id"] for f in received))
            self.raise_if_stopped()

    def crash_due(self) -> bool:
        every = self.params.crash_every
        return every is not None and time.monotonic() >= self.started + every

    def crash(self) -> None:
        """Die as a consumer process would after processing a batch and before its XACK:
        the connection is dropped, the entries stay pending under this consumer's name
        until another consumer claims them, and the user comes back as a new consumer."""
        self.conn.disconnect()
        self.incarnation += 1
        self.process = f"{self.base_name}-r{self.incarnation}"
        self.started = time.monotonic()
        self._report(
            "crash", self.stream, None, "ok", None, time.monotonic_ns(), time.monotonic_ns()
        )


def _stream_entries(reply: Any) -> list[Any]:
    """The entries of the one stream read: RESP3 answers XREADGROUP with a map of
    stream to entries, RESP2 with a list of [stream, entries] pairs."""
    if isinstance(reply, dict):
        return next(iter(reply.values()), [])
    return reply[0][1] if reply else []


def receipts(entries: list[Any]) -> list[dict[str, Any]]:
    """Receipts of stream entries ``[id, [field, value, ...]]``; entries whose fields
    are gone (deleted while pending) are skipped."""
    out = []
    for entry in entries:
        if not entry or entry[1] is None:
            continue
        entry_id, flat = entry
        out.append(receipt(entry_id, {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}))
    return out
