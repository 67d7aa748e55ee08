"""Cluster health on real node processes: a replica that is still recovering is not active,
so the cluster is yellow until it is, as Elasticsearch reports it."""

from __future__ import annotations


async def test_a_recovering_replica_makes_the_cluster_yellow(cluster_of):
    async with cluster_of(nodes=2, es_compat=7) as (manager, cluster):
        await manager.create_index("p", {"settings": {"number_of_shards": 1,
                                                      "number_of_replicas": 1}})
        client = cluster.client("w", quiet=True)
        await client.index("p", "1", {"a": 1})
        primary, replica = cluster.primary_of("p", "1"), cluster.replicas_of("p", "1")[0]
        rule = await cluster.hold(primary, replica, kind="recovery")
        await cluster.restart(replica)
        await cluster.wait_for(lambda s: replica in s["indices"]["p"]["routing"][0].get(
            "initializing", []), "the restarted replica to start recovering", timeout=60.0)
        health = await client.on(primary).request("GET", "/_cluster/health")
        assert (health["status"], health["active_shards"], health["initializing_shards"],
                health["unassigned_shards"], health["active_shards_percent_as_number"]) == (
            "yellow", 1, 1, 0, 50.0)
        indices = await client.on(primary).request("GET", "/_cat/indices", format="json")
        assert indices.body[0]["health"] == "yellow"
        await cluster.release(rule)
        await cluster.wait_for(lambda s: not s["indices"]["p"]["routing"][0].get(
            "initializing"), "the replica to recover", timeout=60.0)
        health = await client.on(primary).request("GET", "/_cluster/health")
        assert (health["status"], health["active_shards"], health["initializing_shards"]) == (
            "green", 2, 0)
