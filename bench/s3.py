"""Benchmark 6: the S3 workloads against a plain boto3 loop, and the load generator's
memory while it uploads 100 MB objects.

Throughput: 1 MiB PUTs and GETs on one local lab (versitygw behind Toxiproxy), in
rounds; each round runs, in a rotating order and at the same concurrency,

* ``upstream``: a plain boto3 loop straight to versitygw (no proxy);
* ``proxy``: the same loop through Toxiproxy (the service's client endpoint), the
  reference;
* ``harness``: the real load generator process through the proxy, recording its
  history as in a run: ``s3.small_objects`` with one 1 MiB size class and a put-only
  mix for PUT, ``s3.concurrent_access`` over a pool of 1 MiB objects with a get-only mix
  for GET (every GET hashed and checked against the versions written).

The plain loop is what a user would write: ``put_object(Bucket, Key, Body=bytes)`` of
one 1 MiB buffer to a new key each time, ``get_object(...)["Body"].read()`` over a pool
of 1 MiB objects, a boto3 client with its defaults but for no retries and path-style
addressing. One user is compared with one thread, N users with N threads. Ops/s counts
acknowledged operations that ended inside the steady window of each segment (the
harness's from its history, the loop's from its own timestamps), the same window in
both. The target (harness >= 0.8 of the loop through the proxy) is checked on the
median over the rounds of the per-round ratio, at one user.

Memory: the load generator runs ``s3.mixed`` (its default mix) restricted to one size
class of 100 MB objects (multipart, 8 MiB parts) with a few users for a bounded time;
its RSS (children included) is sampled every 50 ms. Objects are deleted afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import threading
import time
import timeit
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config
from common import (
    Check,
    Section,
    SteadyWindow,
    lab_pids,
    median,
    running_lab,
    sleep_until_ns,
    started_loadgen,
    steady_window,
    table,
)
from pydantic import BaseModel

from harness.history import HISTORY_FILE, read_history
from harness.lab.local import LocalLab
from harness.lab.s3 import S3Target, s3_target
from harness.loadproc import START_MARGIN_S, LoadGenerator, loadgen_config
from harness.scenario import S3ServiceSpec
from harness.workloads.objects import ObjectSource
from harness.workloads.params import (
    ObjectMix,
    S3ConcurrentParams,
    S3MixedParams,
    S3SmallObjectsParams,
    SharedMix,
    SizeClass,
)

SERVICE = "s3"
MIB = 1 << 20
OBJECT_SIZE = MIB
POOL = 20  # objects read by the GET arms
TARGET_RATIO = 0.8
TARGET_RSS_MB = 200.0
QUIET_CORES = 0.1
BIG_OBJECT = 100_000_000
RSS_USERS = 4
RSS_SAMPLE_S = 0.05
MIN_FREE_BYTES = 10 << 30  # refuse to start the 100 MB uploads with less disk free
ARMS = ("upstream", "proxy", "harness")
OPS = ("put", "get")


@dataclass(frozen=True)
class Shape:
    rounds: int
    concurrency: tuple[int, ...]
    segment_s: float
    warmup_s: float
    tail_s: float
    rss_s: float


FULL = Shape(rounds=5, concurrency=(1, 4), segment_s=2.0, warmup_s=0.4, tail_s=0.2, rss_s=10.0)
QUICK = Shape(rounds=1, concurrency=(1,), segment_s=2.0, warmup_s=0.4, tail_s=0.2, rss_s=8.0)


# -- the lab -------------------------------------------------------------------------------


def targets(lab: LocalLab) -> dict[str, S3Target]:
    """The service through its proxy and straight at versitygw, same bucket and keys."""
    handle = lab.services[SERVICE]
    proxy = s3_target(handle)
    return {
        "proxy": proxy,
        "upstream": dataclasses.replace(proxy, endpoint_url=f"http://{handle.upstream}"),
    }


def bucket_dir(lab: LocalLab) -> Path:
    """The bucket's directory in versitygw's posix backend (one file per object)."""
    return lab.root / SERVICE / s3_target(lab.services[SERVICE]).bucket


def remove_prefix(lab: LocalLab, prefix: str) -> None:
    """Delete every object under ``prefix`` (a directory of the bucket) behind the
    server's back, which the posix backend allows: cheaper than one DELETE per object."""
    shutil.rmtree(bucket_dir(lab) / prefix.rstrip("/"), ignore_errors=True)


