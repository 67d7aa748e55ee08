"""The safety test (tests/safety.py) on the simulation: 20 seeds by default, across every
profile; `OCCSIM_SAFETY_SEEDS=N` runs N. Each seed prints its tally with `-s`."""

from __future__ import annotations

import os

import pytest
import safety

SEEDS = int(os.environ.get("OCCSIM_SAFETY_SEEDS", "20"))


@pytest.mark.parametrize("seed", range(1, SEEDS + 1))
def test_nothing_acknowledged_is_lost_under_the_nemesis(sim, seed):
    profile = (5, 6, 7, 8, 9)[seed % 5]
    tally = {}

    async def story(manager, cluster):
        tally["t"] = await safety.run(manager, cluster, seed=seed, profile=profile)

    sim(story, nodes=3, es_compat=profile, seed=seed, replication_timeout=1.0,
        link=safety.LINK)
    t = tally["t"]
    print(f"seed {seed} profile {profile}: {t.line()}")
    assert t.acknowledged > 0
    assert t.lost == [] and t.divergent == [], t.line()
