"""The load generator process: ``python -m harness.workloads.loadgen CONFIG.json``.

``import locust`` must stay the first import of this module: locust monkey-patches the
process with gevent on import, and anything that imported ``ssl``/``urllib3`` before it
would break. The harness package ``__init__`` files import nothing for the same reason.

Protocol with the harness, one JSON object per line:

* stdout ``{"ev": "ready"}`` once Locust is set up;
* stdin ``{"t0_ns": ..., "stop_ns": ...}``: start the users now, stop at ``stop_ns``;
* stdout ``{"ev": "tick", ...}`` once a second: counts and p95 of the last second;
* stdout ``{"ev": "done", ok, fail, info, records}`` after the users stopped and the
  history was flushed (``records``: the lines this process wrote to it).

The process stops on its own at ``stop_ns`` (plus the users' stop timeout), on SIGTERM,
and when the harness that started it disappears, so a load is always bounded.
"""

import locust  # noqa: I001 - must be first, see the module docstring

import json
from collections import defaultdict
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment

from harness.history import HistoryWriter
from harness.windows import new_histogram, percentile_ms, record_latency
from harness.workloads.params import WORKLOADS
from harness.workloads.redis_kv import RedisKVUser, make_user_class
from harness.workloads.shapes import Pacer, StageShape, pace