def plain_client(target: S3Target, pool: int) -> Any:
    """What a user would write: boto3's defaults (checksums included), but no retries
    and path-style addressing for a local endpoint."""
    return boto3.client(
        "s3",
        endpoint_url=target.endpoint_url,
        region_name=target.region,
        aws_access_key_id=target.access_key,
        aws_secret_access_key=target.secret_key,
        config=Config(
            retries={"total_max_attempts": 1},
            s3={"addressing_style": "path"},
            max_pool_connections=max(pool, 10),
        ),
    )


# -- one segment -----------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One arm at one concurrency: the acked operations that ended in the steady window
    and the CPU each process used over it (``client``: the load generator, or this
    process when it runs the plain loop)."""

    arm: str
    op: str
    users: int
    window: SteadyWindow
    errors: int

    @property
    def ops_per_s(self) -> float:
        return self.window.ops_per_s

    @property
    def mb_per_s(self) -> float:
        return self.ops_per_s * OBJECT_SIZE / 1e6

    def cpu_ms_per_op(self, process: str) -> float:
        acked = self.window.acked
        return self.window.cpu_s[process] / acked * 1e3 if acked else float("nan")


@dataclass(frozen=True)
class Window:
    start_ns: int
    end_ns: int

    def measure(self, pids: dict[str, int]) -> SteadyWindow:
        """CPU of ``pids`` over the window (sleeping through it); acked counted later."""
        return steady_window(None, pids, self.start_ns, self.end_ns)

    def counted(self, measured: SteadyWindow, t_ends: list[int]) -> SteadyWindow:
        """``measured`` with the operations that ended inside the window, over its
        planned length."""
        acked = sum(self.start_ns <= t < self.end_ns for t in t_ends)
        seconds = (self.end_ns - self.start_ns) / 1e9
        return dataclasses.replace(measured, acked=acked, seconds=seconds)


def segment_window(shape: Shape) -> tuple[int, int, Window]:
    """(t0, stop, steady window) for a segment starting now."""
    t0 = time.monotonic_ns() + int(START_MARGIN_S * 1e9)
    stop = t0 + int(shape.segment_s * 1e9)
    return t0, stop, Window(t0 + int(shape.warmup_s * 1e9), stop - int(shape.tail_s * 1e9))


def plain_segment(
    lab: LocalLab, arm: str, op: str, users: int, shape: Shape, payload: bytes
) -> Segment:
    """``users`` threads, each a plain loop of ``op`` until the stop."""
    client = plain_client(targets(lab)[arm], users)
    bucket = targets(lab)[arm].bucket
    prefix = f"plain-{uuid.uuid4().hex[:8]}/"
    t0, stop, window = segment_window(shape)
    ends: list[list[int]] = [[] for _ in range(users)]
    errors = [0] * users

    def loop(index: int) -> None:
        sleep_until_ns(t0)
        n = 0
        while time.monotonic_ns() < stop:
            n += 1
            try:
                if op == "put":
                    client.put_object(Bucket=bucket, Key=f"{prefix}{index}/{n:07d}", Body=payload)
                else:
                    key = pool_key((index * 7 + n) % POOL)
                    client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception:  # counted, not retried: the loop goes on like a user's would
                errors[index] += 1
                continue
            ends[index].append(time.monotonic_ns())

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    measured = window.measure({"client": os.getpid(), **lab_pids(lab)})
    for thread in threads:
        thread.join()
    remove_prefix(lab, prefix)
    t_ends = [t for per_thread in ends for t in per_thread]
    return Segment(arm, op, users, window.counted(measured, t_ends), sum(errors))


def pool_key(index: int) -> str:
    return f"plain-get/{index:03d}"


def harness_params(op: str) -> tuple[str, BaseModel]:
    """The workload and parameters of the harness arm (recording on, as in a run)."""
    if op == "put":
        size = SizeClass(name="1MiB", min=OBJECT_SIZE, max=OBJECT_SIZE)
        return "s3.small_objects", S3SmallObjectsParams(sizes=[size], mix=ObjectMix(put=1))
    mix = SharedMix(get=1, list=0, put=0)
    return "s3.concurrent_access", S3ConcurrentParams(
        objects=POOL, object_size=OBJECT_SIZE, mix=mix
    )


@contextmanager
def harness_loadgen(
    lab: LocalLab, run_dir: Path, workload: str, params: BaseModel, users: int
) -> Iterator[tuple[LoadGenerator, str]]:
    """A ready load generator for ``workload`` through the proxy, built as the runner
    builds it (credentials by environment); its key prefix is removed afterwards."""
    target = targets(lab)["proxy"]
    prefix = uuid.uuid4().hex[:8]
    config = loadgen_config(
        lab.services[SERVICE].client,
        params,
        seed=0,
        key_prefix=prefix,
        history=run_dir / HISTORY_FILE,
        users=users,
        spawn_rate=100.0 * users,  # every user at once: the loop's threads start together
        workload=workload,
        s3=target,
    )
    try:
        with started_loadgen(run_dir, config, env=target.client_env()) as loadgen:
            yield loadgen, prefix
    finally:
        remove_prefix(lab, prefix)


def wait_done(loadgen: LoadGenerator, stop_ns: int) -> dict[str, int]:
    """The generator's totals once it stopped by itself (users finish their request)."""
    op_timeout = float(loadgen.config["params"]["op_timeout"])
    remaining_s = max(stop_ns - time.monotonic_ns(), 0) / 1e9
    if not loadgen.wait(remaining_s + 2 * op_timeout + 10.0):
        raise RuntimeError("the load generator did not report 'done' in time")
    return dict(loadgen.totals)


