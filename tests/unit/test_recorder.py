"""The recorder's compact message events and the member's sliced packing give back exactly the
event dicts a trace reader expects."""

from __future__ import annotations

import asyncio

from occsim.node import member
from occsim.node.profiles import profile
from occsim.transport.message import unpack
from occsim.transport.network import LinkConfig
from occsim.transport.recorder import Recorder, expand


def clock() -> float:
    return 1.5


def test_a_message_event_expands_to_the_dict_it_stands_for():
    rec = Recorder("n1", clock)
    rec.add_message("send", "n1:4", "n1", "n2", "replicate", "delay_ms", 0.0,
                    {"index": "i", "doc": "d", "seq_no": 7, "term": 1, "source": {"x": 1}})
    rec.add_message("deliver", "n2:9", "n2", "n1", "replicate_ok", "reply_to", "n1:4", {})
    assert rec.drain() == [
        {"msg": "n1:4", "src": "n1", "dst": "n2", "mkind": "replicate", "delay_ms": 0.0,
         "index": "i", "doc": "d", "seq_no": 7, "term": 1,
         "kind": "send", "node": "n1", "t": 1.5, "lc": 1, "seq": 0},
        {"msg": "n2:9", "src": "n2", "dst": "n1", "mkind": "replicate_ok", "reply_to": "n1:4",
         "kind": "deliver", "node": "n1", "t": 1.5, "lc": 2, "seq": 1}]


def test_a_message_event_leaves_out_a_whole_document():
    rec = Recorder("n1", clock)
    rec.add_message("deliver", "n2:3", "n2", "n1", "get_ok", "reply_to", "n1:2",
                    {"doc": {"version": 1, "source": {"x": 1}}, "shard": 0})
    (event,) = rec.drain()
    assert "doc" not in event and event["shard"] == 0


def test_off_a_message_event_only_ticks_the_clock():
    rec = Recorder("n1", clock, enabled=False)
    rec.add_message("send", "n1:4", "n1", "n2", "replicate", "delay_ms", 0.0, {})
    assert rec.lc == 1 and rec.drain() == []


def fill(rec: Recorder) -> None:
    for n in range(5):
        rec.record("fault", action="kill", target=f"n{n}")
        rec.add_message("send", f"n1:{n}", "n1", "n2", "forward", "delay_ms", 1.0,
                        {"doc": str(n)})


def test_events_packed_in_slices_read_back_as_one_batch(monkeypatch):
    monkeypatch.setattr(member, "EVENTS_PER_SLICE", 2)
    m = member.Member("n1", profile(7), base_clock=clock, timer=clock, seed=1, link=LinkConfig(),
                      trace=True)
    m.recorder.drain_raw()
    alike = Recorder("n1", m.recorder.clock)
    alike.lc, alike._seq = m.recorder.lc, m.recorder._seq
    fill(m.recorder)
    fill(alike)
    reply = asyncio.run(m.handle("manager", "events", {}))
    assert expand(unpack(reply["packed"])) == alike.drain()
    assert m.recorder.drain_raw() == []
