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


def _sentences(name: str, profile: int) -> list[str]:
    from cluster.view import explain

    events = sweep.simulate(name, seed=1, es_compat=profile).trace
    return [s for i, e in enumerate(events) if (s := explain(e, events[:i]))]


@pytest.mark.parametrize("profile", [5, 7])
def test_seed_004_never_says_the_late_write_is_where_the_document_is(profile):
    said = _sentences("seed_004_internal_version", profile)
    late = next(s for s in said if s.startswith("n1 answers alice: 200 updated: doc 1 v3"))
    assert late.endswith("doc 1 is already at v4 (#3), written since")
    assert not any("is now at v3" in s for s in said)


def test_a_7x_400_is_explained_with_its_reason():
    said = _sentences("seed_004_internal_version", 7)
    assert ("n1 answers alice: 400: Validation Failed: 1: internal versioning can not be used "
            "for optimistic concurrency control.") in "\n".join(said)


@pytest.mark.parametrize(("profile", "why"), [
    (7, "#2 is newer than the #1 (v10 delete) it held"),
    (5, "the tombstone of its v10 delete was collected")])
def test_the_late_update_after_the_tombstone_is_explained_truly(profile, why):
    said = _sentences("tombstones", profile)
    assert f"n2 applies doc 1 v7 (#2) from n1: {why}" in said
    assert not any("newer than the v10" in s for s in said)


def test_the_masters_own_actions_are_not_called_faults_nor_a_cut_node_down():
    said = _sentences("partitioned_primary", 7)
    faults = [s for s in said if s.startswith("fault injected")]
    assert faults == ["fault injected: the network cuts n1 off from n2,n3",
                      "fault injected: the network heals; every partition is removed"]
    assert ("the master no longer hears from n1 (failed fault detection) and removes it from "
            "the cluster; n1 itself may still be running") in said
    assert ("n2, primary of [orders][0] in term 2, recovers the copy on n3: it copies it the "
            "whole shard again (reset)") in said
    assert not any("goes down" in s for s in said)
