"""The recorder's compact events give back exactly the event dicts a trace reader expects,
whether kept as recorded (the simulation, the manager) or packed as recorded (a node process)."""

from __future__ import annotations

import pytest

from occsim.node import member
from occsim.node.profiles import profile
from occsim.transport.network import LinkConfig
from occsim.transport.recorder import (ABSENT, PackedRecorder, Recorder, digest, expand,
                                        unpack_batch)


def clock() -> float:
    return 1.5


BOTH = pytest.mark.parametrize("packed", [False, True], ids=["kept", "packed"])


def recorder(packed: bool, **options: object) -> Recorder:
    return (PackedRecorder if packed else Recorder)("n1", clock, **options)


@BOTH
def test_a_message_event_expands_to_the_dict_it_stands_for(packed):
    rec = recorder(packed)
    rec.add_message("send", "n1:4", "n1", "n2", "replicate", 0.0,
                    {"index": "i", "doc": "d", "seq_no": 7, "term": 1, "source": {"x": 1}})
    rec.add_message("deliver", "n2:9", "n2", "n1", "replicate_ok", "n1:4", {})
    assert rec.drain() == [
        {"msg": "n1:4", "src": "n1", "dst": "n2", "mkind": "replicate", "delay_ms": 0.0,
         "index": "i", "doc": "d", "seq_no": 7, "term": 1,
         "kind": "send", "node": "n1", "t": 1.5, "lc": 1, "seq": 0},
        {"msg": "n2:9", "src": "n2", "dst": "n1", "mkind": "replicate_ok", "reply_to": "n1:4",
         "kind": "deliver", "node": "n1", "t": 1.5, "lc": 2, "seq": 1}]


@BOTH
def test_a_message_event_leaves_out_a_whole_document(packed):
    rec = recorder(packed)
    rec.add_message("deliver", "n2:3", "n2", "n1", "get_ok", "n1:2",
                    {"doc": {"version": 1, "source": {"x": 1}}, "shard": 0})
    (event,) = rec.drain()
    assert "doc" not in event and event["shard"] == 0


@BOTH
def test_a_shaped_event_has_its_fields_in_order_but_the_absent_ones(packed):
    rec = recorder(packed)
    rec.add("response", ("alice", 409, "PUT", "/i/_doc/1?version=1", None, ABSENT, "i", "1",
                         ABSENT, ABSENT, ABSENT, "version conflict"))
    rec.add("primary_write", ("i", 0, "1", "index", 2, 1, 1, {"x": 1}, "updated", "external",
                              2, ABSENT, ABSENT))
    response, write = rec.drain()
    assert list(response.items()) == [
        ("client", "alice"), ("status", 409), ("method", "PUT"),
        ("path", "/i/_doc/1?version=1"), ("msg", None), ("index", "i"), ("doc", "1"),
        ("reason", "version conflict"), ("kind", "response"), ("node", "n1"), ("t", 1.5),
        ("lc", 1), ("seq", 0)]
    assert list(write)[:12] == ["index", "shard", "doc", "op", "version", "seq_no", "term",
                                "digest", "result", "version_type", "expected_version", "kind"]


@BOTH
def test_a_primary_writes_digest_is_taken_from_its_source_when_read(packed):
    rec = recorder(packed)
    source = {"b": [1, "\udcff"], "a": 2.5}
    rec.add("primary_write", ("i", 0, "1", "index", 2, 1, 1, source, "updated", "internal",
                              ABSENT, ABSENT, ABSENT))
    rec.add("primary_write", ("i", 0, "1", "delete", 3, 2, 1, None, "deleted", "internal",
                              ABSENT, ABSENT, ABSENT))
    assert [e["digest"] for e in rec.drain()] == [digest({"a": 2.5, "b": [1, "\udcff"]}), ""]


@BOTH
def test_off_an_event_only_ticks_the_clock(packed):
    rec = recorder(packed, enabled=False)
    rec.add_message("send", "n1:4", "n1", "n2", "replicate", 0.0, {})
    rec.add("ack", ("n2", "n1", "i", 0, "1", 1, 0, 1, "applied"))
    assert rec.lc == 2 and rec.drain() == []


def test_a_packed_value_msgpack_cannot_hold_becomes_its_repr():
    rec = recorder(True)
    rec.record("fault", action="kill", target=2 ** 70)
    rec.record("fault", action="heal", target="*")
    assert [e["target"] for e in rec.drain()] == [repr(2 ** 70), "*"]


def test_a_packed_lone_surrogate_comes_back_as_it_was_recorded():
    rec = recorder(True)
    rec.add("apply", ("i", 0, "d\ud800", "index", 1, 0, 1))
    rec.record("fault", action="kill", target="n\udfff1")
    assert [(e.get("doc"), e.get("target")) for e in rec.drain()] == [
        ("d\ud800", None), (None, "n\udfff1")]


def fill(rec: Recorder) -> None:
    for n in range(5):
        rec.record("fault", action="kill", target=f"n{n}")
        rec.add_message("send", f"n1:{n}", "n1", "n2", "forward", 1.0, {"doc": str(n)})


def test_an_event_about_another_party_keeps_its_node_once_packed():
    rec = recorder(True)
    rec.record("fault", action="kill", target="n2")
    rec.record_as("n2", "node_down", abrupt=True)
    assert [(e["node"], e["seq"], e["lc"]) for e in rec.drain()] == [("n1", 0, 1), ("n2", 1, 2)]


def test_a_members_events_are_shipped_as_one_packed_batch():
    m = member.Member("n1", profile(7), base_clock=clock, timer=clock, seed=1, link=LinkConfig(),
                      trace=True, pack_events=True)
    m.recorder.drain_raw()
    alike = Recorder("n1", m.recorder.clock)
    alike.lc, alike._seq = m.recorder.lc, m.recorder._drained
    fill(m.recorder)
    fill(alike)
    reply = m.handle("manager", "events", {})
    assert expand(unpack_batch(reply["packed"])) == alike.drain()
    assert m.recorder.drain_raw() == []
    assert unpack_batch(m.handle("manager", "events", {})["packed"]) == []


@BOTH
def test_a_members_events_read_its_clock_with_the_offset_it_was_advanced_by(packed):
    m = member.Member("n1", profile(7), base_clock=clock, timer=clock, seed=1, link=LinkConfig(),
                      trace=True, pack_events=packed)
    m.recorder.drain_raw()
    m.recorder.record("fault", action="before")
    assert m.handle("manager", "control", {"op": "advance_clock", "seconds": 60}) == {"ok": True}
    m.recorder.record("fault", action="after")
    assert [e["t"] for e in m.recorder.drain()] == [1.5, 61.5]
