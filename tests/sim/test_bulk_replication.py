"""`_bulk` on a simulated cluster: one request per shard to its primary, one replication message
per shard and replica carrying the shard's operations in order, per-item answers."""

from __future__ import annotations

import json
from collections import Counter

from occsim.cluster.trace.checker import check
from occsim.transport.network import LinkConfig

NODES = 3
SHARDS = 3
COORDINATOR = "n2"


def ndjson(*lines: dict) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


async def post_bulk(cluster, node: str, body: bytes):
    return await cluster.backend.sender(node, "POST", "/_bulk",
                                        {"Content-Type": "application/x-ndjson"}, body)


def sends(events: list[dict], mkind: str) -> Counter:
    """How many messages of a kind each (src, dst, shard) sent."""
    return Counter((e["src"], e["dst"], e.get("shard")) for e in events
                   if e["kind"] == "send" and e.get("mkind") == mkind)


def test_a_bulk_sends_one_replication_message_per_shard_and_replica(sim):
    ids = [str(n) for n in range(30)]
    seen: dict = {}

    async def story(manager, cluster):
        await manager.create_index("idx", {"settings": {"number_of_shards": SHARDS,
                                                        "number_of_replicas": 2}})
        reply = await post_bulk(cluster, COORDINATOR, ndjson(*[
            line for doc in ids for line in ({"index": {"_index": "idx", "_id": doc}},
                                              {"n": doc})]))
        assert reply.status == 200 and reply["errors"] is False, reply.body
        seen["items"] = reply["items"]
        seen["shard_of"] = {doc: cluster.shard_of("idx", doc) for doc in ids}
        seen["routing"] = manager.master.state["indices"]["idx"]["routing"]
        await cluster.quiesce()

    events = sim(story, nodes=NODES, es_compat=7,
                 link=LinkConfig(delay_min_ms=1, delay_max_ms=30))
    routing = seen["routing"]
    assert len(set(seen["shard_of"].values())) == SHARDS  # the bulk spans every shard
    expected = Counter((r["primary"], replica, shard) for shard, r in enumerate(routing)
                       for replica in r["replicas"])
    assert sends(events, "replicate_bulk") == expected
    assert not sends(events, "replicate")  # no item replicated on its own
    forwarded = Counter((COORDINATOR, r["primary"], shard) for shard, r in enumerate(routing)
                        if r["primary"] != COORDINATOR)
    assert forwarded  # the coordinating node forwards: one request per shard
    assert sends(events, "forward_bulk") == forwarded
    assert not sends(events, "forward")
    for shard, r in enumerate(routing):  # each replica traces one apply per item, in order
        docs = [d for d in ids if seen["shard_of"][d] == shard]
        for replica in r["replicas"]:
            applied = [e["doc"] for e in events if e["kind"] == "apply"
                       and e["node"] == replica and e["shard"] == shard]
            assert applied == docs
    for item in seen["items"]:
        assert item["index"]["status"] == 201
        assert item["index"]["_shards"] == {"total": 3, "successful": 3, "failed": 0}
    assert check(events, profile=7) == []


def test_a_conflict_in_the_middle_fails_only_its_item(sim):
    seen: dict = {}

    async def story(manager, cluster):
        await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                        "number_of_replicas": 2}})
        reply = await post_bulk(cluster, "n2", ndjson(
            {"index": {"_index": "idx", "_id": "a"}}, {"v": 1},
            {"create": {"_index": "idx", "_id": "a"}}, {"v": 2},
            {"index": {"_index": "idx", "_id": "a", "if_seq_no": 0, "if_primary_term": 1}},
            {"v": 3},
            {"delete": {"_index": "idx", "_id": "b"}},
            {"index": {"_index": "idx", "_id": "b"}}, {"v": 4},
        ))
        seen["reply"] = reply
        await cluster.quiesce()
        seen["copies"] = {n: (c.status, c.get("_version"), json.dumps(c.get("_source")))
                          for n, c in (await cluster.copies("idx", "a")).items()}

    events = sim(story, nodes=NODES, es_compat=7,
                 link=LinkConfig(delay_min_ms=1, delay_max_ms=30))
    reply = seen["reply"]
    assert reply.status == 200 and reply["errors"] is True
    items = reply["items"]
    assert [list(i)[0] for i in items] == ["index", "create", "index", "delete", "index"]
    assert [next(iter(i.values()))["status"] for i in items] == [201, 409, 200, 404, 201]
    conflict = items[1]["create"]
    assert conflict["error"]["type"] == "version_conflict_engine_exception"
    assert conflict["error"]["reason"] == (
        "[a]: version conflict, document already exists (current version [1])")
    assert "_shards" not in conflict
    assert [(i.get("_seq_no"), i.get("result")) for i in (next(iter(x.values())) for x in items)
            if "error" not in i] == [(0, "created"), (1, "updated"), (2, "not_found"),
                                     (3, "created")]
    assert items[2]["index"]["_version"] == 2
    assert items[4]["index"]["_shards"] == {"total": 3, "successful": 3, "failed": 0}
    assert set(seen["copies"].values()) == {(200, 2, '{"v": 3}')}
    assert len(seen["copies"]) == NODES
    primary = next(e["node"] for e in events if e["kind"] == "primary_write")
    for replica in {f"n{n}" for n in range(1, NODES + 1)} - {primary}:
        assert [(e["doc"], e["seq_no"]) for e in events
                if e["kind"] == "apply" and e["node"] == replica] == [
            ("a", 0), ("a", 1), ("b", 2), ("b", 3)]
    assert sends(events, "replicate_bulk") == Counter(
        {(primary, r, 0): 1 for r in {"n1", "n2", "n3"} - {primary}})
    assert check(events, profile=7) == []


def test_a_replica_that_fails_is_failed_once_for_the_whole_bulk(sim):
    seen: dict = {"fail_replica": []}

    async def story(manager, cluster):
        await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                        "number_of_replicas": 2}})
        decide = manager.master.fail_replica

        def fail_replica(*args):
            seen["fail_replica"].append(args)
            return decide(*args)

        manager.master.fail_replica = fail_replica
        primary = cluster.primary_of("idx", "0")
        lost = cluster.replicas_of("idx", "0")[-1]
        seen["lost"] = lost
        await cluster.partition([primary], [lost])
        seen["reply"] = await post_bulk(cluster, primary, ndjson(*[
            line for n in range(5) for line in ({"index": {"_index": "idx", "_id": str(n)}},
                                                {"n": n})]))

    events = sim(story, nodes=NODES, es_compat=7, replication_timeout=0.3)
    reply = seen["reply"]
    assert reply.status == 200 and reply["errors"] is False, reply.body
    for item in reply["items"]:
        shards = item["index"]["_shards"]
        assert (shards["total"], shards["successful"], shards["failed"]) == (3, 2, 1)
        assert [f["_node"] for f in shards["failures"]] == [seen["lost"]]
    assert [args[2] for args in seen["fail_replica"]] == [seen["lost"]]
    assert [e["dst"] for e in events if e["kind"] == "replica_failed"] == [seen["lost"]]
