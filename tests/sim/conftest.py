"""The simulation as a pytest fixture: a scenario-style story on virtual time, in-process."""

from __future__ import annotations

import pytest

from occsim.cluster.sim import loop as simloop
from occsim.cluster.config import ClusterConfig
from occsim.cluster.runtime.manager import Manager
from occsim.cluster.scenario import Cluster, Setup
from occsim.cluster.sim.launcher import SimLauncher


def simulate(story, **config) -> list[dict]:
    """Run `async story(manager, cluster)` on a simulated cluster; return the trace."""

    async def main() -> list[dict]:
        loop = __import__("asyncio").get_running_loop()
        manager = Manager(ClusterConfig(trace=True, **config), launcher=SimLauncher(),
                          clock=loop.time)
        await manager.start()
        cluster = Cluster(manager, Setup(nodes=manager.config.nodes),
                          manager.config.es_compat, seed=manager.config.seed)
        try:
            await story(manager, cluster)
        finally:
            events = await manager.stop()
        return events

    return simloop.run(main())


@pytest.fixture
def sim():
    return simulate
