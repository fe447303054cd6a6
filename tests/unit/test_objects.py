"""Object bodies, the object integrity checker and per-operation statistics, on
synthetic data."""

from __future__ import annotations

import hashlib
import io
import random
from typing import Any

import pytest

from harness.checks.objects import check_objects
from harness.opstats import access_counts, access_summary, breakdown, first_write_after
from harness.workloads.objects import BLOCK, ObjectSource, pick_size, plan_upload
from harness.workloads.params import S3MixedParams

# -- bodies ------------------------------------------------------------------------------


def test_a_body_streams_the_same_bytes_as_its_digest_and_any_range_alone() -> None:
    source = ObjectSource("run/u0/1", 7, 3 * BLOCK + 123)
    whole = b"".join(source.chunks())
    assert len(whole) == source.size
    assert hashlib.sha256(whole).digest() == source.sha256()
    assert b"".join(source.chunks(BLOCK - 5, 2 * BLOCK + 9)) == whole[BLOCK - 5 : 2 * BLOCK + 9]
    assert source.sha256(10, 20) == hashlib.sha256(whole[10:20]).digest()


def test_a_body_file_reads_in_pieces_and_seeks_back_for_a_second_pass() -> None:
    source = ObjectSource("k", 1, 200_000)
    body = source.body(70_000, 150_001)
    assert len(body) == 80_001
    first = b"".join(iter(lambda: body.read(4096), b""))
    assert body.tell() == 80_001
    body.seek(0)
    assert body.read() == first == b"".join(source.chunks(70_000, 150_001))
    body.seek(-1, io.SEEK_END)
    assert body.read(10) == first[-1:]
    assert body.read(10) == b""


def test_bodies_differ_by_key_seed_and_block() -> None:
    a = ObjectSource("k1", 1, 2 * BLOCK)
    assert a.sha256() != ObjectSource("k2", 1, 2 * BLOCK).sha256()
    assert a.sha256() != ObjectSource("k1", 2, 2 * BLOCK).sha256()
    assert a.block(0) != a.block(1)  # bytes moved within an object are caught too


def test_an_upload_plan_hashes_the_object_and_each_part_in_one_pass() -> None:
    source = ObjectSource("big", 3, 20 * BLOCK + 17)
    whole = b"".join(source.chunks())
    assert plan_upload(source, threshold=len(whole) + 1, part_size=BLOCK).parts == ()
    plan = plan_upload(source, threshold=len(whole), part_size=8 * BLOCK)
    assert plan.digest == hashlib.sha256(whole).digest()
    assert [(a, b) for a, b, _ in plan.parts] == [
        (0, 8 * BLOCK),
        (8 * BLOCK, 16 * BLOCK),
        (16 * BLOCK, 20 * BLOCK + 17),
    ]
    for a, b, digest in plan.parts:
        assert digest == hashlib.sha256(whole[a:b]).digest()


def test_sizes_are_drawn_by_class_weight_within_each_class() -> None:
    classes = S3MixedParams().sizes
    rng = random.Random(3)
    draws = [pick_size(rng, classes) for _ in range(3000)]
    by_class = {c.name: c for c in classes}
    for name, size in draws:
        assert by_class[name].min <= size <= by_class[name].max
    share = sum(1 for name, _ in draws if name == "small") / len(draws)
    assert 0.55 < share < 0.65


# -- the checker -------------------------------------------------------------------------

_clock = iter(range(1, 10**9))


def op(kind: str, key: str, digest: str | None = None, type_: str = "ok", **extra: Any) -> Any:
    t = next(_clock) * 1000
    return {
        "t_start": t,
        "t_end": t + 500,
        "process": "u0",
        "op": kind,
        "key": key,
        "digest": digest,
        "type": type_,
        "error": None,
        **extra,
    }


def swept(values: dict[str, str | None]) -> list[dict[str, Any]]:
    listed = [k for k, v in values.items() if v is not None]
    return [
        {"op": "sweep-list", "type": "ok", "keys": listed},
        {"op": "sweep-get", "type": "ok", "values": values},
    ]


def test_every_acknowledged_object_intact_passes() -> None:
    history = [op("put", "a", "d1"), op("get", "a", "d1"), op("put", "b", "d2")]
    result = check_objects([*history, *swept({"a": "d1", "b": "d2"})])
    assert result["verdict"] == "pass"
    assert result["acked"] == 2


def test_an_acknowledged_object_missing_at_the_sweep_is_lost() -> None:
    history = [op("put", "a", "d1"), op("put", "b", "d2")]
    result = check_objects([*history, *swept({"a": "d1", "b": None})])
    assert result["verdict"] == "fail"
    assert result["lost"] == 1
    assert result["examples"]["lost"] == ["b"]


def test_bytes_no_upload_sent_are_corrupted_and_an_overwritten_version_is_stale() -> None:
    history = [op("put", "a", "d1"), op("put", "s", "v1"), op("put", "s", "v2")]
    result = check_objects([*history, *swept({"a": "other", "s": "v1"})])
    assert result["corrupted"] == 1
    assert result["stale"] == 1
    assert result["verdict"] == "fail"


