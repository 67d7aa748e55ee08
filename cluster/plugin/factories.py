"""Fixture factories of the pytest plugin, named as pytest-elasticsearch names its own, and the
bookkeeping they share with the plugin (the clusters and traces a test used, kept traces):
`occsim_proc(...)` makes a session-scoped fixture that starts a cluster of node processes,
`occsim(proc_fixture_name)` a function-scoped one that hands a test that cluster and repairs and
empties it afterwards, `occsim_nooproc(...)` one for a cluster already running (`occsim up`).

    from occsim.cluster.plugin import factories

    occsim_three = factories.occsim_proc(nodes=3, es_compat=8, delay="5..50ms")
    occsim3 = factories.occsim("occsim_three")

A setting comes from the factory's argument, else the command line (`--occsim-nodes`), else
the ini file (`occsim_nodes`), else the default: 1 node, profile 8, no delay, seed 0.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from occsim.transport.network import DISTRIBUTIONS, LinkConfig

CLUSTERS = pytest.StashKey[list]()  # the clusters (and simulated runs' traces) a test used
TRACES = pytest.StashKey[list]()


@dataclass(frozen=True)
class Option:
    """One setting: its name (`--occsim-NAME`, ini `occsim_NAME`), parser, default and help."""

    name: str
    parse: Any
    default: Any
    help: str

    @property
    def dest(self) -> str:
        return "occsim_" + self.name.replace("-", "_")


def _profile(text: str) -> int:
    major = int(text)
    if major not in (5, 6, 7, 8, 9):
        raise ValueError(f"es-compat must be one of 5, 6, 7, 8, 9, not {major}")
    return major


def _positive(text: str) -> int:
    count = int(text)
    if count < 1:
        raise ValueError(f"nodes must be at least 1, not {count}")
    return count


def _delay(text: str) -> str:
    LinkConfig.parse_delay(text)
    return text


def _distribution(text: str) -> str:
    if text not in DISTRIBUTIONS:
        raise ValueError(f"delay-dist must be one of {', '.join(DISTRIBUTIONS)}, not {text!r}")
    return text


OPTIONS = (
    Option("nodes", _positive, 1, "node processes in the cluster (default 1)"),
    Option("es-compat", _profile, 8, "the Elasticsearch generation the nodes answer as (5..9, "
           "default 8)"),
    Option("delay", _delay, "0", "message delay between nodes, e.g. 5..50ms (default 0)"),
    Option("delay-dist", _distribution, "uniform", "delay distribution (default uniform)"),
    Option("reorder", float, 0.0, "probability a message is held back so later ones overtake it"),
    Option("loss", float, 0.0, "probability a message between nodes is lost"),
    Option("duplicate", float, 0.0, "probability a message between nodes arrives twice"),
    Option("seed", int, 0, "the network's random seed (default 0)"),
)


def settings(config: pytest.Config, given: dict[str, Any]) -> dict[str, Any]:
    """Each option's value: `given` (a factory's arguments), else the command line, else the
    ini file, else the default. A bad value is a usage error naming where it came from."""
    values = {}
    for option in OPTIONS:
        key = option.dest.removeprefix("occsim_")
        value, where = given.get(key), "the fixture factory"
        if value is None:
            value, where = config.getoption(option.dest), f"--occsim-{option.name}"
        if value is None:
            value, where = config.getini(option.dest) or None, f"ini option {option.dest}"
        if value is None:
            values[key] = option.default
            continue
        try:
            values[key] = option.parse(str(value))
        except ValueError as exc:
            raise pytest.UsageError(f"occsim: {where}: {exc}") from None
    return values


def cluster_settings(values: dict[str, Any]) -> dict[str, Any]:
    """`ClusterConfig` fields from the option values."""
    try:
        link = LinkConfig.of(values["delay"], values["delay_dist"], values["reorder"],
                             values["loss"], values["duplicate"])
    except ValueError as exc:
        raise pytest.UsageError(f"occsim: {exc}") from None
    return {"nodes": values["nodes"], "es_compat": values["es_compat"], "seed": values["seed"],
            "link": link}


def occsim_proc(*, nodes: int | None = None, es_compat: int | None = None,
                delay: str | None = None, delay_dist: str | None = None,
                reorder: float | None = None, loss: float | None = None,
                duplicate: float | None = None, seed: int | None = None):
    """A session-scoped fixture: a cluster of node processes on free loopback ports, started
    at its first use and stopped at the end of the session (of the xdist worker)."""
    given = {"nodes": nodes, "es_compat": es_compat, "delay": delay, "delay_dist": delay_dist,
             "reorder": reorder, "loss": loss, "duplicate": duplicate, "seed": seed}

    @pytest.fixture(scope="session")
    def occsim_proc_fixture(request: pytest.FixtureRequest):
        from occsim.cluster.plugin.background import BackgroundCluster
        from occsim.cluster.errors import ClusterError

        config = cluster_settings(settings(request.config, given))
        try:
            cluster = BackgroundCluster.start(**config)
        except ClusterError as exc:
            pytest.fail(f"occsim: the cluster did not start: {exc}", pytrace=False)
        yield cluster
        cluster.stop()

    return occsim_proc_fixture


def occsim(process_fixture_name: str):
    """A function-scoped fixture on the cluster of `process_fixture_name`: the test gets it,
    and afterwards every fault is repaired, every index deleted and every node a member."""

    @pytest.fixture
    def occsim_fixture(request: pytest.FixtureRequest):
        cluster = request.getfixturevalue(process_fixture_name)
        cluster.begin_test()
        request.node.stash.setdefault(CLUSTERS, []).append(cluster)
        yield cluster
        keep_trace(request.node, cluster)
        cluster.repair()

    return occsim_fixture


def occsim_nooproc(*, run_file: str | None = None):
    """A session-scoped fixture for a cluster `occsim up` started: its run file (default
    `.occsim-run.json` here, or `--occsim-run-file`) says where the manager listens."""

    @pytest.fixture(scope="session")
    def occsim_nooproc_fixture(request: pytest.FixtureRequest):
        from occsim.cluster.runtime.remote import RemoteCluster

        path = run_file or request.config.getoption("occsim_run_file") or \
            request.config.getini("occsim_run_file") or ".occsim-run.json"
        try:
            with open(path) as f:
                info = json.load(f)
        except (OSError, ValueError) as exc:
            pytest.fail(f"occsim: no running cluster: cannot read {path} ({exc}); start one "
                        "with `occsim up`", pytrace=False)
        return RemoteCluster(info["manager"], os.environ.get("OCCSIM_SECRET") or info["secret"])

    return occsim_nooproc_fixture


def keep_trace(item: pytest.Item, cluster) -> None:
    """Write the test's trace to `--occsim-trace-dir`, when given (a cluster this session
    started: the trace of one `occsim up` started stays with its manager)."""
    from occsim.cluster.trace import events as trace
    from occsim.cluster.plugin.background import BackgroundCluster

    folder = item.config.getoption("occsim_trace_dir") or item.config.getini("occsim_trace_dir")
    if not folder or not isinstance(cluster, BackgroundCluster):
        return

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid).strip("_")
    trace.write(path / f"{name}.jsonl", cluster.test_trace())
