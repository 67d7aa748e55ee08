"""The classroom run, on the simulation: traces every command can read back, replay sentences
that are true of the trace, and verdicts that state the lesson."""

from __future__ import annotations

import pytest

from cluster import sweep, trace


@pytest.mark.parametrize("name", ["lost_update", "external_sync_race"])
def test_a_scenarios_trace_reads_back(tmp_path, name):
    events = sweep.simulate(name, seed=1, es_compat=None).trace
    path = tmp_path / "t.jsonl"
    trace.write(path, events)
    assert len(trace.read(path)) == len(events)


def test_a_partition_naming_an_unknown_node_is_refused(sim):
    from cluster.manager import ClusterError

    async def story(manager, cluster):
        with pytest.raises(ClusterError, match=r"no node named \[n5\]"):
            await manager.partition(["n1"], ["n5"])
        reply = await manager.handle("cli", "partition", {"a": ["n1", "n5"], "b": None})
        assert reply["status"] == 400 and reply["error"]["reason"] == "no node named [n5]"
        assert manager.partitions == []

    sim(story, nodes=3)
