"""The key-value integrity checker on synthetic histories."""

from __future__ import annotations

from typing import Any

from harness.checks.integrity import EXAMPLES, check_integrity

_clock = iter(range(1, 10**9))


def write(key: str, digest: str, type_: str = "ok") -> dict[str, Any]:
    t = next(_clock) * 1000
    return {
        "t_start": t,
        "t_end": t + 500,
        "process": "u0",
        "op": "set",
        "key": key,
        "digest": digest,
        "type": type_,
        "error": None if type_ == "ok" else "TimeoutError: timed out",
    }


def read(key: str, digest: str | None, type_: str = "ok") -> dict[str, Any]:
    t = next(_clock) * 1000
    return {
        "t_start": t,
        "t_end": t + 500,
        "process": "u1",
        "op": "get",
        "key": key,
        "digest": digest,
        "type": type_,
        "error": None,
    }


def final_read(values: dict[str, str | None], type_: str = "ok") -> dict[str, Any]:
    rec: dict[str, Any] = {"op": "final-read", "process": "checker", "type": type_}
    if type_ == "ok":
        rec["values"] = values
    else:
        rec["error"] = "ConnectionError: refused"
    return rec


def final_scan(unattempted: list[str] | None = None) -> dict[str, Any]:
    return {
        "op": "final-scan",
        "process": "checker",
        "type": "ok",
        "scanned": 0,
        "unattempted": unattempted or [],
    }


def acked(n: int) -> list[dict[str, Any]]:
    return [write(f"k:{i}", f"d{i}") for i in range(n)]


def readback(writes: list[dict[str, Any]]) -> dict[str, str | None]:
    return {w["key"]: w["digest"] for w in writes}


def test_all_acked_writes_read_back_passes_with_the_acked_count():
    writes = acked(5)
    result = check_integrity([*writes, final_read(readback(writes)), final_scan()])
    assert result["verdict"] == "pass"
    assert result["acked"] == 5
    assert result["lost"] == result["corrupted"] == result["unexpected"] == 0
    assert result["recovered"] == 0
    assert result["read_lost"] == result["read_corrupted"] == 0
    assert result["examples"] == {}


def test_acked_key_missing_from_the_final_read_is_lost():
    writes = acked(5)
    values = readback(writes)
    values["k:3"] = None
    result = check_integrity([*writes, final_read(values), final_scan()])
    assert result["verdict"] == "fail"
    assert result["acked"] == 5
    assert result["lost"] == 1
    assert result["corrupted"] == 0
    assert result["examples"]["lost"] == ["k:3"]


def test_acked_key_with_another_digest_is_corrupted():
    writes = acked(3)
    values = readback(writes)
    values["k:1"] = "something-else"
    result = check_integrity([*writes, final_read(values), final_scan()])
    assert result["verdict"] == "fail"
    assert result["corrupted"] == 1
    assert result["lost"] == 0
    assert result["examples"]["corrupted"] == ["k:1"]


def test_key_found_by_the_scan_but_never_written_is_unexpected():
    writes = acked(3)
    result = check_integrity([*writes, final_read(readback(writes)), final_scan(["k:ghost"])])
    assert result["verdict"] == "fail"
    assert result["unexpected"] == 1
    assert result["examples"]["unexpected"] == ["k:ghost"]


def test_failed_write_that_is_present_is_unexpected():
    writes = [*acked(2), write("k:refused", "dr", type_="fail")]
    values = readback(writes)
    result = check_integrity([*writes, final_read(values), final_scan()])
    assert result["verdict"] == "fail"
    assert result["unexpected"] == 1
    assert result["examples"]["unexpected"] == ["k:refused"]
    assert result["acked"] == 2


def test_failed_write_that_is_absent_is_fine():
    writes = [*acked(2), write("k:refused", "dr", type_="fail")]
    values = readback(writes)
    values["k:refused"] = None
    result = check_integrity([*writes, final_read(values), final_scan()])
    assert result["verdict"] == "pass"
    assert result["unexpected"] == 0


def test_indeterminate_write_present_with_its_digest_is_recovered():
    writes = [*acked(2), write("k:maybe", "dm", type_="info")]
    result = check_integrity([*writes, final_read(readback(writes)), final_scan()])
    assert result["verdict"] == "pass"
    assert result["recovered"] == 1
    assert result["info"] == 1
    assert result["acked"] == 2
    assert result["lost"] == 0


