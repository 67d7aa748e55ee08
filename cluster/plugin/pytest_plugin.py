"""The pytest plugin occsim installs (entry point `pytest11`): fixtures that give a test a real
occsim cluster, its options, and what a failing test reports.

Fixtures: `occsim_proc` (session: 1 node, profile 8, free ports, unless the options say
otherwise), `occsim` (function: that cluster, repaired and emptied after the test),
`occsim_nooproc` (a cluster `occsim up` started), `occsim_sim` (a story on a simulated cluster,
in this process on virtual time). More of them: `cluster.factories`.

When a test that used a cluster fails, its report gets a section with the Lamport diagram of
what the test did, without colour, at the terminal's width; `--occsim-trace-dir DIR` keeps
each test's trace there for `occsim replay` and `occsim check`.
"""

from __future__ import annotations

import pytest

from occsim.cluster.plugin import factories



def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("occsim", "occsim: a replicated Elasticsearch-style cluster")
    for option in factories.OPTIONS:
        group.addoption(f"--occsim-{option.name}", dest=option.dest, default=None,
                        help=option.help)
        parser.addini(option.dest, option.help)
    group.addoption("--occsim-run-file", dest="occsim_run_file", default=None,
                    help="the run file of a cluster `occsim up` started (occsim_nooproc)")
    parser.addini("occsim_run_file", "the run file of a cluster `occsim up` started")
    group.addoption("--occsim-trace-dir", dest="occsim_trace_dir", default=None,
                    metavar="DIR", help="keep each test's trace in DIR (for `occsim replay`)")
    parser.addini("occsim_trace_dir", "keep each test's trace in this folder")


occsim_proc = factories.occsim_proc()
occsim = factories.occsim("occsim_proc")
occsim_nooproc = factories.occsim_nooproc()


@pytest.fixture
def occsim_sim(request: pytest.FixtureRequest):
    """`occsim_sim(story, nodes=..., es_compat=..., seed=..., delay=...)` runs
    `async def story(cluster)` (the scenario handle: clients, hold/release, partition/heal,
    kill/restart, quiesce, copies) on a simulated cluster on virtual time, and returns a
    `SimRun`: the trace, and `check()`. The same seed gives the same trace."""
    from occsim.cluster.sim.run import simulate

    def run(story, **given):
        values = factories.settings(request.config, given)
        result = simulate(story, **factories.cluster_settings(values))
        request.node.stash.setdefault(factories.TRACES, []).append(result.trace)
        return result

    return run


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed and call.when == "call":
        from occsim.cluster.view import diagram as view

        width = item.config.get_terminal_writer().fullwidth
        for number, events in enumerate(_traces(item), 1):
            title = "occsim: what the test did" + (f" ({number})" if number > 1 else "")
            text = events if isinstance(events, str) else view.render_text(events, width=width)
            report.sections.append((title, text))
    return report


def _traces(item: pytest.Item) -> list[list[dict] | str]:
    """The traces of the clusters and simulated runs a test used (or why one is missing)."""
    from occsim.cluster.plugin.background import BackgroundCluster

    traces: list[list[dict] | str] = []
    for cluster in item.stash.get(factories.CLUSTERS, []):
        if isinstance(cluster, BackgroundCluster):
            try:
                traces.append(cluster.test_trace())
            except Exception as exc:  # a broken cluster must not break pytest's report
                traces.append(f"the trace could not be collected: {type(exc).__name__}: {exc}")
    return traces + item.stash.get(factories.TRACES, [])
