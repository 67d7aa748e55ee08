"""Failover on real processes: a killed primary is replaced, nothing acknowledged is lost."""

from __future__ import annotations

import asyncio

from occsim.cluster.trace import checker

INDEX = {"settings": {"number_of_shards": 1, "number_of_replicas": 2}}


async def test_killing_the_primary_mid_write_loses_no_acknowledged_write(cluster_of):
    async with cluster_of(nodes=3, es_compat=7, replication_timeout=1.0) as (manager, cluster):
        await manager.create_index("idx", INDEX)
        old_primary = cluster.primary_of("idx", "1")
        others = [n for n in cluster.nodes if n != old_primary]
        acked: list = []
        halfway = asyncio.Event()

        async def writer(n: int) -> None:
            client = cluster.client(f"w{n}", node=others[n % 2], quiet=True)
            for i in range(12):
                if i == 4 and n == 0:
                    halfway.set()
                reply = await client.index("idx", f"d{n}", {"writer": n, "i": i})
                if reply.ok:
                    acked.append((f"d{n}", i, reply["_primary_term"]))

        async def killer() -> None:
            await halfway.wait()
            await cluster.kill(old_primary)

        await asyncio.gather(*(writer(n) for n in range(4)), killer())
        await cluster.wait_for(lambda s: s["indices"]["idx"]["routing"][0]["primary"]
                               in others, "a promotion")
        routing = manager.master.state["indices"]["idx"]["routing"][0]
        assert routing["term"] == 2
        after = await cluster.client("late", node=others[0], quiet=True).index(
            "idx", "late", {"after": True})
        assert after["_primary_term"] == 2
        await cluster.quiesce()
        for doc in [f"d{n}" for n in range(4)]:
            copies = await cluster.copies("idx", doc)
            assert set(copies) <= set(others)
            seen = {(c["_version"], c["_seq_no"], repr(c["_source"])) for c in copies.values()}
            assert len(seen) == 1, copies
            last = max(i for d, i, _ in acked if d == doc)
            assert next(iter(copies.values()))["_source"]["i"] == last
        events = await manager.stop()
    assert len(acked) == 48
    assert any(term == 2 for *_, term in acked)
    assert [e for e in events if e["kind"] == "promote"][0]["term"] == 2
    assert any(e["kind"] == "node_down" and e.get("abrupt") for e in events)
    violations = checker.check(events, profile=7)
    assert violations == [], checker.format_report(violations)
