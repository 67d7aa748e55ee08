"""Replication on real node processes: ordering, convergence, failures, `_shards`."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from occsim.cluster.trace.events import out_of_order
from occsim.transport.network import LinkConfig

ONE_SHARD_TWO_REPLICAS = {"settings": {"number_of_shards": 1, "number_of_replicas": 2}}


@pytest.mark.parametrize("es_compat", [5, 7])
async def test_reversed_delivery_is_discarded_by_the_replica(cluster_of, es_compat):
    async with cluster_of(nodes=2, es_compat=es_compat) as (manager, cluster):
        await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                        "number_of_replicas": 1}})
        doc_type = "doc" if es_compat == 5 else "_doc"
        client = cluster.client("writer", quiet=True)
        await client.index("idx", "1", {"v": 1}, doc_type=doc_type)
        rule = await cluster.hold("n1", "n2", doc="1", version=2)
        first = cluster.spawn(client.index("idx", "1", {"v": 2}, doc_type=doc_type))
        await cluster.wait_held(1)
        second = await client.index("idx", "1", {"v": 3}, doc_type=doc_type)
        assert second["_version"] == 3
        await cluster.release(rule)
        assert (await first)["_version"] == 2
        await cluster.quiesce()
        events = await manager.stop()
    late = [(e["version"], seen["version"]) for e, seen in out_of_order(events)]
    assert late == [(2, 3)]
    discards = [e for e in events if e["kind"] == "discard"]
    assert [(e["node"], e["version"], e["held_version"]) for e in discards] == [("n2", 2, 3)]
    final = {e["node"]: e["docs"] for e in events if e["kind"] == "state"}
    assert final["n1"] == final["n2"]
    assert final["n2"][0]["version"] == 3


@pytest.mark.parametrize("es_compat", [5, 6, 8])
async def test_concurrent_writers_under_random_delay_converge(cluster_of, es_compat):
    link = LinkConfig(delay_min_ms=1, delay_max_ms=30, reorder=0.3)
    async with cluster_of(nodes=3, es_compat=es_compat, link=link, seed=11) as (manager,
                                                                                 cluster):
        await manager.create_index("idx", ONE_SHARD_TWO_REPLICAS)
        doc_type = "doc" if es_compat == 5 else "_doc"
        rng = random.Random(5)
        replies = []

        async def writer(n: int) -> None:
            client = cluster.client(f"w{n}", node=f"n{n % 3 + 1}", quiet=True)
            for i in range(10):
                replies.append(await client.index("idx", str(rng.randrange(5)),
                                                  {"by": n, "i": i}, doc_type=doc_type))

        await asyncio.gather(*(writer(n) for n in range(8)))
        await cluster.quiesce()
        for doc in map(str, range(5)):
            copies = await cluster.copies("idx", doc, doc_type=doc_type)
            seen = {(c["_version"], c.get("_seq_no"), repr(c["_source"]))
                    for c in copies.values()}
            assert len(seen) == 1, copies
        events = await manager.stop()
    assert all(r.status in (200, 201) for r in replies)
    assert all(r["_shards"]["total"] == 3 and r["_shards"]["failed"] == 0 for r in replies)
    if es_compat >= 6:
        assert all(r["_shards"]["successful"] == 3 for r in replies)
    discards = [e for e in events if e["kind"] == "discard"]
    assert all("held_version" in e for e in discards)


async def test_unreachable_replica_counts_as_failed(cluster_of):
    async with cluster_of(nodes=3, es_compat=7, replication_timeout=0.3) as (manager,
                                                                              cluster):
        await manager.create_index("idx", ONE_SHARD_TWO_REPLICAS)
        await cluster.partition(["n1"], ["n3"])
        reply = await cluster.client("c", quiet=True).index("idx", "1", {"a": 1})
    shards = reply["_shards"]
    assert (shards["total"], shards["successful"], shards["failed"]) == (3, 2, 1)
    failure = shards["failures"][0]
    assert (failure["_index"], failure["_shard"], failure["_node"], failure["primary"]) == (
        "idx", 0, "n3", False)


async def test_single_node_counts_the_unassigned_replica(cluster_of):
    async with cluster_of(nodes=1, es_compat=5) as (manager, cluster):
        reply = await cluster.client("c", quiet=True).index("seed", "8", {"a": 1},
                                                            doc_type="t")
    assert reply["_shards"] == {"total": 2, "successful": 1, "failed": 0}


async def test_any_node_forwards_to_the_primary_and_only_local_reads_the_copy(cluster_of):
    async with cluster_of(nodes=3, es_compat=7) as (manager, cluster):
        await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                        "number_of_replicas": 1}})
        holders = [cluster.primary_of("idx", "1"), *cluster.replicas_of("idx", "1")]
        outsider = next(n for n in cluster.nodes if n not in holders)
        written = await cluster.client("c", node=outsider, quiet=True).index("idx", "1",
                                                                               {"a": 1})
        assert written.status == 201
        local = await cluster.client("c", node=outsider, quiet=True).get(
            "idx", "1", preference="_only_local")
        assert local.status == 503  # no copy here to read (reference §5.7)
        assert local["error"]["type"] == "no_shard_available_action_exception"
        remote = await cluster.client("c", node=outsider, quiet=True).get("idx", "1")
        assert remote["_source"] == {"a": 1}


async def test_a_bulk_of_2000_items_reaches_every_copy(cluster_of):
    ids = [f"d{n}" for n in range(2000)]
    body = "".join(json.dumps(line) + "\n" for doc in ids
                   for line in ({"index": {"_index": "idx", "_id": doc}}, {"doc": doc}))
    async with cluster_of(nodes=3, es_compat=7,
                          link=LinkConfig(delay_min_ms=1, delay_max_ms=30)) as (manager,
                                                                                 cluster):
        await manager.create_index("idx", ONE_SHARD_TWO_REPLICAS)
        reply = await cluster.backend.sender("n2", "POST", "/_bulk", {
            "Content-Type": "application/x-ndjson"}, body.encode())
        assert reply.status == 200 and reply["errors"] is False
        assert [i["index"]["_shards"]["successful"] for i in reply["items"]] == [3] * len(ids)
        await cluster.quiesce()
        copies = [copy for n in cluster.nodes
                  for copy in (await manager.ask(n, "snapshot", {}))["copies"]]
        events = await cluster.trace()
    assert len(copies) == 3
    for copy in copies:
        assert sorted(d["id"] for d in copy["docs"] if not d["deleted"]) == sorted(ids)
    replication = [e["mkind"] for e in events if e["kind"] == "send"
                   and e.get("mkind") in ("replicate", "replicate_bulk")]
    assert replication == ["replicate_bulk"] * 2