def test_a_version_written_concurrently_with_the_last_ack_may_win() -> None:
    v1 = op("put", "s", "v1")
    v2 = op("put", "s", "v2")
    v1["t_end"] = v2["t_end"] + 10  # the two writes overlapped
    result = check_objects([v1, v2, *swept({"s": "v1"})])
    assert result["verdict"] == "pass"


def test_present_after_an_acknowledged_delete_is_resurrected() -> None:
    history = [op("put", "a", "d1"), op("delete", "a")]
    assert check_objects([*history, *swept({"a": None})])["verdict"] == "pass"
    result = check_objects([*history, *swept({"a": "d1"})])
    assert result["resurrected"] == 1
    assert result["verdict"] == "fail"


def test_an_indeterminate_delete_allows_either_outcome() -> None:
    history = [op("put", "a", "d1"), op("delete", "a", type_="info")]
    assert check_objects([*history, *swept({"a": None})])["verdict"] == "pass"
    assert check_objects([*history, *swept({"a": "d1"})])["verdict"] == "pass"


def test_indeterminate_uploads_may_be_recovered_refused_ones_must_not_appear() -> None:
    history = [op("put", "a", "d1", "info"), op("put", "b", "d2", "fail")]
    result = check_objects([*history, *swept({"a": "d1", "b": None})])
    assert (result["recovered"], result["verdict"]) == (1, "pass")
    result = check_objects([*history, *swept({"a": None, "b": "d2"})])
    assert (result["unexpected"], result["verdict"]) == (1, "fail")


def test_an_object_never_uploaded_is_unexpected() -> None:
    result = check_objects([op("put", "a", "d1"), *swept({"a": "d1", "ghost": "x"})])
    assert result["unexpected"] == 1
    assert result["examples"]["unexpected"] == ["ghost"]


def test_reads_during_the_run_are_judged_against_the_ledger() -> None:
    history = [
        op("put", "a", "d1"),
        op("get", "a", "zz", "fail", error="ChecksumMismatch"),
        op("get", "a", None, "fail", missing=True),
        op("get", "a", None, "fail"),  # a refused read says nothing about the object
    ]
    result = check_objects([*history, *swept({"a": "d1"})])
    assert (result["read_corrupted"], result["read_lost"]) == (1, 1)
    assert result["verdict"] == "fail"


def test_a_read_missing_an_object_being_deleted_is_not_lost() -> None:
    put = op("put", "a", "d1")
    delete = op("delete", "a")
    get = op("get", "a", None, "fail", missing=True)
    get["t_start"] = delete["t_start"] - 1
    get["t_end"] = delete["t_end"] + 1
    assert check_objects([put, delete, get, *swept({"a": None})])["read_lost"] == 0


@pytest.mark.parametrize(
    "sweep",
    [
        [],
        [{"op": "sweep-list", "type": "fail", "error": "EndpointConnectionError"}],
        [
            {"op": "sweep-list", "type": "ok", "keys": []},
            {"op": "sweep-get", "type": "fail", "keys": ["a"], "error": "ReadTimeout"},
        ],
    ],
)
def test_the_verdict_is_unknown_when_the_sweep_did_not_read_everything(
    sweep: list[dict[str, Any]],
) -> None:
    assert check_objects([op("put", "a", "d1"), *sweep])["verdict"] == "unknown"


# -- statistics ----------------------------------------------------------------------


def test_breakdown_by_operation_and_size_class() -> None:
    records = [
        op("put", "a", "d", size=1000, **{"class": "small"}),
        op("put", "b", "d", "fail", size=2000, **{"class": "small"}),
        op("put", "c", "d", size=4_000_000, **{"class": "large"}),
        op("get", "a", "d", size=1000, **{"class": "small"}),
        op("list", "p/"),
        op("sweep-list", "p/"),  # not a load operation
    ]
    rows = breakdown(records, ("put", "get", "list", "delete"), 2.0)
    table = {(r["op"], r["size_class"]): r for r in rows}
    assert list(table) == [
        ("put", "all"),
        ("put", "large"),
        ("put", "small"),
        ("get", "all"),
        ("list", "all"),
    ]
    put = table[("put", "all")]
    assert (put["ops"], put["ok"], put["fail"], put["success_rate"]) == (3, 2, 1, 0.6667)
    assert put["ops_s"] == 1.0
    assert put["mb_s"] == pytest.approx(4_001_000 / 2 / 1e6, abs=1e-3)
    assert table[("put", "small")]["success_rate"] == 0.5
    assert table[("get", "all")]["p50_ms"] == pytest.approx(0.0005, abs=0.01)


def test_access_counts_and_first_write_after_revert() -> None:
    records = [
        op("get", "r/shared/00001"),
        op("get", "r/shared/00001"),
        op("put", "r/shared/00002", "d"),
        op("get", "elsewhere"),
    ]
    counts = access_counts(records, "r/shared/")
    assert counts == {
        "r/shared/00001": {"get": 2, "put": 0},
        "r/shared/00002": {"get": 0, "put": 1},
    }
    summary = access_summary(counts)
    assert summary["hottest"][0] == {"key": "r/shared/00001", "reads": 2, "writes": 0}
    t0 = records[0]["t_start"]
    records[2]["t_end"] = t0 + 2_250_000_000  # acknowledged 2.25 s into the run
    assert first_write_after(records, ("put",), t0, 2.0) == pytest.approx(0.25)
    assert first_write_after(records, ("put",), t0, 3.0) is None
