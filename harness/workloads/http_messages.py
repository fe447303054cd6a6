"""The ``http.messages`` Locust users: end-to-end delivery through the reference app.

Producers ``POST /messages`` with ``{producer, seq, digest, sent_at, payload}``: a
``201`` is an acknowledged send; a refused connection or another status is ``fail``,
except ``504`` (the app lost Redis's reply: the XADD may have happened) and a reply
lost after sending, which are ``info``. Subscribers hold ``GET /events`` and record a
receipt per event (with the digest of the payload as received); when a subscription
ends (a fault, the app's restart, ``idle_timeout`` without even a keep-alive) they
write its ``subscribe`` record and reconnect with ``Last-Event-ID``, so the app resumes
after the last event they saw. Record shapes: ``harness/checks/delivery.py``.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import gevent
from locust import User, task
from locust.user.task import LOCUST_STATE_STOPPING

from harness.workloads.http_client import HttpClientUser, require_loopback
from harness.workloads.http_params import HttpMessagesParams
from harness.workloads.roles import senders_and_receivers
from harness.workloads.values import digest, value_for

KEY = "/events"  # sends and receipts name the app's event stream
INDETERMINATE = 504
STOP_GRACE_S = 1.0


def make_user_classes(
    host: str, port: int, params: HttpMessagesParams, process_prefix: str
) -> list[type[User]]:
    require_loopback(host)
    counter = itertools.count()

    def init(user: Any, role: str) -> None:
        user.host_addr, user.port, user.params = host, port, params
        user.process = f"{process_prefix}{role}{next(counter)}"
        user.fire = user.environment.events.request.fire

    return senders_and_receivers(
        HttpProducer,
        HttpSubscriber,
        ("Producer", "Subscriber"),
        params.producer_share,
        params.wait,
        init,
    )


class HttpProducer(HttpClientUser):
    abstract = True
    seq = 0

    @task
    def send(self) -> None:
        self.seq += 1
        size = self.params.message_size_bytes
        payload = value_for(f"{self.process}:{self.seq}", size).hex()[:size]
        d = digest(payload.encode())
        body = {"producer": self.process, "seq": self.seq, "digest": d, "payload": payload}
        t_start = time.monotonic_ns()
        body["sent_at"] = t_start
        reply = self.exchange(
            "POST", "/messages", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        if reply.status == 201:
            type_, error = "ok", None
        elif reply.status is not None:
            type_ = "info" if reply.status == INDETERMINATE else "fail"
            error = f"status {reply.status}"
        else:
            type_ = "fail" if reply.phase == "connect" else "info"
            error = reply.error_text()
        self.record(
            {
                "t_start": t_start,
                "t_end": time.monotonic_ns(),
                "process": self.process,
                "op": "send",
                "key": KEY,
                "producer": self.process,
                "seq": self.seq,
                "digest": d,
                "type": type_,
                "error": error,
                "status": reply.status,
            }
        )


class HttpSubscriber(HttpClientUser):
    """Holds one subscription at a time; its id stays the same across reconnects."""

    abstract = True
    last_id: str | None = None

    @task
    def subscribe(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        # A live subscription always has a comment within the app's keep-alive period.
        reply = self.exchange("GET", KEY, headers=headers, stream_timeout=self.params.idle_timeout)
        if reply.response is None or reply.status != 200:
            self.close()
            gevent.sleep(max(self.params.reconnect_backoff, 0.05))
            return
        confirmed: int | None = None
        stopping_at: float | None = None
        try:
            for event in _events(reply.response):
                if self._state == LOCUST_STATE_STOPPING:
                    # The load is over: the last sends' events arrive within the grace,
                    # and the user ends then rather than at Locust's stop timeout.
                    stopping_at = stopping_at or time.monotonic()
                    if time.monotonic() - stopping_at > STOP_GRACE_S:
                        break
                if event is None:
                    confirmed = confirmed or time.monotonic_ns()
                    continue
                self._receipt(*event)
        except (OSError, ValueError):
            pass  # the subscription is over; the next one resumes after last_id
        finally:
            if confirmed is not None:
                self._ended(confirmed, "error" if stopping_at is None else "stop")
            self.close()

    def _receipt(self, entry_id: str, data: str) -> None:
        self.last_id = entry_id
        try:
            msg = json.loads(data)
            fields = {
                "producer": str(msg["producer"]),
                "seq": int(msg["seq"]),
                "digest": digest(str(msg["payload"]).encode()),
            }
        except (ValueError, KeyError, TypeError):
            fields = {"producer": "?", "seq": -1, "digest": None}
        self.record(
            {
                "t_end": time.monotonic_ns(),
                "op": "recv",
                "process": self.process,
                "key": KEY,
                "id": entry_id,
                **fields,
            }
        )

    def _ended(self, confirmed_ns: int, how: str) -> None:
        self.record(
            {
                "op": "subscribe",
                "process": self.process,
                "key": KEY,
                "t_start": confirmed_ns,
                "t_end": time.monotonic_ns(),
                "end": how,
            }
        )


def _events(response: Any) -> Any:
    """Server-sent events from ``response``: ``None`` per comment (the first confirms
    the subscription; keep-alives follow), ``(id, data)`` per event. Ends at EOF."""
    entry_id, data = "", []
    while True:
        line = response.fp.readline()
        if not line:
            return
        text = line.decode().rstrip("\r\n")
        if text.startswith(":"):
            yield None
        elif text.startswith("id:"):
            entry_id = text[3:].strip()
        elif text.startswith("data:"):
            data.append(text[5:].lstrip())
        elif text == "" and data:
            yield entry_id, "\n".join(data)
            entry_id, data = "", []
