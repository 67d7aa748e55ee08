"""The failovers that lost acknowledged writes, on real node processes (where the first of
them was found), forced with hold/release and faults."""

from __future__ import annotations

import pytest
from failover_stories import CONFIG, EXPECTED

from occsim.cluster.trace import checker


@pytest.mark.parametrize("story", list(EXPECTED), ids=lambda s: s.__name__)
async def test_nothing_acknowledged_is_lost(cluster_of, story):
    seen: dict = {}
    async with cluster_of(**CONFIG[story]) as (manager, cluster):
        await story(manager, cluster, seen)
        events = await manager.stop()
    assert seen == EXPECTED[story]
    assert checker.check(events, profile=7) == []
