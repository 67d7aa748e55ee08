"""Values at the edge in the simulation: the in-memory wire carries what the real one carries
(a lone surrogate reaches every replica) and fails a message it cannot encode alone."""

from __future__ import annotations

import pytest

from occsim.transport.message import TransportError


def test_a_lone_surrogate_reaches_every_replica(sim):
    async def story(manager, cluster):
        await manager.create_index("p", {"settings": {"number_of_shards": 1,
                                                      "number_of_replicas": 2}})
        written = await cluster.client("w", quiet=True).index("p", "x", {"a": "\ud800"})
        assert written["_shards"] == {"total": 3, "successful": 3, "failed": 0}
        copies = await cluster.copies("p", "x")
        assert len(copies) == 3
        assert all(c["_source"] == {"a": "\ud800"} for c in copies.values())

    sim(story, nodes=3, es_compat=7)


def test_a_message_that_cannot_be_encoded_fails_alone(sim):
    async def story(manager, cluster):
        with pytest.raises(TransportError, match=r"\[stats\] to \[n1\] cannot be encoded"):
            await manager.endpoint.request("n1", "stats", {"x": 2**70}, timeout=30.0)
        assert "error" not in await manager.ask("n1", "stats", {}, timeout=30.0)

    sim(story, nodes=1)