def acked_ends(history: Path, op: str) -> list[int]:
    return [
        r["t_end"] for r in read_history(history) if r.get("op") == op and r.get("type") == "ok"
    ]


def harness_segment(lab: LocalLab, run_dir: Path, op: str, users: int, shape: Shape) -> Segment:
    workload, params = harness_params(op)
    with harness_loadgen(lab, run_dir, workload, params, users) as (loadgen, _):
        assert loadgen.proc is not None
        t0, stop, window = segment_window(shape)
        loadgen.go(t0, stop)
        measured = window.measure({"client": loadgen.proc.pid, **lab_pids(lab)})
        totals = wait_done(loadgen, stop)
    ends = acked_ends(run_dir / HISTORY_FILE, op)
    errors = totals.get("fail", 0) + totals.get("info", 0)
    return Segment("harness", op, users, window.counted(measured, ends), errors)


# -- load generator memory -------------------------------------------------------------


@dataclass(frozen=True)
class MemoryRun:
    users: int
    seconds: float
    ready_rss: int
    peak_rss: int
    samples: int
    acked: dict[str, int]
    totals: dict[str, int]
    disk_left: int


class RssSampler:
    """Samples a process's RSS plus its children's every ``interval_s`` in a thread."""

    def __init__(self, pid: int, interval_s: float) -> None:
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def rss(self) -> int:
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss
        return int(total)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.rss())
            except psutil.NoSuchProcess:
                return
            self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def memory_run(lab: LocalLab, run_dir: Path, shape: Shape) -> MemoryRun:
    free = shutil.disk_usage(lab.root).free
    if free < MIN_FREE_BYTES:
        raise RuntimeError(
            f"only {free / 1e9:.1f} GB free under {lab.root}: the 100 MB uploads need "
            f"{MIN_FREE_BYTES / 1e9:.0f} GB"
        )
    params = S3MixedParams(sizes=[SizeClass(name="100MB", min=BIG_OBJECT, max=BIG_OBJECT)])
    disk_before = _disk_usage(bucket_dir(lab))
    with harness_loadgen(lab, run_dir, "s3.mixed", params, RSS_USERS) as (loadgen, prefix):
        assert loadgen.proc is not None
        sampler = RssSampler(loadgen.proc.pid, RSS_SAMPLE_S)
        ready = sampler.rss()
        with sampler:
            t0 = time.monotonic_ns() + int(START_MARGIN_S * 1e9)
            stop = t0 + int(shape.rss_s * 1e9)
            loadgen.go(t0, stop)
            totals = wait_done(loadgen, stop)
        abort_uploads(targets(lab)["proxy"], prefix)
    records = [r for r in read_history(run_dir / HISTORY_FILE) if r.get("type") == "ok"]
    acked = {op: sum(r.get("op") == op for r in records) for op in ("put", "get", "list", "delete")}
    return MemoryRun(
        users=RSS_USERS,
        seconds=shape.rss_s,
        ready_rss=ready,
        peak_rss=sampler.peak,
        samples=sampler.samples,
        acked=acked,
        totals=totals,
        disk_left=_disk_usage(bucket_dir(lab)) - disk_before,
    )


