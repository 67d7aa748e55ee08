"""Failovers that used to lose acknowledged writes, as stories for both the simulation (`sim`)
and real node processes (`cluster_of`). Each drives the one order of events that broke the
promise (reference §5.5, §5.7) and records what the clients saw; the tests judge that, and the
checker's verdict on the trace, separately.
"""

from __future__ import annotations

import asyncio


def routing(manager, index: str = "idx") -> dict:
    return manager.master.state["indices"][index]["routing"][0]


def primary_is(node: str):
    return lambda s: s["indices"]["idx"]["routing"][0]["primary"] == node


async def seq_no_reuse(manager, cluster, seen: dict) -> None:
    """3 copies, profile 7. n1 applies doc b at seq_no 1 and n3 takes it; n2 never does (held)
    and n1 dies before answering. n2, promoted, gives doc c the same seq_no 1: n3 must take it,
    so that when n2 dies too, n3 still has every acknowledged write."""
    await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                    "number_of_replicas": 2}})
    assert routing(manager)["primary"] == "n1"
    client = cluster.client("c", node="n3", quiet=True)
    seen["a"] = (await client.index("idx", "a", {"v": "a"})).ok
    await cluster.hold("n1", "n2")
    pending = cluster.spawn(cluster.client("d", node="n1", quiet=True).index(
        "idx", "b", {"v": "b"}))
    await cluster.wait_held(1)
    n3 = cluster.client("reader", node="n3", quiet=True)
    while not (await n3.get("idx", "b", preference="_only_local")).ok:
        await asyncio.sleep(0.005)  # until n3 has applied b at seq_no 1
    await cluster.kill("n1")
    await cluster.wait_for(primary_is("n2"), "n2's promotion")
    await asyncio.gather(pending, return_exceptions=True)  # n1 died: never acknowledged
    reply = await client.index("idx", "c", {"v": "c"})
    seen["c"] = reply.ok and reply["_shards"]["successful"] == 2
    await cluster.quiesce()
    await cluster.kill("n2")
    await cluster.wait_for(primary_is("n3"), "n3's promotion")
    for doc in ("a", "c"):
        seen[f"read {doc}"] = (await n3.get("idx", doc)).status


async def every_copy_away(manager, cluster, seen: dict) -> None:
    """2 copies: pause n1 (n2 is promoted), pause n2 (no copy left: red), resume n2, resume
    n1. n2's copy stayed in the in-sync set, so it is primary again with the data, and n1
    comes back as a replica recovered from it."""
    await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                    "number_of_replicas": 1}})
    reply = await cluster.client("c", quiet=True).index("idx", "1", {"v": 1})
    seen["acked"] = reply.ok and reply["_shards"]["successful"] == 2
    await cluster.pause("n1")
    await cluster.wait_for(lambda s: "n1" not in s["nodes"], "n1 failed")
    await cluster.pause("n2")
    await cluster.wait_for(lambda s: "n2" not in s["nodes"], "n2 failed")
    seen["red"] = routing(manager)["primary"] is None
    await cluster.resume("n2")
    await cluster.wait_for(primary_is("n2"), "n2 primary again")
    await cluster.resume("n1")
    await cluster.wait_for(lambda s: "n1" in cluster.in_sync("idx", "1")
                           and "n1" in s["indices"]["idx"]["routing"][0]["replicas"],
                           "n1 back as an in-sync replica")
    await cluster.quiesce()
    for node in ("n1", "n2"):
        got = await cluster.client("reader", node=node, quiet=True).get(
            "idx", "1", preference="_only_local")
        seen[node] = got.status


EXPECTED = {
    seq_no_reuse: {"a": True, "c": True, "read a": 200, "read c": 200},
    every_copy_away: {"acked": True, "red": True, "n1": 200, "n2": 200},
}
CONFIG = {seq_no_reuse: {"nodes": 3, "es_compat": 7}, every_copy_away: {"nodes": 2, "es_compat": 7}}
