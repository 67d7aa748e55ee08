"""Reads during recovery in the simulation: a restarted node's recovering copy refuses reads,
and `_cluster/health` waits on virtual time for it to recover (reference §5.7)."""

from __future__ import annotations


def test_a_recovering_copy_refuses_reads_until_health_says_green(sim):
    async def story(manager, cluster):
        await manager.create_index("u", {"settings": {"number_of_shards": 1,
                                                      "number_of_replicas": 2}})
        primary = cluster.primary_of("u", "1")
        target = cluster.replicas_of("u", "1")[0]
        assert (await cluster.client("w", node=primary, quiet=True).index(
            "u", "1", {"a": 1})).status == 201
        rule = await cluster.hold(primary, target, kind="recovery")
        await cluster.restart(target)
        await cluster.wait_held(1)
        reader = cluster.client("r", node=target, quiet=True)
        local = await reader.get("u", "1", preference="_only_local")
        assert (local.status, local["error"]["caused_by"]["type"]) == (
            503, "illegal_index_shard_state_exception")
        assert (await reader.get("u", "1"))["_source"] == {"a": 1}
        health = await reader.request("GET", "/_cluster/health", wait_for_status="green",
                                      timeout="5s")
        assert (health.status, health["status"], health["initializing_shards"]) == (
            408, "yellow", 1)
        await cluster.release(rule)
        health = await reader.request("GET", "/_cluster/health", wait_for_status="green",
                                      timeout="30s")
        assert (health.status, health["status"], health["initializing_shards"]) == (
            200, "green", 0)
        assert (await reader.get("u", "1", preference="_only_local"))["_source"] == {"a": 1}

    sim(story, nodes=3, es_compat=7)
