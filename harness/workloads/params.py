"""Typed parameters of each workload (importable without locust)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from harness.units import Duration


class RedisKVParams(BaseModel):
    """``redis.kv``: SETs of unique keys with digest-checkable values, GETs of acked keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    write_ratio: float = Field(0.7, ge=0, le=1, description="share of operations that are SETs")
    value_size_bytes: int = Field(256, ge=16, le=1 << 20, description="bytes per value")
    op_timeout: Duration = Field(0.5, gt=0, le=60, description="per-operation socket timeout")
    connect_timeout: Duration = Field(0.5, gt=0, le=60, description="TCP connect timeout")
    reconnect_backoff: Duration = Field(
        0.01, ge=0, le=10, description="pause after a failed connection attempt"
    )
    wait: Duration = Field(0.0, ge=0, le=60, description="pause between a user's operations")
    record: bool = Field(True, description="write the history (off only for benchmarks)")


WORKLOADS: dict[str, type[BaseModel]] = {"redis.kv": RedisKVParams}
WORKLOAD_SERVICE_KINDS: dict[str, str] = {"redis.kv": "redis"}
