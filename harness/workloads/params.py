"""Typed parameters of each workload and the registry of workloads (importable without
locust or boto3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.units import ByteSize, Duration, format_size, size_between


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RedisParams(_Params):
    """What every Redis workload's connection takes."""

    op_timeout: Duration = Field(0.5, gt=0, le=60, description="per-operation socket timeout")
    connect_timeout: Duration = Field(0.5, gt=0, le=60, description="TCP connect timeout")
    reconnect_backoff: Duration = Field(
        0.01, ge=0, le=10, description="pause after a failed connection attempt"
    )
    wait: Duration = Field(0.0, ge=0, le=60, description="pause between a user's operations")
    record: bool = Field(True, description="write the history (off only for benchmarks)")


class RedisKVParams(_RedisParams):
    """``redis.kv``: SETs of unique keys with digest-checkable values, GETs of acked keys."""

    write_ratio: float = Field(0.7, ge=0, le=1, description="share of operations that are SETs")
    value_size_bytes: int = Field(256, ge=16, le=1 << 20, description="bytes per value")


class RedisStreamsParams(_RedisParams):
    """``redis.streams``: producers XADD numbered messages to a stream; consumers of one
    consumer group XREADGROUP, XACK, and XAUTOCLAIM what other consumers left pending."""

    producer_share: float = Field(
        0.5, gt=0, lt=1, description="share of the users that produce (the rest consume)"
    )
    message_size_bytes: int = Field(128, ge=16, le=1 << 20, description="payload bytes")
    read_count: int = Field(50, ge=1, le=10_000, description="entries asked for per read")
    block: Duration = Field(0.1, ge=0, le=10, description="how long a read waits for entries")
    claim_idle: Duration = Field(
        2.0, gt=0, le=3600, description="pending this long on a consumer, an entry is claimed"
    )
    claim_every: Duration = Field(1.0, gt=0, le=3600, description="how often a consumer claims")
    crash_every: Duration | None = Field(
        None,
        gt=0,
        le=86400,
        description="each consumer dies this often between reading a batch and its XACK "
        "and comes back as a new consumer (None: never)",
    )

    @model_validator(mode="after")
    def _timeout_covers_block(self) -> RedisStreamsParams:
        if self.op_timeout <= self.block:
            raise ValueError(
                f"op_timeout ({self.op_timeout:g}s) must be longer than block ({self.block:g}s)"
            )
        return self


class RedisPubSubParams(_RedisParams):
    """``redis.pubsub``: publishers PUBLISH numbered messages round-robin over
    ``channels``; subscribers hold a subscription to every channel."""

    publisher_share: float = Field(
        0.5, gt=0, lt=1, description="share of the users that publish (the rest subscribe)"
    )
    channels: int = Field(1, ge=1, le=100, description="channels published to")
    message_size_bytes: int = Field(128, ge=16, le=1 << 20, description="payload bytes")
    block: Duration = Field(
        0.1, gt=0, le=10, description="how long a subscriber waits for a message per poll"
    )
    resubscribe_backoff: Duration = Field(
        0.1,
        ge=0,
        le=60,
        description="pause before a subscriber that lost its connection "
        "subscribes again (what a client library's reconnect delay would be)",
    )


# -- S3 --------------------------------------------------------------------------------

ObjectSize = Annotated[ByteSize, size_between(1, 5 << 30)]
PART_MIN = 5 << 20  # S3's smallest part (all but the last)


