"""The background cluster the plugin hands to tests: a real node process, driven from this
thread while the manager runs on its own."""

from __future__ import annotations

import asyncio

import pytest

from occsim.cluster.plugin.background import BackgroundCluster


@pytest.fixture(scope="module")
def background():
    cluster = BackgroundCluster.start(nodes=1, es_compat=8)
    yield cluster
    cluster.stop()


def test_a_wait_that_times_out_stops_waiting_on_the_cluster_loop(background):
    with pytest.raises(TimeoutError, match="Cluster.wait_held did not finish within 0.2s"):
        background.wait_held(1, timeout=0.2)

    async def waits_left() -> list[str]:
        return [t.get_coro().__qualname__ for t in asyncio.all_tasks()
                if "wait_held" in t.get_coro().__qualname__]

    assert background._call(waits_left()) == []


def test_str_is_the_url_of_a_member_node(background):
    assert str(background) == background.url == background.urls[0]
    assert background.url == background.url_of(background.nodes[0])
