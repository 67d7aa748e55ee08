"""The same cluster in one process on virtual time: every scenario, determinism, sweeps."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from occsim.cluster.stories import runner, sweep
from occsim.cluster.trace import events as trace
from occsim.cluster.trace.checker import check
from occsim.transport.network import LinkConfig

CASES = [(path.stem, p) for path in runner.all_scenarios()
         for p in runner.load(path).SETUP.profiles]


@pytest.mark.parametrize("name,profile", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_every_scenario_passes_in_the_simulation(name, profile):
    outcome = sweep.simulate(name, seed=1, es_compat=profile)
    assert outcome.passed, outcome.failure


@pytest.mark.parametrize("name", ["seed_004_internal_version", "reordering_at_scale",
                                  "lost_update"])
def test_the_same_seed_gives_the_same_trace(name):
    assert sweep.determinism(name, seed=11) is None


@pytest.mark.parametrize("name", ["failover_during_writes", "partitioned_primary", "lost_update"])
def test_every_traced_event_kind_is_documented(name):
    kinds = {e["kind"] for e in sweep.simulate(name, seed=1).trace}
    assert kinds <= set(trace.KINDS), kinds - set(trace.KINDS)


def test_different_seeds_reorder_differently():
    a = sweep.simulate("reordering_at_scale", seed=1).trace
    b = sweep.simulate("reordering_at_scale", seed=2).trace
    assert sweep.first_difference(a, b) is not None


def test_first_difference_names_the_event():
    a = [{"kind": "send", "seq": 0}, {"kind": "deliver", "seq": 1}]
    b = [{"kind": "send", "seq": 0}, {"kind": "drop", "seq": 1}]
    assert sweep.first_difference(a, b) == (1, a[1], b[1])
    assert sweep.first_difference(a, a[:1])[0] == 1
    assert sweep.first_difference(a, list(a)) is None


def test_delays_cost_no_wall_time(sim):
    async def story(manager, cluster):
        await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                        "number_of_replicas": 2}})
        client = cluster.client("c", quiet=True)
        for i in range(20):
            assert (await client.index("idx", str(i % 3), {"i": i})).ok
        await cluster.quiesce()

    events = sim(story, nodes=3, es_compat=7,
                 link=LinkConfig(delay_min_ms=500, delay_max_ms=2000))
    span = events[-1]["t"] - events[0]["t"]
    assert span > 20 * 0.5  # at least 20 sequential writes of >= 0.5 s each, virtually
    assert check(events, profile=7) == []


def test_a_killed_node_never_answers_in_the_simulation(sim):
    async def story(manager, cluster):
        await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                        "number_of_replicas": 1}})
        primary = cluster.primary_of("idx", "1")
        client = cluster.client("c", node=primary, quiet=True)
        write = asyncio.ensure_future(client.index("idx", "1", {"a": 1}))
        await asyncio.sleep(0)
        await cluster.kill(primary)
        with pytest.raises(ConnectionError):
            await write

    sim(story, nodes=2, es_compat=7)


def test_sweep_reports_failing_seeds_with_the_command(tmp_path):
    story = tmp_path / "flaky.py"
    story.write_text(
        '"""Fails on odd seeds."""\n'
        "from occsim.cluster.scenario import Setup\n"
        "SETUP = Setup(nodes=1, profiles=(7,))\n"
        "async def run(cluster):\n"
        "    cluster.expect(cluster.seed % 2 == 0, 'the seed is even')\n")
    done = subprocess.run([sys.executable, "-m", "occsim.cluster.tools.cli", "sweep", str(story),
                           "--seeds", "1..4", "--jobs", "2"], capture_output=True, text=True)
    assert done.returncode == 1
    assert "FAIL seed 1: the seed is even" in done.stdout
    assert f"reproduce: occsim run {story} --sim --seed 3" in done.stdout
    assert "2 passed, 2 failed" in done.stdout
    assert done.stdout.index("FAIL seed 1") < done.stdout.index("FAIL seed 3")


def test_a_sweep_on_several_processes_gives_what_one_process_gives():
    one = sweep.sweep("seed_004_internal_version", range(1, 7), jobs=1)
    two = sweep.sweep("seed_004_internal_version", range(1, 7), jobs=2)
    assert (two.runs, two.failures, two.jobs) == (6, [], 2)
    assert two.messages == one.messages > 6 * 20


def test_the_simulation_counts_node_and_client_messages():
    outcome = sweep.simulate("seed_004_internal_version", seed=11)
    requests = [e for e in outcome.trace if e["kind"] == "client_request"]
    delivered = [e for e in outcome.trace if e["kind"] == "deliver"]
    # every client request and its response, every traced delivery, and the control plane
    assert outcome.messages > 2 * len(requests) + len(delivered) > 0


def test_sweep_refuses_fewer_than_one_process():
    done = subprocess.run([sys.executable, "-m", "occsim.cluster.tools.cli", "sweep", "seed-004",
                           "--seeds", "1..2", "--jobs", "0"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "--jobs must be at least 1, not 0" in done.stderr
