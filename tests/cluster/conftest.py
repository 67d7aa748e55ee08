"""Real clusters for tests: node processes on loopback, started and stopped per test."""

from __future__ import annotations

import contextlib

import pytest

from occsim.cluster.config import ClusterConfig

from occsim.cluster.runtime.manager import Manager
from occsim.cluster.stories.runner import free_port_block
from occsim.cluster.scenario import Cluster, Setup


@contextlib.asynccontextmanager
async def running(**config):
    """A started manager and its scenario handle; stopped (and traced) on exit."""
    nodes = config.get("nodes", 3)
    manager = Manager(ClusterConfig(port=free_port_block(nodes), trace=True, **config))
    await manager.start()
    handle = Cluster(manager, Setup(nodes=nodes), config.get("es_compat", 5))
    try:
        yield manager, handle
    finally:
        if manager.alive():
            await manager.stop()


@pytest.fixture
def cluster_of():
    return running
