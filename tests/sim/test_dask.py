"""A sweep and a sampled exploration on a Dask `LocalCluster` give what the local run gives.

Dask runs in a child process: importing `distributed` changes how this process's event loops
behave for other tests (the background cluster's cancelled waits linger a turn longer)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from occsim.cluster.stories import explore, sweep

pytestmark = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="Dask is not installed (pip install 'occsim[dask]')")

ON_DASK = """
import json, sys
import distributed
from occsim.cluster.stories import explore, sweep
with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster:
    address = cluster.scheduler_address
    swept = sweep.sweep("seed-004", range(1, 11), replica_rule="apply-all", dask=address)
    explored = explore.explore("counter_race", strategy="random", max_schedules=16, jobs=2,
                               dask=address)
try:
    sweep.sweep("two_writers", range(1, 2), dask="tcp://127.0.0.1:9")
    unreachable = None
except ValueError as exc:
    unreachable = str(exc)
json.dump({"sweep": [swept.runs, swept.failures, swept.messages, swept.jobs],
           "explore": [explored.orders, explored.cut,
                       [[c.count, c.verdict] for c in explored.classes]],
           "unreachable": unreachable}, sys.stdout)
"""


@pytest.fixture(scope="module")
def on_dask() -> dict:
    done = subprocess.run([sys.executable, "-c", ON_DASK], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_sweep_on_dask_gives_the_local_verdicts(on_dask):
    local = sweep.sweep("seed-004", range(1, 11), replica_rule="apply-all")
    assert local.failures  # apply-all leaves n2 at version 3: every seed fails alike
    assert on_dask["sweep"] == [local.runs, [list(f) for f in local.failures], local.messages, 2]


def test_a_sampled_exploration_on_dask_gives_the_local_classes(on_dask):
    local = explore.explore("counter_race", strategy="random", max_schedules=16, jobs=2)
    assert on_dask["explore"] == [local.orders, local.cut,
                                  [[c.count, c.verdict] for c in local.classes]]


def test_an_unreachable_dask_cluster_is_one_clear_error(on_dask):
    assert on_dask["unreachable"].startswith("cannot reach the Dask cluster at tcp://127.0.0.1:9")
