"""Failovers that used to lose acknowledged writes, forced deterministically in the simulation.

Each story drives the one order of events that broke the promise (reference §5.5, §5.7), then
reads every surviving copy itself: the verdict here does not rest on the checker.
"""

from __future__ import annotations

import asyncio

from cluster import checker

INDEX = {"settings": {"number_of_shards": 1, "number_of_replicas": 2}}


def _routing(manager, index="idx"):
    return manager.master.state["indices"][index]["routing"][0]


def test_a_new_primary_reusing_seq_nos_loses_nothing_after_two_failovers(sim):
    """n1 applies doc b at seq_no 1 and n3 takes it, n2 never does; n1 dies before answering.
    n2, promoted, gives doc c the same seq_no 1: n3 must take it (the resync rolled it back),
    so that when n2 dies too, n3 still has every acknowledged write."""
    acked = {}

    async def story(manager, cluster):
        await manager.create_index("idx", INDEX)
        assert _routing(manager)["primary"] == "n1"
        client = cluster.client("c", node="n3", quiet=True)
        reply = await client.index("idx", "a", {"v": "a"})
        acked["a"] = reply.ok
        await cluster.hold("n1", "n2")
        pending = cluster.spawn(cluster.client("d", node="n1", quiet=True).index(
            "idx", "b", {"v": "b"}))
        await cluster.wait_held(1)
        n3 = cluster.client("reader", node="n3", quiet=True)
        while not (await n3.get("idx", "b", preference="_only_local")).ok:
            await asyncio.sleep(0.001)  # virtual time: n3 applies b at seq_no 1
        await cluster.kill("n1")
        await cluster.wait_for(lambda s: s["indices"]["idx"]["routing"][0]["primary"] == "n2",
                               "n2's promotion")
        await asyncio.gather(pending, return_exceptions=True)  # n1 died: never acknowledged
        reply = await client.index("idx", "c", {"v": "c"})
        acked["c"] = reply.ok and reply["_shards"]["successful"] == 2
        await cluster.quiesce()
        await cluster.kill("n2")
        await cluster.wait_for(lambda s: s["indices"]["idx"]["routing"][0]["primary"] == "n3",
                               "n3's promotion")
        for doc in ("a", "c"):
            got = await cluster.client("reader", node="n3", quiet=True).get("idx", doc)
            acked[f"read {doc}"] = got.status

    events = sim(story, nodes=3, es_compat=7, seed=1)
    assert acked["a"] and acked["c"], acked
    assert acked["read a"] == 200 and acked["read c"] == 200, acked
    assert checker.check(events, profile=7) == []


def test_every_copy_away_then_back_keeps_the_data_and_a_primary(sim):
    """Both copies paused (the replica is promoted, then fails too): the last primary's copy
    stays in the in-sync set, so when its node returns it is primary again with its data."""
    seen = {}

    async def story(manager, cluster):
        await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                        "number_of_replicas": 1}})
        client = cluster.client("c", quiet=True)
        reply = await client.index("idx", "1", {"v": 1})
        seen["acked"] = reply.ok and reply["_shards"]["successful"] == 2
        await cluster.pause("n1")
        await cluster.wait_for(lambda s: "n1" not in s["nodes"], "n1 failed")
        await cluster.pause("n2")
        await cluster.wait_for(lambda s: "n2" not in s["nodes"], "n2 failed")
        await cluster.resume("n2")
        await cluster.wait_for(lambda s: s["indices"]["idx"]["routing"][0]["primary"] == "n2",
                               "n2 primary again")
        await cluster.resume("n1")
        await cluster.wait_for(lambda s: "n1" in s["indices"]["idx"]["routing"][0]["replicas"]
                               and not s["indices"]["idx"]["routing"][0]["initializing"],
                               "n1 back as a started replica")
        await cluster.quiesce()
        for node in ("n1", "n2"):
            got = await cluster.client("reader", node=node, quiet=True).get(
                "idx", "1", preference="_only_local")
            seen[node] = got.status

    events = sim(story, nodes=2, es_compat=7, seed=1)
    assert seen == {"acked": True, "n1": 200, "n2": 200}, seen
    assert checker.check(events, profile=7) == []
