"""Reads during recovery on real processes: a restarted node's recovering copy never answers a
read, writes through it reach the primary, and `_cluster/health` reports the copy initializing
until it has recovered (reference §5.7)."""

from __future__ import annotations

import asyncio

INDEX = {"settings": {"number_of_shards": 1, "number_of_replicas": 2}}


async def test_a_restarted_nodes_recovering_copy_serves_no_read(cluster_of):
    async with cluster_of(nodes=3, es_compat=8) as (manager, cluster):
        await manager.create_index("u", INDEX)
        primary = cluster.primary_of("u", "1")
        target = cluster.replicas_of("u", "1")[0]
        assert (await cluster.client("w", node=primary, quiet=True).index(
            "u", "1", {"a": 1})).status == 201
        reader = cluster.client("r", node=target, quiet=True)
        answers: list = []
        recovered = asyncio.Event()

        async def read_the_copy_until_recovered() -> None:
            while not recovered.is_set():
                try:
                    answers.append(await reader.get("u", "1", preference="_only_local"))
                except ConnectionError:
                    await asyncio.sleep(0.01)  # pacing only: the process is restarting

        rule = await cluster.hold(primary, target, kind="recovery")
        poller = asyncio.ensure_future(read_the_copy_until_recovered())
        await cluster.restart(target)
        await cluster.wait_held(1)  # recovery on its way: the new copy is initializing

        local = await reader.get("u", "1", preference="_only_local")
        assert (local.status, local["error"]["type"]) == (503,
                                                          "no_shard_available_action_exception")
        assert local["error"]["reason"] == "No shard available for [get [u][1]: routing [null]]"
        assert local["error"]["caused_by"]["type"] == "illegal_index_shard_state_exception"
        routed = await reader.get("u", "1")  # served by an active copy elsewhere
        assert (routed.status, routed["_source"]) == (200, {"a": 1})
        written = await reader.index("u", "2", {"b": 2})  # to the primary, no index creation
        assert (written.status, written["result"]) == (201, "created")
        health = await reader.request("GET", "/_cluster/health", wait_for_status="green",
                                      timeout="50ms")
        assert (health.status, health["status"], health["timed_out"],
                health["initializing_shards"], health["active_shards"]) == (
            408, "yellow", True, 1, 2)

        await cluster.release(rule)
        health = await reader.request("GET", "/_cluster/health", wait_for_status="green",
                                      wait_for_no_initializing_shards="true", timeout="30s")
        assert (health.status, health["status"], health["initializing_shards"],
                health["active_shards"]) == (200, "green", 0, 3)
        recovered.set()
        await poller
        local = await reader.get("u", "1", preference="_only_local")
        assert (local.status, local["_source"]) == (200, {"a": 1})
    assert answers, "the recovering copy was never asked"
    for answer in answers:  # a full copy, or a refusal: never the empty copy's 404
        assert answer.status == 200 and answer["_source"] == {"a": 1} or (
            answer.status == 503
            and answer["error"]["type"] == "no_shard_available_action_exception"), answer
