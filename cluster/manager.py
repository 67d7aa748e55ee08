"""The manager: starts the node processes, plays Elasticsearch's elected master, and collects
the trace.

It spawns one OS process per node (`python -m cluster.process`), waits for each to join,
publishes the cluster state `MasterState` computes, answers the nodes' master requests (create
an index, set its type), relays network and clock controls, knows when the network is quiet,
and at the end gathers every node's events and each shard copy's final state into one trace.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import signal
import sys
import time
from dataclasses import asdict, dataclass, field

from aiohttp import web

from cluster import trace
from cluster.client import HttpSender
from cluster.master import MasterState
from node.errors import ElasticsearchError
from node.profiles import profile
from transport.endpoint import MANAGER, Endpoint
from transport.network import LinkConfig, NetworkModel
from transport.recorder import Recorder
from transport.websocket import WebSocketWire, check_secret

SECRET_ENV = "OCCSIM_SECRET"
JOIN_TIMEOUT = 30.0


@dataclass(frozen=True)
class ClusterConfig:
    """A cluster's shape. Defaults: 3 nodes from port 9200 on loopback, seed 0, profile 5,
    no network faults, no trace."""

    nodes: int = 3
    port: int = 9200
    host: str = "127.0.0.1"
    seed: int = 0
    link: LinkConfig = field(default_factory=LinkConfig)
    es_compat: int = 5
    trace: bool = False
    replication_timeout: float = 10.0

    @property
    def names(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]


class ClusterError(Exception):
    """The cluster could not start or a node could not be reached."""


class Manager:
    """Owns the node processes and the master role of one cluster."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.secret = secrets.token_hex(16)
        self.master = MasterState(profile(config.es_compat), nodes={},
                                  rng=random.Random(config.seed))
        self.recorder = Recorder(MANAGER, time.time, enabled=config.trace)
        self.endpoint = Endpoint(MANAGER, recorder=self.recorder, network=NetworkModel(),
                                 handler=self.handle)
        self.wire = WebSocketWire(self.endpoint, secret=self.secret, address_of=self._address)
        self.sender = HttpSender(self._address)
        self.events: list[dict] = []
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.down: dict[str, bool] = {}  # node -> ended abruptly
        self._joined = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._lock = asyncio.Lock()
        self.address = ""
        self.started_at = 0.0
        self.ready_s = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the manager's listener and every node; return when the cluster is ready."""
        self.started_at = time.perf_counter()
        app = web.Application()
        app.router.add_route("*", "/_internal/{tail:.*}", self._internal)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.address = f"{self.config.host}:{port}"
        self.master.state["master_node"] = {"name": MANAGER, "ip": self.config.host,
                                            "port": port, "pid": os.getpid()}
        await asyncio.gather(*(self._spawn(i, name) for i, name in enumerate(self.config.names)))
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
        await self.publish()
        self.ready_s = time.perf_counter() - self.started_at

    async def _spawn(self, i: int, name: str) -> None:
        c = self.config
        args = [sys.executable, "-m", "cluster.process", "--name", name, "--host", c.host,
                "--port", str(c.port + i), "--manager", self.address,
                "--es-compat", str(c.es_compat), "--seed", str(c.seed),
                "--link", json.dumps(asdict(c.link)),
                "--replication-timeout", str(c.replication_timeout)]
        if c.trace:
            args.append("--trace")
        self.procs[name] = await asyncio.create_subprocess_exec(
            *args, env={**os.environ, SECRET_ENV: self.secret},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL)

    async def stop(self) -> list[dict]:
        """Collect the last events and final copies, stop every node, return the trace."""
        alive = self.alive()
        if alive and self.master.state["nodes"]:
            try:
                await self.collect()
                self.events.extend(await self._state_events())
            except ClusterError:
                pass
        for name, proc in self.procs.items():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*(self._reap(proc) for proc in self.procs.values()))
        await self.sender.close()
        await self.wire.close()
        if self._runner is not None:
            await self._runner.cleanup()
        return self.trace()

    @staticmethod
    async def _reap(proc: asyncio.subprocess.Process) -> None:
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    def alive(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.returncode is None]

    # -- the master role -------------------------------------------------------------------
    async def handle(self, src: str, kind: str, body: dict) -> dict:
        try:
            if kind == "join":
                info = {k: body[k] for k in ("ip", "port", "pid")}
                nodes = {**self.master.state["nodes"], body["name"]: info}
                self.master.state = {**self.master.state, "nodes": {
                    n: nodes[n] for n in self.config.names if n in nodes}}
                if len(nodes) == self.config.nodes:
                    self._joined.set()
                return {}
            if kind in ("create_index", "delete_index", "set_type"):
                async with self._lock:
                    if kind == "create_index":
                        state = self.master.create_index(body["index"], body["body"],
                                                         body.get("type"))
                    elif kind == "delete_index":
                        state = self.master.delete_index(body["index"])
                    else:
                        state = self.master.set_type(body["index"], body["type"])
                    await self.publish()
                return {"state": state}
            if kind == "control":
                return await self.control(body.pop("target", "*"), body)
        except ElasticsearchError as exc:
            return exc.body()
        return {"error": {"type": "illegal_argument_exception",
                          "reason": f"unknown message kind [{kind}]"}, "status": 400}

    async def publish(self) -> None:
        """Send the cluster state to every live node and wait until each applied it."""
        state = self.master.state
        await asyncio.gather(*(self.ask(n, "cluster_state", {"state": state})
                               for n in self.alive()), return_exceptions=True)

    async def create_index(self, index: str, body: dict) -> dict:
        """Create an index from the manager's side (scenarios declare their indices)."""
        async with self._lock:
            self.master.create_index(index, body)
            await self.publish()
        return self.master.state["indices"][index]

    # -- talking to nodes ------------------------------------------------------------------
    def _address(self, name: str) -> str | None:
        info = self.master.state["nodes"].get(name)
        return f"{info['ip']}:{info['port']}" if info else None

    async def ask(self, node: str, kind: str, body: dict, *, timeout: float = 10.0) -> dict:
        reply = await self.endpoint.request(node, kind, body, timeout=timeout)
        if "error" in reply and "status" in reply:
            raise ClusterError(f"[{node}] {reply['error'].get('reason')}")
        return reply

    async def control(self, target: str, body: dict) -> dict:
        """Send a control message to one node, or to every live node with target `*`."""
        targets = self.alive() if target == "*" else [target]
        replies = await asyncio.gather(*(self.ask(n, "control", body) for n in targets))
        return dict(zip(targets, replies))

    async def collect(self) -> None:
        """Fetch the events every live node has buffered since the last collection."""
        replies = await asyncio.gather(*(self.ask(n, "events", {}) for n in self.alive()),
                                       return_exceptions=True)
        for reply in replies:
            if isinstance(reply, dict):
                self.events.extend(reply["events"])
        self.events.extend(self.recorder.drain())

    async def quiesce(self, *, poll: float = 0.005, timeout: float = 60.0) -> None:
        """Return once no message is in flight: every copy sent was received, none is waiting
        out a delay, no request is being handled. Held messages stay held."""
        deadline = time.monotonic() + timeout
        while True:
            names = self.alive()
            stats = dict(zip(names, await asyncio.gather(
                *(self.ask(n, "traffic", {}) for n in names))))
            busy = any(s["scheduled"] or s["running"] for s in stats.values())
            balanced = all(
                stats[a]["transmitted"].get(b, 0) == stats[b]["received"].get(a, 0)
                for a in names for b in names if a != b)
            if not busy and balanced:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"the network did not quiesce within {timeout:g}s")
            await asyncio.sleep(poll)

    async def _state_events(self) -> list[dict]:
        replies = await asyncio.gather(*(self.ask(n, "snapshot", {}) for n in self.alive()),
                                       return_exceptions=True)
        lc = max((e["lc"] for e in self.events), default=0) + 1
        now = time.time()
        out = []
        for reply in replies:
            if isinstance(reply, dict):
                for copy in reply["copies"]:
                    out.append({"kind": "state", "t": now, "lc": lc, "seq": len(out), **copy})
        return out

    def trace(self) -> list[dict]:
        return trace.merge([self.events])

    async def _internal(self, request: web.Request) -> web.StreamResponse:
        refused = check_secret(request, self.secret)
        return refused or await self.wire.serve(request)
