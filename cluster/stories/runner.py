"""Running a scenario: find and load its file, start a cluster shaped as it declares, run the
story, check the trace, and decide the verdict.

`run_scenario` is what `occsim run` and the tests call; the printing is left to the `Report`
it is given, so the same run can be plain text, live, or silent.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import socket
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType

from occsim.cluster.trace import checker
from occsim.cluster.runtime.client import Reply
from occsim.cluster.config import ClusterConfig
from occsim.cluster.runtime.manager import Manager
from occsim.cluster.scenario import Cluster, Expectation, Setup
from occsim.cluster.sim.schedule import SeededScheduler
from occsim.cluster.sim.launcher import SimLauncher
from occsim.transport.network import LinkConfig
from occsim.cluster.errors import ScenarioError

SCENARIO_DIRS = (Path.cwd() / "scenarios", Path(__file__).resolve().parents[2] / "scenarios")


def find(name: str) -> Path:
    """A scenario by path, or by short name (`seed-000-external-version`, `seed_000...`)."""
    path = Path(name)
    if path.suffix == ".py" and path.exists():
        return path
    stem = name.replace("-", "_").removesuffix(".py")
    for folder in SCENARIO_DIRS:
        candidate = folder / f"{stem}.py"
        if candidate.exists():
            return candidate
        matches = sorted(folder.glob(f"{stem}*.py")) if folder.exists() else []
        if len(matches) == 1:
            return matches[0]
    raise ScenarioError(f"no scenario named [{name}]; `occsim list` shows them")


def all_scenarios() -> list[Path]:
    for folder in SCENARIO_DIRS:
        if folder.exists():
            return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    return []


_loaded: dict[tuple[Path, float], ModuleType] = {}


def load(path: Path) -> ModuleType:
    """Import a scenario file (once per version of the file: a sweep loads it once)."""
    key = (path.resolve(), path.stat().st_mtime)
    if key in _loaded:
        return _loaded[key]
    spec = importlib.util.spec_from_file_location(f"occsim_scenario_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "run") or not isinstance(getattr(module, "SETUP", None), Setup):
        raise ScenarioError(f"{path} needs a SETUP = Setup(...) and an async def run(cluster)")
    _loaded[key] = module
    return module


def summary(module: ModuleType) -> str:
    """The docstring's first paragraph, on one line."""
    paragraph = (module.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def free_port_block(count: int, start: int | None = None) -> int:
    """The first port from `start` where `count` consecutive ports are free on loopback.

    By default `start` is random between 20000 and the kernel's ephemeral range, so that runs
    side by side rarely collide and no outgoing connection can take a port between this probe
    and the node's bind."""
    port = start if start is not None else random.randrange(20000, _ephemeral_low() - 64)
    while port + count <= 65535:
        if all(_free(port + i) for i in range(count)):
            return port
        port += count
    raise ScenarioError("no free ports on loopback")


def _ephemeral_low() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux; 32768 elsewhere)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(low, 20000 + 1024)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Report:
    """Where a run's story goes: plain text lines by default."""

    def __init__(self, out=None) -> None:
        self.out = out or sys.stdout

    def step(self, actor: str, method: str, target: str, body: object, reply: Reply) -> None:
        lines = [f"# {actor}", f"{method} {target}"]
        if body is not None:
            lines.append(json.dumps(body, indent=2, ensure_ascii=False))
        lines.append("")
        lines.append(f"HTTP {reply.status}")
        if reply.body is not None:
            lines.append(reply.body if isinstance(reply.body, str) else
                         json.dumps(reply.body, indent=2, ensure_ascii=False))
        self.line("\n".join(lines) + "\n")

    def narrate(self, text: str) -> None:
        self.line(f"-- {text}")

    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    pacer = None  # a `cluster.pace.Pacer`, awaited before each request of the story

    async def pace(self, what: str, shown: bool) -> None:
        await self.pacer(what, shown)

    def close(self) -> None:
        """The run was interrupted: leave the terminal clean."""

    def attach(self, backend) -> None:
        """The cluster is up (a live view starts following its events here)."""

    def events(self, events: list[dict]) -> None:
        """The run's whole trace, once it ended."""