_ = locust.__version__
FLUSH_INTERVAL_S = 0.1


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Recorder:
    """The ``request`` listener: history lines plus live counts and latency."""

    def __init__(self, history: HistoryWriter | None, generator: str = "") -> None:
        self.history = history
        # One of several load generators names its user counts, which the analysis sums.
        self.named = {"generator": generator} if generator else {}
        self.reset()
        self.total = {"ok": 0, "fail": 0, "info": 0}
        self.users = -1
        self.users_recorded_ns = 0

    def record_users(self, count: int) -> None:
        """``{op: "users", t, count}`` when the running user count changes, and once a
        second: the series the profiles are judged by."""
        now = time.monotonic_ns()
        if count == self.users and now - self.users_recorded_ns < 1_000_000_000:
            return
        self.users, self.users_recorded_ns = count, now
        if self.history is not None:
            self.history.write({"op": "users", "t": now, "count": count, **self.named})

    def reset(self) -> None:
        self.counts = {"ok": 0, "fail": 0, "info": 0}
        # Latencies (us) are counted per distinct value and go into the HDR histogram
        # once per value at each tick: the same histogram for a fraction of the cost.
        self.latencies_us: dict[int, int] = defaultdict(int)

    def on_request(self, context: dict[str, Any], **_: Any) -> None:
        type_ = context.get("type")
        if type_ is None:
            # A record that is not an operation (a message's receipt): history only.
            if self.history is not None:
                self.history.write(context)
            return
        self.counts[type_] += 1
        self.total[type_] += 1
        # With recording off only the counts above are kept (benchmarks compare both).
        if self.history is not None:
            self.history.write_op(context)
            if type_ == "ok":
                self.latencies_us[(context["t_end"] - context["t_start"]) // 1000] += 1

    def tick(self, t0_ns: int) -> dict[str, Any]:
        hist = new_histogram()
        for value_us, count in self.latencies_us.items():
            record_latency(hist, value_us * 1000, count)
        event = {
            "ev": "tick",
            "t_s": round((time.monotonic_ns() - t0_ns) / 1e9, 3),
            **self.counts,
            "p50_ms": percentile_ms(hist, 50),
            "p95_ms": percentile_ms(hist, 95),
            "p99_ms": percentile_ms(hist, 99),
            "users": self.users,
        }
        self.reset()
        return event


def user_classes_for(
    config: dict[str, Any], params: Any, history: HistoryWriter | None
) -> list[type[locust.User]]:
    """The Locust user classes of the configured workload, bound to its target. The S3
    workloads' module (and with it boto3) is imported only here, after locust."""
    workload = config.get("workload", "redis.kv")
    if workload == "redis.kv":
        return [
            make_user_class(
                config["host"],
                config["port"],
                params,
                config["seed"],
                config["key_prefix"],
                config.get("process_prefix", ""),
            )
        ]
    if workload in ("redis.streams", "redis.pubsub"):
        from harness.workloads import redis_pubsub, redis_streams

        if workload == "redis.streams":
            redis_streams.create_group(config["host"], config["port"], config["key_prefix"])
        streams = workload == "redis.streams"
        make = redis_streams.make_user_classes if streams else redis_pubsub.make_user_classes
        return make(
            config["host"],
            config["port"],
            params,
            config["key_prefix"],
            config.get("process_prefix", ""),
        )
    if workload == "http.users":
        from harness.workloads import http_users

        return http_users.make_user_classes(
            config["host"], config["port"], params, config["seed"], config.get("process_prefix", "")
        )
    if workload == "http.messages":
        from harness.workloads import http_messages

        return http_messages.make_user_classes(
            config["host"], config["port"], params, config.get("process_prefix", "")
        )
    from harness.workloads import s3_objects

    shared = s3_objects.Shared(
        client=s3_objects.make_client(config["s3"], params, pool=config["users"] + 4),
        bucket=config["s3"]["bucket"],
        prefix=f"{config['key_prefix']}/",
        seed=config["seed"],
        params=params,
        process_prefix=config.get("process_prefix", ""),
    )
    if workload == "s3.concurrent_access":
        s3_objects.populate(shared, (history or HistoryWriter(Path(os.devnull))).write)
    return [s3_objects.make_user_class(workload, shared)]


def start_profile(
    shape: StageShape,
    runner: Any,
    user_classes: list[type[locust.User]],
    config: dict[str, Any],
    t0_ns: int,
) -> None:
    """Follow the profile's stages from ``t0_ns``; pace the workload's paced operations
    when a stage sets a rate (a throughput sweep)."""
    shape.t0_ns = t0_ns
    if any("rate" in stage for stage in shape.stages):
        from harness.workloads.redis_streams import StreamProducer

        paced = StreamProducer if config.get("workload") == "redis.streams" else RedisKVUser
        pace(user_classes, [paced], Pacer(shape.stages, t0_ns))
    # Locust's shape worker polls the shape; the main loop polls, never joins, the runner.
    runner.start_shape()


def run(config: dict[str, Any]) -> int:
    params = WORKLOADS[config.get("workload", "redis.kv")].model_validate(config["params"])
    history = (
        HistoryWriter(Path(config["history"]), buffer_bytes=256 * 1024)
        if params.record  # type: ignore[attr-defined]
        else None
    )
    user_classes = user_classes_for(config, params, history)
    recorder = Recorder(history, config.get("generator", ""))
    stages = config.get("stages")
    shape = StageShape(stages) if stages else None
    env = Environment(
        user_classes=user_classes,
        stop_timeout=params.op_timeout * 2 + 1.0,  # type: ignore[attr-defined]
        shape_class=shape,
    )
    env.events.request.add_listener(recorder.on_request)
    runner = env.create_local_runner()
    parent = os.getppid()
    stopping = {"now": False}

    def request_stop(*_: Any) -> None:
        stopping["now"] = True

    gevent.signal_handler(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness handles Ctrl-C
    emit({"ev": "ready", "pid": os.getpid()})

    line = sys.stdin.readline()
    if not line:
        return 0
    go = json.loads(line)
    t0_ns, stop_ns = int(go["t0_ns"]), int(go["stop_ns"])
    gevent.sleep(max(0, t0_ns - time.monotonic_ns()) / 1e9)
    if shape is None:
        runner.start(config["users"], config["spawn_rate"])
    else:
        start_profile(shape, runner, user_classes, config, t0_ns)

    def flusher() -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            if history is not None:
                history.flush()

    flush_greenlet = gevent.spawn(flusher)
    next_tick = time.monotonic() + 1.0
    while not stopping["now"] and time.monotonic_ns() < stop_ns:
        gevent.sleep(0.05)
        recorder.record_users(runner.user_count)
        if os.getppid() != parent:
            break  # the harness is gone: stop the load rather than run unattended
        if time.monotonic() >= next_tick:
            next_tick += 1.0
            emit(recorder.tick(t0_ns))
    runner.quit()
    flush_greenlet.kill()
    if history is not None:
        history.close()
    emit({"ev": "done", **recorder.total, "records": history.lines if history else 0})
    return 0


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    sys.exit(run(config))


if __name__ == "__main__":
    main()