def abort_uploads(target: S3Target, prefix: str) -> None:
    """Abort the multipart uploads a stopped user left (their parts hold disk space)."""
    client = plain_client(target, 1)
    listing = client.list_multipart_uploads(Bucket=target.bucket, Prefix=f"{prefix}/")
    for upload in listing.get("Uploads", []):
        client.abort_multipart_upload(
            Bucket=target.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
        )


def _disk_usage(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


# -- the benchmark ---------------------------------------------------------------------


Round = dict[tuple[str, int, str], Segment]  # (op, users, arm) -> segment


def one_round(lab: LocalLab, root: Path, index: int, shape: Shape, payload: bytes) -> Round:
    """Every (op, concurrency) with its three arms, the arms' order rotating by round."""
    turn = index % len(ARMS)
    order = ARMS[turn:] + ARMS[:turn]
    out: Round = {}
    for op in OPS:
        for users in shape.concurrency:
            for arm in order:
                if arm == "harness":
                    run_dir = root / f"r{index}-{op}-{users}"
                    seg = harness_segment(lab, run_dir, op, users, shape)
                else:
                    seg = plain_segment(lab, arm, op, users, shape, payload)
                out[(op, users, arm)] = seg
    return out


def fill_pool(lab: LocalLab, payload: bytes) -> None:
    client = plain_client(targets(lab)["upstream"], 1)
    for index in range(POOL):
        client.put_object(Bucket=targets(lab)["upstream"].bucket, Key=pool_key(index), Body=payload)


def client_step_costs(payload: bytes, count: int = 200) -> dict[str, float]:
    """Milliseconds per call, in this process (no gevent, no Locust), of the per-object
    steps in which the two clients differ: the harness generates each body from (key,
    seed), once to hash it with SHA-256 and once to send it (botocore reads a body in
    128 KiB pieces), and checks each GET with SHA-256; boto3's defaults compute a CRC32
    of each PUT body (plus the SHA-256 of payload signing, which the harness turns off
    as it sends its own) and check a CRC32 on each GET."""
    source = ObjectSource("bench/0000001", 0, OBJECT_SIZE)

    def send_body() -> None:
        body = source.body()
        while body.read(128 * 1024):
            pass

    steps: dict[str, Callable[[], object]] = {
        "sha256": lambda: hashlib.sha256(payload).digest(),
        "crc32": lambda: zlib.crc32(payload),
        "generate+sha256": source.sha256,
        "generate+send": send_body,
    }
    return {
        name: min(timeit.repeat(step, number=count, repeat=3)) / count * 1e3
        for name, step in steps.items()
    }


def run(work: Path, quick: bool) -> Section:
    shape = QUICK if quick else FULL
    root = work / "s3"
    payload = os.urandom(OBJECT_SIZE)
    with running_lab(root / "lab", services={SERVICE: S3ServiceSpec(kind="s3")}) as lab:
        fill_pool(lab, payload)
        rounds = [one_round(lab, root, i, shape, payload) for i in range(1, shape.rounds + 1)]
        memory = memory_run(lab, root / "memory", shape)
    return section(shape, rounds, memory, client_step_costs(payload))


# -- report ------------------------------------------------------------------------------


def ratio(rnd: Round, op: str, users: int, arm: str = "harness", ref: str = "proxy") -> float:
    return rnd[(op, users, arm)].ops_per_s / rnd[(op, users, ref)].ops_per_s


def _med(
    rounds: list[Round], key: tuple[str, int, str], value: Callable[[Segment], float]
) -> float:
    return median([value(r[key]) for r in rounds])


def _summary_rows(rounds: list[Round], shape: Shape) -> list[list[object]]:
    rows: list[list[object]] = []
    for op in OPS:
        for users in shape.concurrency:
            for arm in ARMS:
                key = (op, users, arm)
                rows.append(
                    [
                        op.upper(),
                        users,
                        ARM_LABEL[arm],
                        f"{_med(rounds, key, lambda s: s.ops_per_s):.1f}",
                        f"{_med(rounds, key, lambda s: s.mb_per_s):.0f}",
                        f"{median([ratio(r, op, users, arm) for r in rounds]):.2f}",
                        *(
                            f"{median([r[key].cpu_ms_per_op(p) for r in rounds]):.2f}"
                            for p in ("client", "toxiproxy", SERVICE)
                        ),
                        sum(r[key].errors for r in rounds),
                    ]
                )
    return rows


def _round_rows(rounds: list[Round], shape: Shape) -> list[list[object]]:
    rows: list[list[object]] = []
    for index, rnd in enumerate(rounds, start=1):
        for op in OPS:
            for users in shape.concurrency:
                segs = [rnd[(op, users, arm)] for arm in ARMS]
                rows.append(
                    [
                        index,
                        op.upper(),
                        users,
                        *(f"{s.ops_per_s:.1f}" for s in segs),
                        f"{ratio(rnd, op, users):.2f}",
                        f"{ratio(rnd, op, users, 'proxy', 'upstream'):.2f}",
                        " / ".join(f"{s.window.other_cores:.2f}" for s in segs),
                    ]
                )
    return rows


ARM_LABEL = {
    "upstream": "plain loop, straight to versitygw",
    "proxy": "plain loop, through Toxiproxy (reference)",
    "harness": "harness load generator, through Toxiproxy",
}


def _quiet_note(rounds: list[Round], shape: Shape) -> list[str]:
    """The harness / proxy ratio over the rounds in which nobody else used the machine
    during either segment."""
    parts = []
    for op in OPS:
        for users in shape.concurrency:
            quiet = [
                ratio(r, op, users)
                for r in rounds
                if max(r[(op, users, a)].window.other_cores for a in ("proxy", "harness"))
                < QUIET_CORES
            ]
            text = f"{median(quiet):.2f} in {len(quiet)}" if quiet else "no round"
            parts.append(f"{op.upper()} x {users}: {text}")
    return [
        f"Harness / proxy over the rounds in which other tenants used under {QUIET_CORES:g} "
        "cores during both segments: " + "; ".join(parts) + ".",
        "",
    ]


def _overhead_note(rounds: list[Round], steps: dict[str, float]) -> list[str]:
    """Where the harness's extra client CPU per operation goes, at one user."""
    known = {
        "put": steps["generate+sha256"] + steps["generate+send"] - steps["sha256"] - steps["crc32"],
        "get": steps["sha256"] - steps["crc32"],
    }
    parts = []
    for op in OPS:
        extra = _med(rounds, (op, 1, "harness"), lambda s: s.cpu_ms_per_op("client")) - _med(
            rounds, (op, 1, "proxy"), lambda s: s.cpu_ms_per_op("client")
        )
        parts.append(
            f"{op.upper()} {extra:+.2f} ms, of which {known[op]:+.2f} ms is the steps above "
            f"and {extra - known[op]:+.2f} ms the rest"
        )
    return [
        "Client steps that differ, timed in this process on 1 MiB (no gevent, no Locust): "
        f"SHA-256 {steps['sha256']:.2f} ms, CRC32 {steps['crc32']:.2f} ms, generating a "
        f"body and hashing it {steps['generate+sha256']:.2f} ms, generating it again as "
        f"botocore reads it to send {steps['generate+send']:.2f} ms. The harness's extra "
        "client CPU per operation at one user (medians above): " + "; ".join(parts) + ". "
        "The rest is the load generator's gevent sockets, Locust's request event and the "
        "history line.",
        "",
    ]


def section(
    shape: Shape, rounds: list[Round], memory: MemoryRun, steps: dict[str, float]
) -> Section:
    threads = " and ".join(str(n) for n in shape.concurrency)
    window_s = shape.segment_s - shape.warmup_s - shape.tail_s
    body = [
        "One local lab: one S3 service, versitygw with its posix backend on the work "
        f"directory's disk, behind Toxiproxy. {shape.rounds} rounds; in each, for 1 MiB PUT and "
        f"GET at {threads} concurrent user(s)/thread(s), three segments of "
        f"{shape.segment_s:g} s in a rotating order: a plain boto3 loop straight to "
        "versitygw, the same loop through Toxiproxy, and the harness's load generator "
        "through Toxiproxy (recording its history). The loop is `put_object(Bucket, Key, "
        "Body=bytes)` of one 1 MiB buffer to a new key each time, or `get_object(...)"
        f"['Body'].read()` over a pool of {POOL} objects, with a boto3 client on its "
        "defaults (so a CRC32 checksum computed on each PUT and checked as each GET "
        "streams, and SHA-256 payload signing, as boto3 does over plain HTTP) but no "
        "retries; N threads share one client. The harness "
        "arm is `s3.small_objects` with `sizes: [{name: 1MiB, min: 1MiB, max: 1MiB}]` "
        "and `mix: {put: 1}` for PUT (each body generated from its key and sent with "
        "its SHA-256 as the S3 checksum), and `s3.concurrent_access` with `objects: "
        f"{POOL}, object_size: 1MiB, mix: {{get: 1, list: 0, put: 0}}` for GET (each body "
        "hashed as it streams and checked against the versions written); its users all "
        "start at once and it runs at the niceness the harness gives it "
        "(+5). Ops/s counts acknowledged operations that ended between "
        f"{shape.warmup_s:g} s after the start and {shape.tail_s:g} s before the stop "
        f"({window_s:g} s): from the history for the harness, from the loop's own "
        "timestamps for the loop. MB/s is 10^6 bytes per second. CPU is user+system "
        "milliseconds per acked operation over the same window: the client (the load "
        "generator process, or this process running the loop), the Toxiproxy server and "
        "versitygw. Objects written are deleted after each segment. versitygw runs "
        "as the lab starts it, with `--keep-alive`: clients reuse their connections "
        "(one per user or thread), through Toxiproxy as well.",
        "",
        "Medians over the rounds ('vs reference' is the median of the per-round ratios "
        "to the plain loop through Toxiproxy):",
        "",
        *table(
            [
                "op",
                "users / threads",
                "arm",
                "ops/s",
                "MB/s",
                "vs reference",
                "client CPU ms/op",
                "Toxiproxy CPU ms/op",
                "versitygw CPU ms/op",
                "errors",
            ],
            _summary_rows(rounds, shape),
        ),
        "Per round (ops/s; 'other tenants' is the machine's busy CPU not used by these "
        "processes or the benchmark, in cores, per segment in the order upstream / proxy "
        "/ harness):",
        "",
        *table(
            [
                "round",
                "op",
                "users",
                "upstream",
                "proxy",
                "harness",
                "harness / proxy",
                "proxy / upstream",
                "other tenants, cores",
            ],
            _round_rows(rounds, shape),
        ),
        *_quiet_note(rounds, shape),
        *_overhead_note(rounds, steps),
        *memory_body(memory),
    ]
    checks = [
        Check(
            f"S3 1 MiB {op.upper()} ops/s, harness vs plain boto3 loop through the proxy, "
            f"1 user (median of {len(rounds)} per-round ratios)",
            f">= {TARGET_RATIO:g}",
            f"{median([ratio(r, op, 1) for r in rounds]):.2f} "
            f"({_med(rounds, (op, 1, 'harness'), lambda s: s.ops_per_s):.0f} vs "
            f"{_med(rounds, (op, 1, 'proxy'), lambda s: s.ops_per_s):.0f} ops/s)",
            median([ratio(r, op, 1) for r in rounds]) >= TARGET_RATIO,
        )
        for op in OPS
    ]
    peak_mb = memory.peak_rss / 1e6
    checks.append(
        Check(
            f"load generator peak RSS uploading 100 MB objects ({memory.users} users)",
            f"< {TARGET_RSS_MB:g} MB",
            f"{peak_mb:.0f} MB ({memory.acked['put']} objects of 100 MB acked)",
            peak_mb < TARGET_RSS_MB,
        )
    )
    return Section("6. S3: harness vs a plain boto3 loop, load generator memory", checks, body)


def memory_body(memory: MemoryRun) -> list[str]:
    acked = memory.acked
    return [
        f"Load generator memory: `s3.mixed` (default mix: put 50, get 35, list 10, "
        f"delete 5) with one size class, `{{name: 100MB, min: 100MB, max: 100MB}}` "
        f"(multipart, default 8 MiB parts, so 12 parts per object), {memory.users} users "
        f"for {memory.seconds:g} s through Toxiproxy, recording on. RSS of the load "
        f"generator process (children included; it has none) sampled every "
        f"{RSS_SAMPLE_S * 1000:.0f} ms ({memory.samples} samples) from `go` until it "
        "reported `done`.",
        "",
        *table(
            ["", "value"],
            [
                ("RSS when ready (Locust, boto3 imported; before the load)", _mb(memory.ready_rss)),
                ("peak RSS under load", f"**{_mb(memory.peak_rss)}**"),
                ("100 MB objects acked: put / get", f"{acked['put']} / {acked['get']}"),
                ("lists / deletes acked", f"{acked['list']} / {acked['delete']}"),
                (
                    "uploaded (acked puts)",
                    f"{acked['put'] * BIG_OBJECT / 1e9:.1f} GB, "
                    f"{acked['put'] * BIG_OBJECT / 1e6 / memory.seconds:.0f} MB/s",
                ),
                (
                    "`done` ok / fail / info",
                    f"{memory.totals.get('ok', 0)} / {memory.totals.get('fail', 0)} / "
                    f"{memory.totals.get('info', 0)}",
                ),
                ("disk left in the bucket by this run after the clean-up", _mb(memory.disk_left)),
            ],
        ),
    ]


def _mb(value: int) -> str:
    return f"{value / 1e6:.0f} MB"


if __name__ == "__main__":
    import run_all

    sys.exit(run_all.main(["--only", "s3", *sys.argv[1:]]))