class Interrupted(Exception):
    """The teacher stopped the run (q while stepping, or Ctrl-C)."""


@dataclass
class Outcome:
    name: str
    profile: int
    passed: bool
    failure: str | None          # one line: why it failed (None if it passed)
    trace: list[dict] = field(default_factory=list)
    violations: list = field(default_factory=list)
    messages: int | None = None  # in the simulation: messages its network carried
    lesson: str = ""
    expectations: list[Expectation] = field(default_factory=list)
    expected: dict[str, str] = field(default_factory=dict)  # invariant -> why it is broken
    interrupted: bool = False
    rules: str = ""  # the counterfactual rules it ran under, e.g. " [replica-rule apply-all]"

    @property
    def verdict(self) -> str:
        """The last lines of a run: PASS, FAIL or STOPPED, the lesson, every expectation with
        its figures, and what the checker found (expected reports named with their reason)."""
        failed = [e for e in self.expectations if not e.ok]
        title = self.name + self.rules
        head = (f"STOPPED {title}: {self.failure}" if self.interrupted
                else f"PASS {title}" if self.passed else f"FAIL {title}: {self.failure}")
        lines = [head]
        if self.lesson:
            lines.append(f"  lesson: {self.lesson}")
        lines += [f"  {'✔' if e.ok else '✘'} {e.text}" for e in self.expectations]
        found: dict[str, int] = {}
        for v in self.violations:
            found[v.invariant] = found.get(v.invariant, 0) + 1
        for name, count in found.items():
            if name in self.expected:
                lines.append(f"  ✔ the checker reports {name} ({count}), as expected: "
                             f"{self.expected[name]}")
        for name in self.expected:
            if name not in found and not self.interrupted:
                lines.append(f"  ✘ the checker does not report {name}, which this story breaks")
        lines += [f"  ✘ checker: {v.invariant}: {v.message}" for v in self.violations
                  if v.invariant not in self.expected]
        if self.interrupted:
            safe = "no invariant violation" if not self.violations else "see the checker above"
            lines.append(f"  the trace so far ({len(self.trace)} events): {safe}")
        elif failed and len(failed) > 1:
            lines[0] = (f"FAIL {title}: {len(failed)} of {len(self.expectations)} "
                        "expectations failed")
        return "\n".join(lines)


def config_for(setup: Setup, *, seed: int | None, profile: int, port: int) -> ClusterConfig:
    link = LinkConfig.of(setup.delay, setup.delay_dist, setup.reorder, setup.loss,
                         setup.duplicate)
    return ClusterConfig(nodes=setup.nodes, port=port, seed=setup.seed if seed is None else seed,
                         link=link, es_compat=profile, trace=True,
                         replication_timeout=setup.replication_timeout)


def rules_text(replica_rule: str, links: str) -> str:
    """The counterfactual rules as a verdict names them ("" for Elasticsearch's own)."""
    rules = [f"replica-rule {replica_rule}"] * (replica_rule != "es") + \
        [f"links {links}"] * (links != "any")
    return f" [{', '.join(rules)}]" if rules else ""


def choose_profile(module: ModuleType, es_compat: int | None) -> int:
    setup: Setup = module.SETUP
    if es_compat is None:
        return setup.profiles[0]
    if es_compat not in setup.profiles:
        supported = ", ".join(str(p) for p in setup.profiles)
        raise ScenarioError(f"this story supports --es-compat {supported}, not {es_compat}")
    return es_compat


