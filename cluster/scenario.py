"""The scenario API: what a teaching script declares (`Setup`) and the handle it drives
(`Cluster`): named clients, network levers, quiescence, a clock, and expectations.

A scenario is a Python file in `scenarios/` with a docstring (the story), a `SETUP`, and one
`async def run(cluster)`. The handle talks to a backend with the manager's interface, so the
same scenario runs on real node processes and in the simulation.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from occsim.cluster.trace import events as trace
from occsim.cluster.runtime.client import Client, Printer, Reply, Sender
from occsim.cluster.master import in_sync_nodes
from occsim.node.member import REPLICATION_TIMEOUT
from occsim.node.node import shard_for
from occsim.node.profiles import profile as profile_named

out_of_order = trace.out_of_order  # a trace's deliveries that arrived after a newer one

# what a request raises when its node dies under it (a real socket, or the simulation's)
NodeUnreachable = (aiohttp.ClientError, ConnectionError)


@dataclass(frozen=True)
class ShardRouting:
    """Where a shard's copies are, as the master last published it: the primary (None while
    the shard is red), the replicas' nodes (None for an unassigned one), the primary term, and
    the nodes whose copies are still recovering."""

    primary: str | None
    replicas: tuple[str | None, ...]
    term: int
    initializing: tuple[str, ...]


@dataclass(frozen=True)
class Setup:
    """What a scenario needs. Defaults: 3 nodes, every profile (first is the default), seed 0,
    no delay, no indices created up front, a 10 s replication timeout, no checker violation
    expected.

    `lesson` is what the run proves, in one or two sentences: its verdict ends with it.
    `indices` names the indices to create up front, each with `shards` primaries and
    `replicas` replicas (a dict of index -> body gives other settings too; `shards` and
    `replicas` fill in what a body leaves out). `expect_violations` maps each checker
    invariant the story breaks on purpose to the reason it does.
    """

    nodes: int = 3
    profiles: tuple[int, ...] = (5, 6, 7, 8, 9)
    seed: int = 0
    delay: str = "0"
    delay_dist: str = "uniform"
    reorder: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    indices: Mapping[str, dict] | tuple[str, ...] = ()
    shards: int | None = None
    replicas: int | None = None
    replication_timeout: float = REPLICATION_TIMEOUT  # seconds a primary waits for a replica
    expect_violations: Mapping[str, str] = field(default_factory=dict)
    lesson: str = ""

    def index_bodies(self) -> dict[str, dict]:
        """Each index to create, with its creation body."""
        bodies = dict(self.indices) if isinstance(self.indices, Mapping) else {
            name: {} for name in self.indices}
        counts = {"number_of_shards": self.shards, "number_of_replicas": self.replicas}
        for name, body in bodies.items():
            settings = {k: v for k, v in counts.items() if v is not None}
            bodies[name] = {**body, "settings": {**settings, **body.get("settings", {})}}
        return bodies


class Backend(Protocol):
    """What the handle needs of a running cluster (the manager, or the simulation)."""

    master: object
    sender: Sender

    async def control(self, target: str, body: dict) -> dict: ...
    async def quiesce(self) -> None: ...
    async def create_index(self, index: str, body: dict) -> dict: ...
    async def collect(self) -> None: ...
    events: list[dict]
    def alive(self) -> list[str]: ...


@dataclass
class Expectation:
    ok: bool
    text: str


class Cluster:
    """The handle a scenario's `run(cluster)` receives."""

    def __init__(self, backend: Backend, setup: Setup, profile: int, *,
                 printer: Printer | None = None,
                 narrate: Callable[[str], None] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 seed: int | None = None,
                 pace: Callable[[str, bool], Awaitable[None]] | None = None) -> None:
        self.backend = backend
        self.setup = setup
        self.profile = profile
        self.seed = setup.seed if seed is None else seed  # the run's seed (`occsim run --seed`)
        self.expectations: list[Expectation] = []
        self.random = random.Random(self.seed)  # the story's own randomness, seeded by the run
        self._printer = printer
        self._narrate = narrate or (lambda text: None)
        self._sleep = sleep
        self._pace = pace
        self._tasks: list[asyncio.Task] = []

    # -- actors ----------------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        """The nodes in the cluster now (a failed node leaves this list)."""
        return list(self.backend.master.state["nodes"])

    def client(self, name: str, node: str | None = None, *, quiet: bool = False) -> Client:
        """A named actor talking to `node` (default: the first node)."""
        return Client(name, node or self.nodes[0], self.backend.sender, self._printer,
                      quiet=quiet, pace=self._pace)

    def spawn(self, coro: Awaitable) -> asyncio.Task:
        """Run an actor's step in the background (for example a write that will block)."""
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        return task

    def say(self, text: str) -> None:
        """A line of narration between steps."""
        self._narrate(text)

    def guard(self, seen: Reply) -> dict:
        """The condition "unchanged since I read it" for a write, in this profile's words:
        `version` in 5.x, `if_seq_no` and `if_primary_term` from 6.x (Elasticsearch 6.6 on;
        6.7 deprecates internal versions for this, 7.0 refuses them)."""
        if not profile_named(self.profile).seq_no_cas:
            return {"version": seen["_version"]}
        return {"if_seq_no": seen["_seq_no"], "if_primary_term": seen["_primary_term"]}

    async def counters(self) -> dict[str, int]:
        """The trace's counters so far, as the view shows them: sent, delivered, out of order,
        discarded, conflicts, dropped, duplicated, held."""
        return trace.counters(await self.trace())

    @property
    def doc_type(self) -> str:
        """The type segment of document URLs this profile prefers (`_doc` from 6.x)."""
        return "_doc" if profile_named(self.profile).doc_endpoint else "doc"

    # -- where things live ------------------------------------------------------------------
    def shard_of(self, index: str, doc_id: str) -> int:
        meta = self.backend.master.state["indices"][index]
        return shard_for(doc_id, meta["shards"], meta["routing_num_shards"])

    def primary_of(self, index: str, doc_id: str) -> str:
        meta = self.backend.master.state["indices"][index]
        return meta["routing"][self.shard_of(index, doc_id)]["primary"]

    def replicas_of(self, index: str, doc_id: str) -> list[str]:
        meta = self.backend.master.state["indices"][index]
        return [r for r in meta["routing"][self.shard_of(index, doc_id)]["replicas"] if r]

    def routing(self, index: str, doc_id: str) -> ShardRouting:
        """The routing of the document's shard."""
        r = self.backend.master.state["indices"][index]["routing"][self.shard_of(index, doc_id)]
        return ShardRouting(r["primary"], tuple(r["replicas"]), r["term"],
                            tuple(r["initializing"]))

    def in_sync(self, index: str, doc_id: str) -> list[str]:
        """The nodes whose copies of the document's shard are in its in-sync set."""
        meta = self.backend.master.state["indices"][index]
        return in_sync_nodes(meta["routing"][self.shard_of(index, doc_id)])

    async def copies(self, index: str, doc_id: str, *, doc_type: str | None = None
                     ) -> dict[str, Reply]:
        """Every copy of a document, read on its own node with `preference=_only_local`."""
        holders = [self.primary_of(index, doc_id), *self.replicas_of(index, doc_id)]
        reader = self.client("inspector", quiet=True)
        replies = await asyncio.gather(*(
            reader.on(n).get(index, doc_id, doc_type=doc_type or self.doc_type,
                             preference="_only_local") for n in holders))
        return dict(zip(holders, replies))

    async def trace(self) -> list[dict]:
        """Every event recorded so far, in trace order."""
        await self.backend.collect()
        return trace.merge([self.backend.events])

    # -- the network and the clock -----------------------------------------------------------
    async def hold(self, src: str, dst: str | None = None, *, kind: str = "replicate",
                   limit: int | None = None, **match: object) -> str:
        """Hold messages from `src` (to `dst`) matching fields such as doc=, version=."""
        reply = await self.backend.control(src, {"op": "hold", "rule": {
            "dst": dst, "kind": kind, "limit": limit, "match": match}})
        return f"{src}/{reply[src]['rule']}"

    async def release(self, rule: str | None = None) -> None:
        """Let go what a hold rule caught (all rules on all nodes when None)."""
        if rule is None:
            await self.backend.control("*", {"op": "release"})
        else:
            node, rule_id = rule.split("/")
            await self.backend.control(node, {"op": "release", "rule": rule_id})

    async def wait_held(self, count: int = 1) -> None:
        """Wait until the network holds at least `count` messages."""
        while True:
            replies = await self.backend.control("*", {"op": "rules"})
            if sum(r["held"] for r in replies.values()) >= count:
                return
            await self._sleep(0.002)

    async def partition(self, side_a: list[str], side_b: list[str] | None = None, *,
                        one_way: bool = False) -> None:
        """Cut `side_a` from `side_b` (default: every other node); the master stays with
        the larger side, so the smaller one also loses the master."""
        await self.backend.partition(side_a, side_b, one_way=one_way)

    async def heal(self) -> None:
        await self.backend.heal()

    # -- node faults -------------------------------------------------------------------------
    async def kill(self, node: str) -> None:
        """SIGKILL: the node dies at once and loses whatever it had not sent."""
        await self.backend.fault("kill", node)

    async def stop(self, node: str) -> None:
        await self.backend.fault("stop", node)

    async def restart(self, node: str) -> None:
        await self.backend.fault("restart", node)

    async def pause(self, node: str) -> None:
        """SIGSTOP: the node freezes; the master soon treats it as failed."""
        await self.backend.fault("pause", node)

    async def resume(self, node: str) -> None:
        await self.backend.fault("resume", node)

    async def wait_for(self, condition, what: str, timeout: float = 30.0) -> None:
        """Poll the cluster state until `condition(state)` holds (e.g. a promotion)."""
        await self.wait_until(lambda: condition(self.backend.master.state), what, timeout)

    async def wait_until(self, condition: Callable[[], bool], what: str,
                         timeout: float = 30.0) -> None:
        """Poll until `condition()` holds, e.g. `lambda: cluster.routing(i, d).term == 2`."""
        waited = 0.0
        while not condition():
            if waited > timeout:
                raise TimeoutError(f"waited {timeout:g}s for {what}")
            await self._sleep(0.01)
            waited += 0.01

    async def network(self, **config: object) -> None:
        """Change every link's behaviour now (delay_min_ms=, delay_max_ms=, reorder=, ...)."""
        await self.backend.control("*", {"op": "link", "config": config})

    async def quiesce(self) -> None:
        """Wait until every message in flight was delivered or dropped."""
        await self.backend.quiesce()

    async def advance_clock(self, seconds: float) -> None:
        """Move every node's clock forward, for example past `index.gc_deletes`."""
        await self.backend.control("*", {"op": "advance_clock", "seconds": seconds})

    # -- the verdict -------------------------------------------------------------------------
    def expect(self, ok: bool, text: str) -> bool:
        """Record an expectation: the verdict lists them all, each with its figures."""
        self.expectations.append(Expectation(bool(ok), text))
        self._narrate(("✔ " if ok else "✘ ") + text)
        return bool(ok)

    def expect_equal(self, actual: object, expected: object, what: str) -> bool:
        ok = actual == expected
        return self.expect(ok, f"{what}: {actual!r}" if ok else
                           f"{what}: expected {expected!r}, got {actual!r}")

    async def finish(self) -> None:
        """Wait for the actors the scenario spawned."""
        if self._tasks:
            await asyncio.gather(*self._tasks)

    async def abandon(self) -> None:
        """The run was stopped: end the actors the scenario spawned."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def failures(self) -> list[str]:
        return [e.text for e in self.expectations if not e.ok]