def test_indeterminate_write_absent_is_not_lost():
    writes = [*acked(2), write("k:maybe", "dm", type_="info")]
    values = readback(writes)
    values["k:maybe"] = None
    result = check_integrity([*writes, final_read(values), final_scan()])
    assert result["verdict"] == "pass"
    assert result["lost"] == 0
    assert result["recovered"] == 0
    assert result["info"] == 1


def test_indeterminate_write_present_with_another_digest_is_corrupted():
    writes = [write("k:maybe", "dm", type_="info")]
    result = check_integrity([*writes, final_read({"k:maybe": "other"}), final_scan()])
    assert result["verdict"] == "fail"
    assert result["corrupted"] == 1


def test_without_a_final_read_the_verdict_is_unknown():
    writes = acked(3)
    result = check_integrity(writes)
    assert result["verdict"] == "unknown"
    assert result["acked"] == 3
    assert result["lost"] == 0


def test_a_failed_final_read_makes_the_verdict_unknown():
    writes = acked(3)
    result = check_integrity([*writes, final_read({}, type_="fail")])
    assert result["verdict"] == "unknown"


def test_a_final_read_that_failed_part_way_is_unknown_even_with_losses_seen():
    # The first batch came back (k:0 missing), the second batch never did.
    writes = acked(4)
    result = check_integrity(
        [*writes, final_read({"k:0": None, "k:1": "d1"}), final_read({}, type_="fail")]
    )
    assert result["verdict"] == "unknown"
    assert result["lost"] == 1  # the keys that were read back are still judged
    assert result["acked"] == 4


def test_final_read_in_batches_is_merged():
    writes = acked(4)
    values = readback(writes)
    first = {k: values[k] for k in ("k:0", "k:1")}
    second = {"k:2": values["k:2"], "k:3": None}
    result = check_integrity([*writes, final_read(first), final_read(second), final_scan()])
    assert result["verdict"] == "fail"
    assert result["lost"] == 1
    assert result["examples"]["lost"] == ["k:3"]


def test_get_during_the_run_returning_nothing_for_an_acked_key_is_read_lost():
    writes = acked(3)
    history = [
        *writes,
        read("k:0", "d0"),
        read("k:1", None),
        read("k:2", "wrong"),
        final_read(readback(writes)),
        final_scan(),
    ]
    result = check_integrity(history)
    assert result["read_lost"] == 1
    assert result["read_corrupted"] == 1


def test_failed_gets_and_gets_of_unacked_keys_are_not_judged():
    writes = [*acked(1), write("k:maybe", "dm", type_="info")]
    history = [
        *writes,
        read("k:0", None, type_="fail"),
        read("k:maybe", None),
        read("k:unknown", None),
        final_read(readback(writes)),
        final_scan(),
    ]
    result = check_integrity(history)
    assert result["read_lost"] == 0
    assert result["read_corrupted"] == 0


def test_examples_are_capped_but_counts_are_not():
    writes = acked(EXAMPLES + 5)
    values = dict.fromkeys(readback(writes))
    result = check_integrity([*writes, final_read(values), final_scan()])
    assert result["lost"] == EXAMPLES + 5
    assert len(result["examples"]["lost"]) == EXAMPLES


def test_other_records_in_the_history_are_ignored():
    writes = acked(2)
    history = [
        {"op": "run", "t0_ns": 0, "wall": 0.0},
        {"op": "fault", "process": "nemesis", "action": "apply", "type": "ok"},
        *writes,
        {"op": "run-end", "wall": 1.0},
        final_read(readback(writes)),
        final_scan(),
    ]
    result = check_integrity(history)
    assert result["verdict"] == "pass"
    assert result["acked"] == 2


def test_a_read_that_missed_an_acked_key_fails_the_check_even_if_it_is_back_at_the_end():
    history = [write("k1", "d1"), read("k1", None), final_read({"k1": "d1"}), final_scan()]
    result = check_integrity(history)
    assert result["read_lost"] == 1
    assert result["verdict"] == "fail"


def test_a_run_that_wrote_nothing_passes_on_its_scan_alone():
    result = check_integrity([final_scan()])
    assert result["verdict"] == "pass" and result["acked"] == 0
