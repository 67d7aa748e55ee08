"""A node that dies or restarts, in the simulation: its clients see the connection drop at
once, and its second life neither reuses the auto-generated ids of its first nor takes the
late replies meant for it."""

from __future__ import annotations

import asyncio

import pytest

INDEX = {"settings": {"number_of_shards": 1, "number_of_replicas": 1}}


def test_a_restarted_node_generates_new_document_ids(sim):
    seen = []

    async def story(manager, cluster):
        await manager.create_index("idx", INDEX)
        client = cluster.client("c", node="n2", quiet=True)
        seen.append(await client.index("idx", None, {"life": 1}))
        await cluster.restart("n2")
        await cluster.wait_for(lambda s: "n2" in s["nodes"]
                               and not s["indices"]["idx"]["routing"][0]["initializing"]
                               and None not in s["indices"]["idx"]["routing"][0]["replicas"],
                               "n2 back")
        seen.append(await client.index("idx", None, {"life": 2}))

    sim(story, nodes=2, es_compat=7, seed=3)
    first, second = seen
    assert (first.status, second.status) == (201, 201)
    assert first["_id"] != second["_id"]
    assert second["result"] == "created"


@pytest.mark.parametrize("fault", ["stop", "kill"])
def test_a_request_in_flight_fails_at_once_when_its_node_dies(sim, fault):
    seen = {}

    async def story(manager, cluster):
        await manager.create_index("idx", INDEX)
        primary = cluster.primary_of("idx", "1")
        other = next(n for n in cluster.nodes if n != primary)
        await cluster.hold(primary, other)  # the write waits for its replica
        write = cluster.spawn(cluster.client("c", node=primary, quiet=True).index(
            "idx", "1", {"v": 1}))
        await cluster.wait_held(1)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await getattr(cluster, fault)(primary)
        try:
            await write
        except ConnectionError as exc:
            seen["error"] = type(exc).__name__
        seen["waited"] = loop.time() - start

    sim(story, nodes=2, es_compat=7, seed=1)
    assert seen == {"error": "ConnectionResetError", "waited": 0.0}


def test_the_requests_a_dying_node_leaves_unanswered_fail_in_the_order_they_came(sim):
    """A killed node's waiting requests fail in the order they reached it, whatever the memory
    addresses of their tasks: the simulation replays the same run the same way every time."""
    failed = []

    async def story(manager, cluster):
        await manager.create_index("idx", INDEX)
        primary = cluster.primary_of("idx", "1")
        other = next(n for n in cluster.nodes if n != primary)
        await cluster.hold(primary, other)  # every write waits for its replica

        async def write(k: int) -> None:
            try:
                await cluster.client(f"c{k}", node=primary, quiet=True).index(
                    "idx", str(k), {"v": k})
            except ConnectionError:
                failed.append(k)

        writes = [cluster.spawn(write(k)) for k in range(40)]
        await cluster.wait_held(40)
        await cluster.kill(primary)
        await asyncio.gather(*writes)

    sim(story, nodes=2, es_compat=7, seed=1)
    assert failed == list(range(40))
