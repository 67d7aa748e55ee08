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

import uuid

import pytest

from occsim.cluster.plugin.background import BackgroundCluster


@pytest.fixture(scope="module")
def cluster(request):
    """A 3-node cluster of the test module's `ES_COMPAT` profile, for the whole module."""
    background = BackgroundCluster.start(nodes=3, es_compat=request.module.ES_COMPAT)
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
        started.append(BackgroundCluster.start(**config))
        return started[-1]

    yield start
    for background in started:
        background.stop()
