"""A real cluster for the official clients' suites, on its own event loop in a thread.

The official clients are mostly blocking (`Elasticsearch(...)`): called from the event loop the
manager runs on, one would freeze the master while a node waits for it (an index created on the
first write asks the master). So the manager runs its loop in a background thread, and the
tests are plain functions (or run their own loop, for the async clients) that reach the nodes
over HTTP, as any program using a client does.

A test module sets `ES_COMPAT = N` and uses the module-scoped `cluster` fixture: one 3-node
cluster of that profile for the whole module (each test uses its own index).
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from cluster.manager import ClusterConfig, Manager
from cluster.runner import free_port_block


class BackgroundCluster:
    """A started `Manager` whose event loop runs in a daemon thread."""

    def __init__(self, *, nodes: int = 3, es_compat: int = 5) -> None:
        self.nodes = nodes
        self.es_compat = es_compat
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name=f"occsim-cluster-{es_compat}")
        self.manager: Manager | None = None

    def _call(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> BackgroundCluster:
        self.thread.start()

        async def start() -> Manager:
            manager = Manager(ClusterConfig(nodes=self.nodes, port=free_port_block(self.nodes),
                                            es_compat=self.es_compat))
            await manager.start()
            return manager

        self.manager = self._call(start())
        return self

    def stop(self) -> None:
        try:
            if self.manager is not None and self.manager.alive():
                self._call(self.manager.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    @property
    def urls(self) -> list[str]:
        """Every node's HTTP address (`http://127.0.0.1:PORT`), in node order."""
        return [f"http://{info['ip']}:{info['port']}"
                for info in self.manager.master.state["nodes"].values()]

    def shard_count(self, index: str) -> int:
        return self.manager.master.state["indices"][index]["shards"]


@pytest.fixture(scope="module")
def cluster(request):
    """A 3-node cluster of the test module's `ES_COMPAT` profile, for the whole module."""
    background = BackgroundCluster(nodes=3, es_compat=request.module.ES_COMPAT).start()
    try:
        yield background
    finally:
        background.stop()


@pytest.fixture
def index_name(request) -> str:
    """A fresh index name per test (lower case, as index names must be)."""
    return f"{request.node.name.lower().replace('[', '-').replace(']', '')[:40]}-" \
           f"{uuid.uuid4().hex[:6]}"


@pytest.fixture
def start_cluster():
    """Start another cluster inside a test: `start_cluster(nodes=1, es_compat=8)` returns a
    started `BackgroundCluster`; every one started is stopped after the test."""
    started: list[BackgroundCluster] = []

    def start(**config) -> BackgroundCluster:
        started.append(BackgroundCluster(**config).start())
        return started[-1]

    yield start
    for background in started:
        background.stop()
