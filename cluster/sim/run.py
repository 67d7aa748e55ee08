"""A story on a simulated cluster, for a test that must be deterministic: `simulate(story)`
runs `async def story(cluster)` with the scenario handle on virtual time in this process and
returns a `SimRun` (the trace, and the checker's verdict on it). The same seed gives the same
trace, byte for byte."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from occsim.cluster.trace import checker
from occsim.cluster.sim import loop as simloop
from occsim.cluster.config import ClusterConfig
from occsim.cluster.runtime.manager import Manager
from occsim.cluster.scenario import Cluster, Setup
from occsim.cluster.sim.launcher import SimLauncher


@dataclass(frozen=True)
class SimRun:
    """A finished simulated run: its whole trace and the story's return value."""

    trace: list[dict]
    profile: int
    result: Any = None

    def check(self) -> None:
        """AssertionError naming each violation the trace checker finds."""
        violations = checker.check(self.trace, profile=self.profile)
        if violations:
            raise AssertionError(checker.format_report(violations))


def simulate(story: Callable[[Cluster], Awaitable[Any]], **config: Any) -> SimRun:
    """Run `story(cluster)` on a simulated cluster of `ClusterConfig(**config)` (call it
    outside a running event loop: the simulation brings its own)."""

    async def main() -> SimRun:
        manager = Manager(ClusterConfig(trace=True, **config), launcher=SimLauncher(),
                          clock=asyncio.get_running_loop().time)
        await manager.start()
        cluster = Cluster(manager, Setup(nodes=manager.config.nodes), manager.config.es_compat,
                          seed=manager.config.seed)
        try:
            result = await story(cluster)
            await cluster.finish()
            await cluster.quiesce()
        finally:
            events = await manager.stop()
        return SimRun(events, manager.config.es_compat, result)

    return simloop.run(main())
