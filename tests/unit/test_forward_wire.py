"""A forwarded write's wire form (`DocWrite.to_wire`): only what differs from the defaults
travels, and the primary rebuilds exactly the write that was sent."""

from __future__ import annotations

import pytest

from occsim.node.node import DocWrite, ShardBulk
from occsim.transport.message import pack, unpack

PLAIN = DocWrite("blog", "_doc", "1", "index", source={"title": "x"}, shard=2)
EVERYTHING = DocWrite("blog", "post", "1", "delete", version=3, version_type="external",
                      if_seq_no=0, if_primary_term=1, create=True, routing="r",
                      wait_for_active_shards="all", timeout=60, shard=0, refresh="true")


def test_a_plain_write_carries_its_name_and_the_fields_a_trace_shows():
    assert PLAIN.to_wire() == {"index": "blog", "doc_type": "_doc", "doc_id": "1",
                               "op": "index", "version": -3, "shard": 2,
                               "source": {"title": "x"}}


@pytest.mark.parametrize("w", [PLAIN, EVERYTHING, DocWrite("i", "t", "d", "index", timeout=1.5,
                                                             wait_for_active_shards=2)])
def test_the_primary_rebuilds_the_write_sent(w):
    back = DocWrite.from_wire(unpack(pack(w.to_wire())))
    assert back == w
    assert [type(getattr(back, k)) for k in back.__slots__] == \
        [type(getattr(w, k)) for k in w.__slots__]  # 60 stays an int, 0 is not False


def test_a_shard_bulk_round_trips():
    bulk = ShardBulk([PLAIN, DocWrite("blog", "_doc", "2", "delete", shard=2)])
    assert ShardBulk.from_wire(unpack(pack(bulk.to_wire()))) == bulk
