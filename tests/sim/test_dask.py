"""A sweep and a sampled exploration on a Dask `LocalCluster` give what the local run gives."""

from __future__ import annotations

import pytest

from cluster import explore, sweep

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_address():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_a_sweep_on_dask_gives_the_local_verdicts(dask_address):
    seeds = range(1, 21)
    local = sweep.sweep("two_writers", seeds, replica_rule="apply-all")
    remote = sweep.sweep("two_writers", seeds, replica_rule="apply-all", dask=dask_address)
    assert (remote.runs, remote.failures, remote.messages, remote.jobs) == (
        local.runs, local.failures, local.messages, 2)


def test_a_sampled_exploration_on_dask_gives_the_local_classes(dask_address):
    local = explore.explore("counter_race", strategy="random", max_schedules=16, jobs=2)
    remote = explore.explore("counter_race", strategy="random", max_schedules=16, jobs=2,
                             dask=dask_address)
    assert (remote.orders, remote.cut) == (local.orders, local.cut)
    assert [(c.count, c.verdict) for c in remote.classes] == \
        [(c.count, c.verdict) for c in local.classes]


def test_an_unreachable_dask_cluster_is_one_clear_error():
    with pytest.raises(ValueError, match="cannot reach the Dask cluster at tcp://127.0.0.1:9"):
        sweep.sweep("two_writers", range(1, 2), dask="tcp://127.0.0.1:9")
