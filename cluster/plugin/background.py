"""A real cluster for another program's tests: the manager runs on its own event loop in a
daemon thread, so blocking code (an official Elasticsearch client, a sync worker) talks to the
nodes over HTTP while the test pulls the scenario API's levers with plain calls.

`BackgroundCluster` owns that thread and the levers; it also slices the trace per test
(`begin_test`, `test_trace`), checks it (`check`), and puts the cluster back as it found it
(`repair`: every fault repaired, every index deleted, every node a member again).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from occsim.cluster.trace import checker, events as trace
from occsim.cluster.runtime.client import Reply
from occsim.cluster.config import ClusterConfig
from occsim.cluster.errors import ClusterError
from occsim.cluster.runtime.manager import Manager
from occsim.cluster.stories.runner import free_port_block
from occsim.cluster.scenario import Cluster, Setup

WAIT = 60.0  # seconds a lever or a repair may take before the test fails (loaded machines)


class BackgroundCluster:
    """A started `Manager` on a daemon thread's loop, and the scenario levers as plain calls.

    `str()` of it and `.url` are the first node's address; `.urls` every node's."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="occsim-cluster")
        self.manager: Manager | None = None
        self.handle: Cluster | None = None
        self._mark = 0  # events before this position belong to earlier tests

    @classmethod
    def start(cls, **settings: Any) -> BackgroundCluster:
        """Start a cluster (`ClusterConfig` fields; free ports unless `port` is given)."""
        nodes = settings.get("nodes", ClusterConfig.nodes)
        settings.setdefault("port", free_port_block(nodes))
        cluster = cls(ClusterConfig(trace=True, **settings))
        cluster.thread.start()
        try:
            cluster._call(cluster._start())
        except BaseException:
            cluster.stop()
            raise
        return cluster

    async def _start(self) -> None:
        manager = Manager(self.config)
        await manager.start()
        self.manager = manager
        self.handle = Cluster(manager, Setup(nodes=self.config.nodes), self.config.es_compat)

    def stop(self) -> None:
        try:
            if self.manager is not None and self.manager.alive():
                self._call(self.manager.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def _call(self, coro, timeout: float = WAIT):
        """Run `coro` on the cluster's loop and wait for it; after `timeout` seconds it is
        cancelled, and has ended when this raises (a wait that never ends must not go on
        polling behind the test's back)."""
        name = coro.__qualname__
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop)
        try:
            return future.result(timeout + WAIT)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"occsim: {name} did not finish within {timeout:g}s") from None

    # -- where it is ---------------------------------------------------------------------------
    @property
    def urls(self) -> list[str]:
        """Every member node's HTTP address, in node order."""
        return [f"http://{info['ip']}:{info['port']}"
                for info in self.manager.master.state["nodes"].values()]

    @property
    def url(self) -> str:
        return self.urls[0]

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"<occsim {self.config.nodes} node(s), profile {self.config.es_compat}, {self.url}>"

    @property
    def nodes(self) -> list[str]:
        """The member nodes now (a failed node leaves this list until it rejoins)."""
        return self.handle.nodes

    def url_of(self, node: str) -> str:
        return f"http://{self.manager.address_of(node)}"

    def primary_of(self, index: str, doc_id: str) -> str:
        return self.handle.primary_of(index, doc_id)

    def replicas_of(self, index: str, doc_id: str) -> list[str]:
        return self.handle.replicas_of(index, doc_id)

    def copies(self, index: str, doc_id: str, *, doc_type: str | None = None) -> dict[str, Reply]:
        """Every copy of a document as its node holds it (`preference=_only_local`)."""
        return self._call(self.handle.copies(index, doc_id, doc_type=doc_type))

    # -- the levers ----------------------------------------------------------------------------
    def hold(self, src: str, dst: str | None = None, *, kind: str = "replicate",
             limit: int | None = None, **match: object) -> str:
        """Hold messages from `src` (to `dst`) of `kind` matching fields such as doc=,
        version=; returns the rule for `release`."""
        return self._call(self.handle.hold(src, dst, kind=kind, limit=limit, **match))

    def release(self, rule: str | None = None) -> None:
        self._call(self.handle.release(rule))

    def wait_held(self, count: int = 1, timeout: float = WAIT) -> None:
        self._call(self.handle.wait_held(count), timeout)

    def partition(self, side_a: list[str], side_b: list[str] | None = None, *,
                  one_way: bool = False) -> None:
        self._call(self.handle.partition(side_a, side_b, one_way=one_way))

    def heal(self) -> None:
        self._call(self.handle.heal())

    def kill(self, node: str) -> None:
        self._call(self.handle.kill(node))

    def stop_node(self, node: str) -> None:
        self._call(self.handle.stop(node))

    def restart(self, node: str) -> None:
        self._call(self.handle.restart(node))

    def pause(self, node: str) -> None:
        self._call(self.handle.pause(node))

    def resume(self, node: str) -> None:
        self._call(self.handle.resume(node))

    def network(self, **config: object) -> None:
        """Change every link now (delay_min_ms=, delay_max_ms=, reorder=, loss=, ...)."""
        self._call(self.handle.network(**config))

    def quiesce(self) -> None:
        """Return once every message in flight was delivered or dropped (held ones stay)."""
        self._call(self.handle.quiesce())

    def wait_for(self, condition: Callable[[dict], bool], what: str,
                 timeout: float = WAIT) -> None:
        """Wait until `condition(cluster_state)` holds, e.g. a new primary after a kill."""
        self._call(self.handle.wait_for(condition, what, timeout), timeout + 5)

    def wait_promoted(self, index: str, doc_id: str, old_primary: str,
                      timeout: float = WAIT) -> str:
        """Wait until another node holds the document's primary; return it."""
        self.wait_for(lambda _: self.primary_of(index, doc_id) not in (old_primary, None),
                      f"a new primary for [{index}][{doc_id}]", timeout)
        return self.primary_of(index, doc_id)

    # -- what happened -------------------------------------------------------------------------
    def begin_test(self) -> None:
        """Events from here on belong to the test that starts now."""
        self._call(self._begin())

    async def _begin(self) -> None:
        await self.manager.collect()
        self._mark = len(self.manager.events)

    def test_trace(self) -> list[dict]:
        """What this test did: the cluster event, every event since `begin_test`, and each
        shard copy's state now (the form `occsim replay` and `occsim check` read)."""
        return self._call(self._test_trace())

    async def _test_trace(self) -> list[dict]:
        await self.manager.collect()
        events = self.manager.events
        head = [e for e in events[:self._mark] if e["kind"] == "cluster"]
        copies = await self.manager.end_events()
        return trace.merge([head, events[self._mark:], copies])

    def check(self) -> None:
        """Run the trace checker on everything this test did; AssertionError names each
        violation (an acknowledged write lost, copies that diverge, ...)."""
        self.quiesce()
        violations = checker.check(self.test_trace(), profile=self.config.es_compat)
        if violations:
            raise AssertionError(checker.format_report(violations))

    # -- back to the start ---------------------------------------------------------------------
    def repair(self) -> None:
        """Release every hold, heal partitions, resume paused nodes, restore the links, delete
        every index, restart dead nodes, and wait until every node is a member again."""
        self._call(self._repair(), WAIT * 2)

    async def _repair(self) -> None:
        m = self.manager
        await m.control("*", {"op": "release"})
        if m.partitions or m.cut:
            await m.heal()
        for node in sorted(m.paused):
            await m.fault("resume", node)
        await m.control("*", {"op": "link", "config": asdict(self.config.link)})
        for index in list(m.master.state["indices"]):
            reply = await m.handle("manager", "delete_index", {"index": index})
            if "error" in reply:
                raise ClusterError(f"cannot delete [{index}]: {reply['error']['reason']}")
        for node, proc in sorted(m.procs.items()):
            if proc.returncode is not None:
                await m.fault("restart", node)
        await self.handle.wait_for(
            lambda state: set(state["nodes"]) == set(self.config.names),
            "every node to be a member again", WAIT)
        await m.quiesce()
