"""The safety test (tests/safety.py) on real node processes: one run by default (profile 7,
the issue's 1..30 ms delay); `OCCSIM_SAFETY_REAL=N` runs N, across the profiles."""

from __future__ import annotations

import os

import pytest
import safety

RUNS = int(os.environ.get("OCCSIM_SAFETY_REAL", "1"))


@pytest.mark.parametrize("seed", range(1, RUNS + 1))
async def test_nothing_acknowledged_is_lost_under_the_nemesis(cluster_of, seed):
    profile = (7, 8, 9, 5, 6)[(seed - 1) % 5]
    async with cluster_of(nodes=3, es_compat=profile, seed=seed, replication_timeout=1.0,
                          link=safety.LINK) as (manager, cluster):
        tally = await safety.run(manager, cluster, seed=seed, profile=profile)
    print(f"real seed {seed} profile {profile}: {tally.line()}")
    assert tally.acknowledged > 0
    assert tally.lost == [] and tally.divergent == [], tally.line()
