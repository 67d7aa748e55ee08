"""The classroom run, on the simulation: traces every command can read back, replay sentences
that are true of the trace, and verdicts that state the lesson."""

from __future__ import annotations

import pytest

from occsim.cluster.stories import sweep
from occsim.cluster.trace import events as trace


@pytest.mark.parametrize("name", ["lost_update", "external_sync_race"])
def test_a_scenarios_trace_reads_back(tmp_path, name):
    events = sweep.simulate(name, seed=1, es_compat=None).trace
    path = tmp_path / "t.jsonl"
    trace.write(path, events)
    assert len(trace.read(path)) == len(events)


def test_a_partition_naming_an_unknown_node_is_refused(sim):
    from occsim.cluster.errors import ClusterError

    async def story(manager, cluster):
        with pytest.raises(ClusterError, match=r"no node named \[n5\]"):
            await manager.partition(["n1"], ["n5"])
        reply = await manager.handle("cli", "partition", {"a": ["n1", "n5"], "b": None})
        assert reply["status"] == 400 and reply["error"]["reason"] == "no node named [n5]"
        assert manager.partitions == []

    sim(story, nodes=3)


def _sentences(name: str, profile: int) -> list[str]:
    from occsim.cluster.view.diagram import explain

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
    (5, "the tombstone of its v10 delete has expired")])
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
    assert ("n2, primary of [orders][0] in term 2, recovers the copy on n3: it sends it the "
            "whole shard again (reset)") in said
    assert ("n1 is fenced: the master does not confirm it as primary of [orders][0] in term 1, "
            "so it cannot acknowledge the write to doc 1") in said
    assert not any("goes down" in s or "comes up" in s for s in said)
    assert "n1 answers the master's pings again: the master takes it back" in said


def test_every_scenario_declares_its_lesson_and_its_verdict_ends_with_it():
    from occsim.cluster.stories import runner

    for path in runner.all_scenarios():
        lesson = runner.load(path).SETUP.lesson
        assert 40 < len(lesson) and lesson.count(". ") <= 1, path.stem
    outcome = sweep.simulate("lost_update", seed=1)
    lines = outcome.verdict.splitlines()
    assert lines[0] == "PASS lost_update"
    assert lines[1].startswith("  lesson: A read-modify-write without a condition")
    assert ("  ✔ without a condition: 10 increments acknowledged, the counter holds 5 at v11: "
            "5 increments lost") in lines
    assert "  ✔ with OCC, the counter at v11: 10" in lines


def test_an_expected_checker_report_is_named_as_expected_with_its_reason():
    outcome = sweep.simulate("version_reuse", seed=1, es_compat=7)
    assert outcome.passed
    assert outcome.verdict.splitlines()[-1] == (
        "  ✔ the checker reports version_monotonic (1), as expected: the new primary gives "
        "version 2 to another change than the one billing read")


STORY = '''"""A story written with the scenario API's helpers."""
from occsim.cluster.scenario import Setup

SETUP = Setup(nodes=2, profiles=(5, 7), indices=("blog",), shards=1, replicas=1,
              lesson="A test story: its figures come from the helpers.")


async def run(cluster):
    alice = cluster.client("alice")
    seen = await alice.index("blog", "1", {"n": cluster.random.randint(1, 6)},
                             doc_type=cluster.doc_type)
    again = await alice.index("blog", "1", {"n": 0}, doc_type=cluster.doc_type,
                              **cluster.guard(seen))
    stale = await alice.index("blog", "1", {"n": 1}, doc_type=cluster.doc_type,
                              **cluster.guard(seen))
    counts = await cluster.counters()
    cluster.expect_equal((again.status, stale.status), (200, 409), "guarded writes")
    cluster.expect_equal(counts["conflicts"], 1, "conflicts counted")
    cluster.expect_equal(len(cluster.replicas_of("blog", "1")), 1, "replicas")
    cluster.expect_equal(counts["discarded"], 5, "a wrong figure")
    cluster.expect(False, "a second wrong expectation")
'''


@pytest.mark.parametrize("profile", [5, 7])
def test_the_scenario_api_helpers_and_a_verdict_naming_every_failure(tmp_path, profile):
    story = tmp_path / "helpers.py"
    story.write_text(STORY, encoding="utf-8")
    first = sweep.simulate(str(story), seed=4, es_compat=profile)
    assert sweep.simulate(str(story), seed=4, es_compat=profile).trace == first.trace
    lines = first.verdict.splitlines()
    assert lines[0] == "FAIL helpers: 2 of 5 expectations failed"
    assert lines[2:5] == ["  ✔ guarded writes: (200, 409)", "  ✔ conflicts counted: 1",
                          "  ✔ replicas: 1"]
    assert lines[5:] == ["  ✘ a wrong figure: expected 5, got 0", "  ✘ a second wrong expectation"]
    assert first.failure == "a wrong figure: expected 5, got 0; a second wrong expectation"


def test_the_readme_shows_what_run_seed_004_prints_and_its_story_passes(tmp_path, capsys):
    from pathlib import Path

    from occsim.cluster.tools import cli

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert cli.main(["run", "seed-004", "--sim", "--no-live", "--width", "100"]) == 0
    out = capsys.readouterr().out
    view = out[out.index(" alice "):out.index("\nPASS seed_004")].rstrip("\n")
    assert view in readme
    code = readme[readme.index('```python\n"""A replica') + 10:]
    story = tmp_path / "readme_story.py"
    story.write_text(code[:code.index("```")], encoding="utf-8")
    for profile in (7, 8):
        assert sweep.simulate(str(story), seed=1, es_compat=profile).passed


@pytest.mark.parametrize("profile", [5, 7])
def test_a_tombstones_expiry_is_a_step_of_its_own(profile):
    said = _sentences("tombstones", profile)
    expired = [s for s in said if "is older than index.gc_deletes" in s]
    assert expired == [f"on {node}, the tombstone of doc 1 (its v10 delete) is older than "
                       "index.gc_deletes (60s) and no longer counts: doc 1 has no version left "
                       "to compare a late write with" for node in ("n1", "n2")]
    assert said.index(expired[0]) < next(i for i, s in enumerate(said) if "assigns doc 1 version 7" in s)


@pytest.mark.parametrize("name", ["seed_004_internal_version", "partitioned_primary"])
def test_explaining_a_whole_trace_at_once_says_what_each_event_alone_says(name):
    from occsim.cluster.view.diagram import explain, explain_all

    events = sweep.simulate(name, seed=1, es_compat=7).trace
    assert explain_all(events) == [explain(e, events[:i]) for i, e in enumerate(events)]
