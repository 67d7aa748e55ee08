"""The failovers that lost acknowledged writes, forced deterministically in the simulation."""

from __future__ import annotations

import asyncio

import pytest
from failover_stories import CONFIG, EXPECTED

from occsim.cluster.trace import checker


@pytest.mark.parametrize("story", list(EXPECTED), ids=lambda s: s.__name__)
def test_nothing_acknowledged_is_lost(sim, story):
    seen: dict = {}

    async def run(manager, cluster):
        await story(manager, cluster, seen)

    events = sim(run, seed=1, **CONFIG[story])
    assert seen == EXPECTED[story]
    assert checker.check(events, profile=7) == []


def test_a_replica_serves_its_old_state_until_the_resync_and_writes_wait_for_it(sim):
    """n3 holds doc b, which n1 applied and n2 never got. n2 is promoted and its resync to n3
    is held: n3 stays started and still serves b; a write to n2 is not answered before the
    resync ends; then n3 holds exactly n2's history (b gone, the write there)."""
    seen = {}

    async def story(manager, cluster):
        await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                        "number_of_replicas": 2}})
        n3 = cluster.client("reader", node="n3", quiet=True)
        await cluster.hold("n1", "n2")
        pending = cluster.spawn(cluster.client("d", node="n1", quiet=True).index(
            "idx", "b", {"v": "b"}))
        await cluster.wait_held(1)
        while not (await n3.get("idx", "b", preference="_only_local")).ok:
            await asyncio.sleep(0.005)
        resync = await cluster.hold("n2", "n3", kind="recovery")
        await cluster.kill("n1")
        await cluster.wait_for(lambda s: s["indices"]["idx"]["routing"][0]["primary"] == "n2",
                               "n2's promotion")
        await asyncio.gather(pending, return_exceptions=True)
        await cluster.wait_held(1)
        write = cluster.spawn(cluster.client("c", node="n2", quiet=True).index(
            "idx", "c", {"v": "c"}))
        await asyncio.sleep(0.5)
        routing = manager.master.state["indices"]["idx"]["routing"][0]
        seen["n3 started"] = "n3" in routing["replicas"] and "n3" not in routing["initializing"]
        seen["n3 serves b"] = (await n3.get("idx", "b", preference="_only_local")).status
        seen["write waits"] = not write.done()
        await cluster.release(resync)
        seen["write"] = (await write).status
        await cluster.quiesce()
        seen["b after"] = (await n3.get("idx", "b", preference="_only_local")).status
        seen["c after"] = (await n3.get("idx", "c", preference="_only_local")).status

    events = sim(story, nodes=3, es_compat=7, seed=1)
    assert seen == {"n3 started": True, "n3 serves b": 200, "write waits": True, "write": 201,
                    "b after": 404, "c after": 200}
    assert checker.check(events, profile=7) == []