async def run_scenario(name: str, *, seed: int | None = None, es_compat: int | None = None,
                       report: Report | None = None, port: int | None = None,
                       sim: bool = False, replica_rule: str = "es", links: str = "any",
                       scheduler=None) -> Outcome:
    """Run one scenario and return its outcome (never raises for a failing story; raises
    ScenarioError for one that cannot start). On real node processes, or with `sim` in this
    process on virtual time (the caller runs it on a `simloop.VirtualTimeLoop`), where the
    counterfactual rules apply and `scheduler` (`cluster.schedule`) makes every choice."""
    path = find(name)
    module = load(path)
    profile = choose_profile(module, es_compat)
    report = report or Report()
    setup: Setup = module.SETUP
    if not sim and (replica_rule, links) != ("es", "any"):
        raise ScenarioError("--replica-rule and --links change how the simulation behaves; "
                            "real node processes always follow Elasticsearch (add --sim)")
    launcher = None
    if sim:
        if scheduler is None:
            scheduler = SeededScheduler(fifo=links == "fifo")
        launcher = SimLauncher(scheduler)
        config = config_for(setup, seed=seed, profile=profile, port=9200)
        config = replace(config, replica_rule=replica_rule, links=links, scheduler=scheduler.mode)
        if scheduler.mode == "ordered":  # the scheduler decides what the link's config allows
            scheduler.fifo = scheduler.fifo or links == "fifo"
            scheduler.loss, scheduler.duplicate = config.link.loss > 0, config.link.duplicate > 0
            config = replace(config, link=LinkConfig())
        manager = Manager(config, launcher=launcher, clock=asyncio.get_running_loop().time)
    else:
        config = config_for(setup, seed=seed, profile=profile,
                            port=port or free_port_block(setup.nodes))
        manager = Manager(config)
    await manager.start()
    outcome = await drive(module, path.stem, manager, setup, profile, report, config.seed)
    if launcher is not None:
        outcome.messages = launcher.messages
        outcome.rules = rules_text(replica_rule, links)
    return outcome


async def drive(module: ModuleType, name: str, backend, setup: Setup, profile: int,
                report: Report, seed: int) -> Outcome:
    """Run the story on a started backend, stop it, check the trace, decide the verdict.
    A run the teacher stops (Ctrl-C, or q while stepping) still stops the cluster, checks the
    trace so far and returns its outcome, marked interrupted."""
    cluster = Cluster(backend, setup, profile, printer=report.step, narrate=report.narrate,
                      seed=seed, pace=report.pace if report.pacer is not None else None)
    failure, interrupted = None, False
    if report.pacer is not None:
        report.pacer.story = asyncio.current_task()
    report.attach(backend)
    try:
        for index, body in setup.index_bodies().items():
            await backend.create_index(index, body)
        await module.run(cluster)
        await cluster.finish()
        await cluster.quiesce()
    except (asyncio.CancelledError, Interrupted) as exc:
        failure, interrupted = str(exc) or "interrupted (Ctrl-C)", True
        await cluster.abandon()
    except Exception as exc:  # the story broke: report it as the verdict
        failure = f"{type(exc).__name__}: {exc}"
        report.line(traceback.format_exc())
    finally:
        events = await backend.stop()
    report.events(events)
    violations = checker.check(events, profile=profile)
    expected = dict(setup.expect_violations) if isinstance(setup.expect_violations, dict) else {
        name: "broken on purpose" for name in setup.expect_violations}
    found = sorted({v.invariant for v in violations})
    if failure is None and cluster.failures:
        failure = "; ".join(cluster.failures)
    if failure is None and found != sorted(expected):
        unexpected = [v for v in violations if v.invariant not in expected]
        if unexpected:
            failure = f"checker: {unexpected[0].invariant}: {unexpected[0].message}"
        else:
            failure = f"checker: expected violations {sorted(expected)}, found {found}"
    if violations:
        _report_violations(report, violations, expected)
    return Outcome(name, profile, failure is None, failure, events, violations,
                   lesson=setup.lesson, expectations=cluster.expectations, expected=expected,
                   interrupted=interrupted)


def _report_violations(report: Report, violations: list, expected: dict[str, str]) -> None:
    """The checker's report, the violations the story expects apart and named as such."""
    unexpected = [v for v in violations if v.invariant not in expected]
    if unexpected:
        report.line(checker.format_report(unexpected))
    for name, reason in expected.items():
        mine = [v for v in violations if v.invariant == name]
        if mine:
            details = checker.format_report(mine).split("\n", 1)[1]
            report.line(f"{len(mine)} report(s) of {name}, expected by this story: {reason}"
                        f"{details}")
