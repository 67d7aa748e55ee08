"""The checker on traces recorded from the failovers that lost acknowledged writes before the
resync and in-sync fixes (tests/data/), and on the end-of-run `routing` record."""

from __future__ import annotations

from pathlib import Path

from occsim.cluster.trace import checker, events as trace

DATA = Path(__file__).parent.parent / "data"


def violations(name: str) -> list[checker.Violation]:
    return checker.check(trace.read(DATA / f"{name}.jsonl"), profile=7)


def test_the_write_lost_after_two_failovers_is_reported():
    found = violations("lost_after_two_failovers")
    assert [v.invariant for v in found] == ["acked_durability"]
    assert "doc 'c'" in found[0].message


def test_a_shard_that_lost_every_copy_reports_the_acknowledged_write():
    found = violations("red_after_every_copy_away")
    assert [v.invariant for v in found] == ["acked_durability"]
    assert found[0].message.endswith("idx[0] ended with no active copy.")


def _run(routing: dict, copies: list[dict]) -> list[dict]:
    events = [
        {"kind": "primary_write", "node": "n1", "index": "i", "shard": 0, "doc": "1",
         "op": "index", "version": 1, "seq_no": 0, "term": 1, "digest": "d", "result": "created",
         "msg": "r1"},
        {"kind": "response", "node": "n1", "index": "i", "shard": 0, "doc": "1", "version": 1,
         "seq_no": 0, "term": 1, "status": 201, "result": "created", "msg": "r1"},
    ]
    events += [{"kind": "state", "index": "i", "shard": 0, "term": 1, **c} for c in copies]
    events.append({"kind": "routing", "node": "manager", "index": "i", "shard": 0, **routing})
    return [{"t": 0.0, "lc": n, "seq": n, **e} for n, e in enumerate(events)]


HELD = {"id": "1", "version": 1, "seq_no": 0, "term": 1, "digest": "d", "deleted": False}


def test_a_red_shard_with_an_in_sync_copy_in_the_cluster_is_reported():
    events = _run({"primary": None, "term": 1, "in_sync": ["n2"], "members": ["n1", "n2"]}, [])
    assert [v.invariant for v in checker.check(events)] == ["acked_durability", "availability"]


def test_a_red_shard_whose_in_sync_copies_are_away_is_not_an_availability_violation():
    events = _run({"primary": None, "term": 1, "in_sync": ["n2"], "members": ["n1"]}, [])
    assert [v.invariant for v in checker.check(events)] == ["acked_durability"]


def test_a_write_held_only_by_a_recovering_copy_is_lost():
    copy = {"node": "n2", "primary": False, "active": False, "docs": [HELD]}
    empty = {"node": "n1", "primary": True, "active": True, "docs": []}
    events = _run({"primary": "n1", "term": 1, "in_sync": ["n1"], "members": ["n1", "n2"]},
                  [empty, copy])
    assert "acked_durability" in [v.invariant for v in checker.check(events)]


def test_a_write_on_an_active_copy_is_kept():
    copy = {"node": "n1", "primary": True, "active": True, "docs": [HELD]}
    events = _run({"primary": "n1", "term": 1, "in_sync": ["n1"], "members": ["n1"]}, [copy])
    assert checker.check(events) == []
