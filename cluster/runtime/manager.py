"""The manager: starts the node processes, plays Elasticsearch's elected master, and collects
the trace.

It spawns one OS process per node (`python -m occsim.cluster.runtime.process`), waits for each to join,
publishes the cluster state `MasterState` computes, answers the nodes' master requests (create
an index, fail a replica), relays network and clock controls, and knows when the network is
quiet. It injects node faults (kill, stop, restart, pause, resume, partitions), detects failed
nodes, promotes replicas, resyncs and recovers copies, and at the end gathers every node's
events and each shard copy's final state into one trace.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import signal
import time
from collections.abc import Callable
from occsim.cluster.trace import events as trace
from occsim.cluster.config import ClusterConfig
from occsim.cluster.runtime.launch import ProcessLauncher
from occsim.cluster.runtime.wiring import Launcher
from occsim.cluster.master import MasterState, in_sync_nodes
from occsim.node.errors import ElasticsearchError
from occsim.node.profiles import profile
from occsim.transport.endpoint import MANAGER, Endpoint
from occsim.transport.message import TransportError
from occsim.transport.network import NetworkModel
from occsim.transport.recorder import Recorder, expand, unpack_batch
from occsim.cluster.errors import ClusterError

JOIN_TIMEOUT = 30.0
MAX_ALLOCATION_RETRIES = 5  # index.allocation.max_retries: then the copy stays unassigned
COLLECT_EVERY = 0.25  # seconds between two collections of the nodes' trace events


FAULTS = ("kill", "stop", "restart", "pause", "resume")


class Manager:
    """Owns the node processes and the master role of one cluster."""

    def __init__(self, config: ClusterConfig, *, launcher: Launcher | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.launcher = launcher or ProcessLauncher()
        self.clock = clock
        self.secret = secrets.token_hex(16)
        self.master = MasterState(profile(config.es_compat), nodes={},
                                  rng=random.Random(config.seed))
        self.recorder = Recorder(MANAGER, clock, enabled=config.trace,
                                 sequencer=getattr(self.launcher, "sequencer", None))
        self.endpoint = Endpoint(MANAGER, recorder=self.recorder, network=NetworkModel(),
                                 handler=self.handle)
        self.wire = None  # set by the launcher
        self.sender = None  # set by the launcher
        self._events: list[dict] = []
        self._batches: list[bytes | list] = []  # collected events not yet read (packed or raw)
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.incarnations: dict[str, int] = {}  # how many times each node was started
        self.ports = {name: config.port + i for i, name in enumerate(config.names)}
        self.known: dict[str, dict] = {}  # every node's last address, members or not
        self.cut: set[str] = set()  # nodes a partition separates from the master
        self.partitions: list[dict] = []  # partition controls in force, replayed to returners
        self.allocation_failures: dict[tuple[str, int, str], int] = {}
        self._reroute_pending = False
        self.paused: set[str] = set()
        self._joined = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: dict[asyncio.Task, None] = {}  # ordered, so stop() cancels in a fixed order
        self._stopping = False
        self.address = ""
        self.ready_s = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the manager's listener and every node; return when the cluster is ready."""
        started = time.perf_counter()
        wiring = await self.launcher.open(self)
        self.address, self.wire, self.sender = wiring.address, wiring.wire, wiring.sender
        self.master.state["master_node"] = wiring.master_node
        await asyncio.gather(*(self._spawn(name) for name in self.config.names))
        joined = asyncio.ensure_future(self._joined.wait())
        exits = [asyncio.ensure_future(p.wait()) for p in self.procs.values()]
        done, _ = await asyncio.wait([joined, *exits], timeout=JOIN_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        for f in exits:
            f.cancel()
        if joined not in done:
            joined.cancel()
            await self.stop()
            raise ClusterError("a node did not start (is a port in use?); see its error above")
        self.recorder.record("cluster", format=trace.FORMAT, es_compat=self.config.es_compat,
                             nodes=self.config.nodes, seed=self.config.seed,
                             **self.config.rules)
        await self.publish()
        self._background(self._detect_failures())
        if self.config.trace:
            self._background(self._collect_regularly())
        self.ready_s = time.perf_counter() - started

    async def _spawn(self, name: str) -> None:
        self.incarnations[name] = self.incarnations.get(name, 0) + 1
        proc = await self.launcher.spawn(self, name)
        self.procs[name] = proc
        self._background(self._watch_exit(name, proc))

    def _background(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks[task] = None
        task.add_done_callback(lambda t: self._tasks.pop(t, None))

    async def stop(self) -> list[dict]:
        """Collect the last events and final copies, stop every node, return the trace."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        for name in list(self.paused):
            self.procs[name].send_signal(signal.SIGCONT)
        if self.alive() and self.master.state["nodes"]:
            await self.collect()
            self._events.extend(await self.end_events())
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*(self._reap(proc) for proc in self.procs.values()))
        await self.launcher.close(self)
        return self.trace()

    @staticmethod
    async def _reap(proc: asyncio.subprocess.Process) -> None:
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    def alive(self) -> list[str]:
        """Nodes whose process runs and is not paused."""
        return [n for n, p in self.procs.items() if p.returncode is None and n not in self.paused]

    def members(self) -> list[str]:
        """Live nodes that are in the cluster state (reachable from the master)."""
        return [n for n in self.alive() if n in self.master.state["nodes"]]

    # -- faults ----------------------------------------------------------------------------
    async def fault(self, action: str, target: str) -> dict:
        """Kill (SIGKILL), stop (SIGTERM), restart, pause (SIGSTOP) or resume (SIGCONT) a node."""
        if action not in FAULTS:
            raise ClusterError(f"unknown fault [{action}]; one of {', '.join(FAULTS)}")
        proc = self.procs.get(target)
        if proc is None:
            raise ClusterError(f"no node named [{target}]")
        self.recorder.record("fault", action=action, target=target)
        if action == "kill":
            proc.kill()
            await proc.wait()
        elif action in ("stop", "restart"):
            if proc.returncode is None:
                await self._collect_from(target)
                proc.send_signal(signal.SIGTERM)
                await self._reap(proc)
            if action == "restart":
                await self._spawn(target)
        elif action == "pause":
            proc.send_signal(signal.SIGSTOP)
            self.paused.add(target)
        else:
            proc.send_signal(signal.SIGCONT)
            self.paused.discard(target)
            await self._sync_network(target)
        return {"ok": True, "action": action, "target": target}

    async def partition(self, side_a: list[str], side_b: list[str] | None = None, *,
                        one_way: bool = False) -> dict:
        """Cut the links between two sets of nodes. When the two sets split the whole cluster
        (and both ways), the master stays with the larger side (with `side_b` on a tie) and
        the other side is cut off from it too."""
        unknown = [n for n in (*side_a, *(side_b or ())) if n not in self.config.names]
        if unknown:
            raise ClusterError(f"no node named [{unknown[0]}]")
        side_b = side_b or [n for n in self.config.names if n not in side_a]
        self.recorder.record("fault", action="partition", target=",".join(side_a),
                             detail=("→" if one_way else "|") + ",".join(side_b))
        control = {"op": "partition", "a": side_a, "b": side_b, "one_way": one_way}
        self.partitions.append(control)
        await self.control("*", control)
        if not one_way and set(side_a) | set(side_b) >= set(self.config.names):
            self.cut |= set(side_a if len(side_a) <= len(side_b) else side_b)
        return {"ok": True, "cut_from_master": sorted(self.cut)}

    async def heal(self) -> dict:
        self.recorder.record("fault", action="heal", target="*")
        await self.control("*", {"op": "heal"})
        self.cut.clear()
        self.partitions.clear()
        self._reroute_soon()
        return {"ok": True}

    async def _sync_network(self, name: str) -> None:
        """A node that was away (paused, restarted) gets the partitions now in force."""
        for control in [{"op": "heal"}, *self.partitions]:
            try:
                await self.ask(name, "control", control, timeout=2.0)
            except (ClusterError, TransportError):
                return

    async def _watch_exit(self, name: str, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if self._stopping or self.procs.get(name) is not proc:
            return
        self.recorder.record_as(name, "node_down", abrupt=code == -signal.SIGKILL, code=code)
        await self._node_failed(name)

    async def _detect_failures(self) -> None:
        """Ping every node; a member that misses `fd_retries` pings in a row has failed, and
        a node that answers again rejoins."""
        c = self.config
        misses: dict[str, int] = {}
        while True:
            await asyncio.sleep(c.fd_interval)
            names = [n for n, p in self.procs.items() if p.returncode is None]
            answers = await asyncio.gather(*(self._ping(n) for n in names))
            for name, ok in zip(names, answers):
                member = name in self.master.state["nodes"]
                misses[name] = 0 if ok else misses.get(name, 0) + 1
                if ok and not member and name in self.known:
                    self._background(self._rejoin(name))
                elif member and misses[name] == c.fd_retries:
                    self.recorder.record_as(name, "node_down", abrupt=False,
                                            reason="failed fault detection")
                    self._background(self._node_failed(name))

    async def _collect_regularly(self, every: float = COLLECT_EVERY) -> None:
        """Fetch events often, so a node killed with SIGKILL loses at most the last moment, and
        a busy node's buffer stays small."""
        while True:
            await asyncio.sleep(every)
            await self.collect()

    async def _ping(self, name: str) -> bool:
        if name in self.cut:
            return False
        try:
            await self.endpoint.request(name, "traffic", {}, timeout=self.config.fd_timeout)
            return True
        except TransportError:
            return False

    async def _node_failed(self, name: str) -> None:
        """Take a node out: promote in-sync replicas where it was primary (each new primary
        traces its promotion and resyncs its replicas itself), then reroute."""
        async with self._lock:
            if name not in self.master.state["nodes"]:
                return
            self.master.remove_node(name)
            await self.publish()
        await self._reroute()

    async def _rejoin(self, name: str) -> None:
        """A node answers again: ask which shard copies it still holds (a paused or
        partitioned node kept them; a restarted one holds none), give a red shard its primary
        back on an in-sync copy, then reroute."""
        try:
            held = (await self.ask(name, "held", {}, timeout=5.0))["held"]
        except (ClusterError, TransportError):
            return  # not answering after all: the next ping tries again
        async with self._lock:
            if name in self.master.state["nodes"]:
                return
            self.master.add_node(name, self.known[name], [tuple(h) for h in held])
            self.recorder.record_as(name, "node_up", reason="answers the master's pings again")
            self.allocation_failures = {k: v for k, v in self.allocation_failures.items()
                                        if k[2] != name}
            await self.publish()
        await self._sync_network(name)
        await self._reroute()

    async def _reroute(self) -> None:
        avoid = frozenset(k for k, n in self.allocation_failures.items()
                          if n >= MAX_ALLOCATION_RETRIES)
        async with self._lock:
            recoveries = self.master.reroute(avoid)
            if recoveries:
                await self.publish()
        await self._recover(recoveries)

    def _reroute_soon(self) -> None:
        """Reallocate free replica slots shortly (one pending reroute at a time)."""
        if self._reroute_pending or self._stopping:
            return
        self._reroute_pending = True

        async def later() -> None:
            await asyncio.sleep(self.config.fd_interval * 2)
            self._reroute_pending = False
            await self._reroute()
        self._background(later())

    async def _recover(self, items: list) -> None:
        """Have each new copy recover from its primary; mark it started (in sync) when it did,
        else free the slot for a later reroute (a few tries)."""
        async def one(index: str, shard: int, primary: str, target: str) -> None:
            try:
                await self.ask(primary, "recover", {"index": index, "shard": shard,
                                                    "target": target}, timeout=30.0)
            except (ClusterError, TransportError):
                key = (index, shard, target)
                self.allocation_failures[key] = self.allocation_failures.get(key, 0) + 1
                async with self._lock:
                    meta = self.master.state["indices"].get(index)  # None: deleted since
                    term = meta["routing"][shard]["term"] if meta else 0
                    if self.master.fail_replica(index, shard, target, term):
                        await self.publish()
                self._reroute_soon()
                return
            async with self._lock:
                self.master.mark_started(index, shard, target)
                await self.publish()
        await asyncio.gather(*(one(*item) for item in items))

    # -- the master role -------------------------------------------------------------------
    async def handle(self, src: str, kind: str, body: dict) -> dict:
        try:
            if src in self.cut and kind in ("create_index", "delete_index", "set_type",
                                            "put_alias", "fail_replica"):
                raise ElasticsearchError("no master reachable from this node", status=503,
                                         type="master_not_discovered_exception")
            if kind == "join":
                return await self._join(body)
            if kind in ("create_index", "delete_index", "set_type", "put_alias"):
                async with self._lock:
                    if kind == "create_index":
                        state = self.master.create_index(body["index"], body["body"],
                                                         body.get("type"))
                    elif kind == "delete_index":
                        state = self.master.delete_index(body["index"])
                    elif kind == "put_alias":
                        state = self.master.put_alias(body["index"], body["alias"])
                    else:
                        state = self.master.set_type(body["index"], body["type"])
                    await self.publish()
                return {"state": state}
            if kind == "fail_replica":
                async with self._lock:
                    accepted = self.master.fail_replica(body["index"], body["shard"],
                                                        body["replica"], body["term"])
                    if accepted:
                        await self.publish()
                if accepted:
                    self._reroute_soon()
                return {"accepted": accepted}
            if kind == "fault":
                return await self.fault(body["action"], body["target"])
            if kind == "partition":
                return await self.partition(body["a"], body.get("b"),
                                            one_way=body.get("one_way", False))
            if kind == "heal":
                return await self.heal()
            if kind == "control":
                return await self.control(body.pop("target", "*"), body)
            if kind == "status":
                return {"state": self.master.state, "alive": self.alive(),
                        "paused": sorted(self.paused), "cut": sorted(self.cut)}
        except (ElasticsearchError, ClusterError) as exc:
            if isinstance(exc, ClusterError):
                exc = ElasticsearchError(str(exc), status=400, type="illegal_argument_exception")
            return exc.body()
        return {"error": {"type": "illegal_argument_exception",
                          "reason": f"unknown message kind [{kind}]"}, "status": 400}

    async def _join(self, body: dict) -> dict:
        name = body["name"]
        info = {k: body[k] for k in ("ip", "port", "pid")}
        self.known[name] = info
        if not self._joined.is_set():
            nodes = {**self.master.state["nodes"], name: info}
            self.master.state = {**self.master.state, "nodes": {
                n: nodes[n] for n in self.config.names if n in nodes}}
            if len(nodes) == self.config.nodes:
                self._joined.set()
            return {}
        self._background(self._rejoin(name))
        return {}

    async def publish(self) -> None:
        """Send the cluster state to every member and wait until each applied it."""
        state = self.master.state
        await asyncio.gather(*(self.ask(n, "cluster_state", {"state": state}, timeout=5.0)
                               for n in self.members() if n not in self.cut),
                             return_exceptions=True)

    async def create_index(self, index: str, body: dict) -> dict:
        """Create an index from the manager's side (scenarios declare their indices)."""
        async with self._lock:
            self.master.create_index(index, body)
            await self.publish()
        return self.master.state["indices"][index]

    # -- talking to nodes ------------------------------------------------------------------
    def address_of(self, name: str) -> str | None:
        info = self.master.state["nodes"].get(name) or self.known.get(name)
        return f"{info['ip']}:{info['port']}" if info else None

    async def ask(self, node: str, kind: str, body: dict, *, timeout: float = 10.0) -> dict:
        reply = await self.endpoint.request(node, kind, body, timeout=timeout)
        if "error" in reply and "status" in reply:
            raise ClusterError(f"[{node}] {reply['error'].get('reason')}")
        return reply

    async def control(self, target: str, body: dict) -> dict:
        """Send a control message to one node, or to every live node with target `*`."""
        if target != "*":
            return {target: await self.ask(target, "control", body)}
        targets = self.alive()
        replies = await asyncio.gather(*(self.ask(n, "control", body) for n in targets),
                                       return_exceptions=True)
        return {n: r for n, r in zip(targets, replies) if isinstance(r, dict)}

    async def collect(self) -> None:
        """Fetch the events every live node has buffered since the last collection."""
        await asyncio.gather(*(self._collect_from(n) for n in self.alive()))
        self._events.extend(self.recorder.drain())

    async def _collect_from(self, name: str) -> None:
        try:
            self._batches.append(await self.launcher.events(self, name))
        except (ClusterError, TransportError):
            pass

    async def quiesce(self, *, poll: float = 0.005, timeout: float = 60.0) -> None:
        """Return once no message is in flight: nothing waits out a delay, no request is
        being handled or waits for its answer, and nothing moved between two looks. Held
        messages stay held."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        previous = None
        while True:
            names = self.alive()
            stats = await asyncio.gather(*(self.ask(n, "traffic", {}) for n in names),
                                         return_exceptions=True)
            stats = [s for s in stats if isinstance(s, dict)]
            idle = all(not (s["scheduled"] or s["running"] or s["waiting"]) for s in stats)
            moved = [(s["transmitted"], s["received"]) for s in stats]
            if idle and moved == previous:
                return
            previous = moved if idle else None
            if loop.time() > deadline:
                raise ClusterError(f"the network did not quiesce within {timeout:g}s")
            await asyncio.sleep(poll)

    async def end_events(self) -> list[dict]:
        """The run's end: one `state` event per shard copy of every member, then one `routing`
        event per shard (its primary, in-sync nodes and the members), for the checker."""
        names = self.members()
        replies = await asyncio.gather(*(self.ask(n, "snapshot", {}) for n in names),
                                       return_exceptions=True)
        records = [{"kind": "state", **copy} for reply in replies if isinstance(reply, dict)
                   for copy in reply["copies"]]
        for index, meta in sorted(self.master.state["indices"].items()):
            for shard, routing in enumerate(meta["routing"]):
                records.append({
                    "kind": "routing", "node": MANAGER, "index": index, "shard": shard,
                    "primary": routing["primary"], "term": routing["term"],
                    "in_sync": in_sync_nodes(routing), "members": names})
        lc = max((e["lc"] for e in self.events), default=0) + 1
        now = self.clock()
        sequencer = self.recorder.sequencer  # the simulation's one execution order, if any
        out = []
        for record in records:
            event = {"kind": record.pop("kind"), "t": now, "lc": lc, "seq": len(out), **record}
            if sequencer is not None:
                event["order"] = next(sequencer)
            out.append(event)
        return out

    @property
    def events(self) -> list[dict]:
        """Every event collected so far (unpacking what arrived since the last look)."""
        for batch in self._batches:
            self._events.extend(expand(batch if isinstance(batch, list)
                                       else unpack_batch(batch)))
        self._batches.clear()
        return self._events

    def trace(self) -> list[dict]:
        return trace.merge([self.events])