class SizeClass(_Params):
    """Objects of a class get a size drawn uniformly from [min, max]."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,20}$")
    min: ObjectSize
    max: ObjectSize
    weight: float = Field(1.0, gt=0, description="relative share of uploads in this class")

    @model_validator(mode="after")
    def _ordered(self) -> SizeClass:
        if self.min > self.max:
            raise ValueError(
                f"size class {self.name}: min {format_size(self.min)} is above "
                f"max {format_size(self.max)}"
            )
        return self


class ObjectMix(_Params):
    """Relative weights of the operations (they need not add up to 100)."""

    put: float = Field(0, ge=0)
    get: float = Field(0, ge=0)
    list: float = Field(0, ge=0)
    delete: float = Field(0, ge=0)

    @model_validator(mode="after")
    def _something(self) -> ObjectMix:
        if self.put <= 0:
            raise ValueError("the mix needs a put weight above 0 (nothing to read otherwise)")
        return self

    def weights(self) -> dict[str, float]:
        return {op: w for op, w in self.model_dump().items() if w > 0}


class S3Params(_Params):
    """What every S3 workload shares: timeouts, multipart and verification."""

    op_timeout: Duration = Field(
        10.0, gt=0, le=600, description="socket read timeout of each request"
    )
    connect_timeout: Duration = Field(1.0, gt=0, le=60, description="TCP connect timeout")
    reconnect_backoff: Duration = Field(
        0.01, ge=0, le=10, description="pause after a request that could not connect"
    )
    multipart_threshold: Annotated[ByteSize, size_between(PART_MIN, 5 << 30)] = Field(
        8 << 20, description="objects of this size or larger are uploaded in parts"
    )
    part_size: Annotated[ByteSize, size_between(PART_MIN, 5 << 30)] = Field(
        8 << 20, description="size of each part of a multipart upload (the last may be smaller)"
    )
    list_max_keys: int = Field(100, ge=1, le=1000, description="keys asked for by each list")
    verify_reads: bool = Field(True, description="check every GET's bytes against the ledger")
    wait: Duration = Field(0.0, ge=0, le=60, description="pause between a user's operations")
    record: bool = Field(True, description="write the history (off only for benchmarks)")


def _small() -> list[SizeClass]:
    return [SizeClass(name="small", min=1000, max=100_000)]


def _mixed() -> list[SizeClass]:
    return [
        SizeClass(name="small", min=1000, max=100_000, weight=60),
        SizeClass(name="medium", min=100_000, max=10_000_000, weight=30),
        SizeClass(name="large", min=10_000_000, max=100_000_000, weight=10),
    ]


class _SizedParams(S3Params):
    sizes: list[SizeClass] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> _SizedParams:
        names = [c.name for c in self.sizes]
        if len(set(names)) != len(names):
            raise ValueError(f"size class names must differ, got {names}")
        return self


class S3SmallObjectsParams(_SizedParams):
    """``s3.small_objects``: many small uploads, some downloads and deletes."""

    sizes: list[SizeClass] = Field(default_factory=_small, min_length=1)
    mix: ObjectMix = Field(default_factory=lambda: ObjectMix(put=70, get=20, delete=10))


class S3MixedParams(_SizedParams):
    """``s3.mixed``: small, medium and large objects; uploads, downloads, lists, deletes."""

    sizes: list[SizeClass] = Field(default_factory=_mixed, min_length=1)
    mix: ObjectMix = Field(default_factory=lambda: ObjectMix(put=50, get=35, list=10, delete=5))


class SharedMix(_Params):
    """Weights for ``s3.concurrent_access``: the shared objects are never deleted."""

    get: float = Field(80, ge=0)
    list: float = Field(10, ge=0)
    put: float = Field(10, ge=0)

    def weights(self) -> dict[str, float]:
        return {op: w for op, w in self.model_dump().items() if w > 0}


class S3ConcurrentParams(S3Params):
    """``s3.concurrent_access``: every user reads and overwrites one pool of objects."""

    objects: int = Field(100, ge=1, le=100_000, description="objects in the shared pool")
    object_size: ObjectSize = Field(1 << 20, description="size of each shared object")
    mix: SharedMix = Field(default_factory=SharedMix)

    @model_validator(mode="after")
    def _something(self) -> S3ConcurrentParams:
        if not self.mix.weights():
            raise ValueError("mix: at least one of get, list, put needs a weight above 0")
        return self


# -- the registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    params: type[_Params]
    service_kind: str
    users: int
    spawn_rate: float
    ops: tuple[str, ...]  # the history's operation names this workload writes
    write_ops: tuple[str, ...]


WORKLOAD_INFO: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("redis.kv", RedisKVParams, "redis", 10, 10.0, ("set", "get"), ("set",)),
        Workload(
            "redis.streams", RedisStreamsParams, "redis", 8, 20.0, ("send", "read"), ("send",)
        ),
        Workload("redis.pubsub", RedisPubSubParams, "redis", 8, 20.0, ("send",), ("send",)),
        Workload(
            "s3.small_objects",
            S3SmallObjectsParams,
            "s3",
            20,
            5.0,
            ("put", "get", "list", "delete"),
            ("put",),
        ),
        Workload(
            "s3.mixed", S3MixedParams, "s3", 15, 3.0, ("put", "get", "list", "delete"), ("put",)
        ),
        Workload(
            "s3.concurrent_access",
            S3ConcurrentParams,
            "s3",
            50,
            10.0,
            ("put", "get", "list"),
            ("put",),
        ),
    )
}
WORKLOADS: dict[str, type[BaseModel]] = {n: w.params for n, w in WORKLOAD_INFO.items()}
WORKLOAD_SERVICE_KINDS: dict[str, str] = {n: w.service_kind for n, w in WORKLOAD_INFO.items()}
LOAD_OPS = frozenset(op for w in WORKLOAD_INFO.values() for op in w.ops)
