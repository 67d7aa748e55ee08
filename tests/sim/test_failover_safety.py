"""The failovers that lost acknowledged writes, forced deterministically in the simulation."""

from __future__ import annotations

import pytest
from failover_stories import CONFIG, EXPECTED

from cluster import checker


@pytest.mark.parametrize("story", list(EXPECTED), ids=lambda s: s.__name__)
def test_nothing_acknowledged_is_lost(sim, story):
    seen: dict = {}

    async def run(manager, cluster):
        await story(manager, cluster, seen)

    events = sim(run, seed=1, **CONFIG[story])
    assert seen == EXPECTED[story]
    assert checker.check(events, profile=7) == []
