"""The deterministic simulation: every node, the manager and the clients in one process, on an
in-memory wire and a virtual clock.

`SimLauncher` gives the manager `Member`s instead of OS processes (a `SimProcess` answers the
same signals a real process does), a `MemoryNetwork` instead of websockets, and a sender that
hands client requests straight to a node's REST dispatcher. Everything else — the engine, the
node's write path, the network model, the master's decisions, the scenario code — is the code the
real processes run. With the same seed, the same story gives a byte-identical trace.

Every choice of what happens next goes through the launcher's scheduler (`cluster.schedule`):
the seeded one by default, or one that pools the messages between nodes and delivers them in
the order it is told.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import urllib.parse

from occsim.cluster.runtime.client import Reply
from occsim.cluster.runtime.wiring import Host, Wiring
from occsim.node.member import Member
from occsim.cluster.sim.schedule import SeededScheduler
from occsim.node.api.routes import dispatch
from occsim.node.profiles import profile
from occsim.node.rest import Request, render
from occsim.transport.endpoint import MANAGER, Endpoint
from occsim.transport.message import Envelope, Unencodable, error_reply, pack, unpack


def _through_the_wire(env: Envelope) -> Envelope:
    """`env` as its receiver gets it: the body packed with the wire codec and read back, so
    it is a deep copy holding only what msgpack carries (the routing fields are strings and
    numbers, which cannot be shared by mistake). The bytes never leave this process, so they
    skip the validation `decode` gives a frame from another one. A body msgpack cannot hold
    raises `Unencodable`, as the real wire's encoding does."""
    try:
        body = unpack(pack(env.body))
    except Unencodable as exc:
        raise Unencodable(f"[{env.kind}] to [{env.dst}] {exc}") from None
    return Envelope(env.id, env.src, env.dst, env.kind, body, env.lc, env.reply_to)


class MemoryNetwork:
    """Carries envelopes between the endpoints of one process: on the loop's next turn, or at
    once for an envelope that already waited out its delay on a timer."""

    def __init__(self, scheduler) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.paused: dict[str, list[Envelope]] = {}  # node -> envelopes waiting for it to resume
        self.messages = 0
        self.pool = scheduler.pool  # None, or where messages between nodes wait to be chosen
        self.delivered = scheduler.delivered  # None, or told every envelope delivered

    def attach(self, endpoint: Endpoint) -> None:
        self.endpoints[endpoint.name] = endpoint
        endpoint.wire = _MemoryWire(self, endpoint)

    def detach(self, name: str) -> None:
        self.endpoints.pop(name, None)
        self.paused.pop(name, None)

    def deliver(self, env: Envelope) -> None:
        if env.src not in self.endpoints:
            return  # the sender died meanwhile
        if env.dst in self.paused:
            self.paused[env.dst].append(env)
            return
        target = self.endpoints.get(env.dst)
        if target is None:
            self.endpoints[env.src].undeliverable(env, f"[{env.dst}] is not reachable")
            return
        self.messages += 1
        if self.delivered is not None:
            self.delivered(env)
        target.receive(env)

    def pause(self, name: str) -> None:
        self.paused.setdefault(name, [])

    def resume(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        for env in self.paused.pop(name, []):
            loop.call_soon(self.deliver, env)


class _MemoryWire:
    def __init__(self, network: MemoryNetwork, endpoint: Endpoint) -> None:
        self.network = network
        self.endpoint = endpoint

    def transmit(self, env: Envelope, *, waited: bool = False) -> None:
        try:
            copy = _through_the_wire(env)
        except Unencodable as exc:  # as on the real wire: the request fails, a reply errs
            if env.reply_to is None:
                self.endpoint.undeliverable(env, str(exc))
                return
            copy = _through_the_wire(error_reply(env, str(exc)))
        if self.endpoint.name in self.network.paused:
            self.network.paused[self.endpoint.name].append(copy)
        elif self.network.pool is not None and MANAGER not in (copy.src, copy.dst):
            self.network.pool(copy)
        elif waited:  # it already took a turn of the loop to get here
            self.network.deliver(copy)
        else:
            asyncio.get_running_loop().call_soon(self.network.deliver, copy)

    async def close(self) -> None:
        """Nothing to close in memory."""


class SimProcess:
    """A simulated node process: answers the signals the manager sends a real one."""

    def __init__(self, member: Member, network: MemoryNetwork) -> None:
        self.member = member
        self.network = network
        self.returncode: int | None = None
        self._ended = asyncio.Event()
        # tasks waiting for this node's answer, in the order they asked (a dict: a set of tasks
        # iterates in the order of their memory addresses, which differs from run to run)
        self.callers: dict[asyncio.Task, None] = {}

    async def wait(self) -> int:
        await self._ended.wait()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is not None:
            return
        if sig == signal.SIGSTOP:
            self.network.pause(self.member.name)
        elif sig == signal.SIGCONT:
            self.network.resume(self.member.name)
        else:
            self.returncode = -sig if sig == signal.SIGKILL else 0
            self.network.detach(self.member.name)
            self._ended.set()
            for caller in self.callers:  # their connections drop, as a dead process's do
                caller.cancel()

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class SimSender:
    """A client's requests handed straight to the node's dispatcher, bodies as JSON."""

    def __init__(self, launcher: SimLauncher) -> None:
        self.launcher = launcher

    async def __call__(self, node: str, method: str, target: str, headers: dict,
                       body: bytes) -> Reply:
        proc = self.launcher.processes.get(node)
        if proc is None or proc.returncode is not None:
            raise ConnectionRefusedError(f"[{node}] is not running")
        path, _, query = target.partition("?")  # the client quotes any "?" in the path
        request = Request(method, urllib.parse.unquote(path),
                          dict(urllib.parse.parse_qsl(query, keep_blank_values=True)),
                          {k.lower(): v for k, v in headers.items()}, body)
        self.launcher.client_messages += 1
        note = self.launcher.scheduler.note
        note(node, "request")
        caller = asyncio.current_task()
        proc.callers[caller] = None
        try:
            response = await dispatch(proc.member.node, request)
        except asyncio.CancelledError:
            if proc.returncode is None or caller.uncancel() > 0:
                raise  # cancelled by someone else
        finally:
            proc.callers.pop(caller, None)
            if proc.returncode is not None:
                raise ConnectionResetError(f"[{node}] died before it answered")
        self.launcher.client_messages += 1
        note("clients", ("reply", node, response.status))
        if isinstance(response.body, (dict, list)):
            return Reply(response.status, json.loads(render(response.body, pretty=False)))
        return Reply(response.status, response.body)

    async def close(self) -> None:
        """Nothing to close in memory."""


class SimLauncher:
    """Starts the manager's nodes as in-process members on a `MemoryNetwork`."""

    def __init__(self, scheduler=None) -> None:
        self.scheduler = scheduler if scheduler is not None else SeededScheduler()
        self.network = MemoryNetwork(self.scheduler)
        self.scheduler.network = self.network
        self.processes: dict[str, SimProcess] = {}
        self.sequencer = itertools.count()  # one execution order for every recorder
        self.client_messages = 0  # client requests and responses, as HTTP carries them

    @property
    def messages(self) -> int:
        """Messages delivered: envelopes between nodes and the manager, and client HTTP."""
        return self.network.messages + self.client_messages

    async def open(self, manager: Host) -> Wiring:
        self.network.attach(manager.endpoint)
        self.scheduler.start(asyncio.get_running_loop())
        return Wiring("memory", manager.endpoint.wire, SimSender(self),
                      {"name": MANAGER, "ip": "memory", "port": 0, "pid": 0})

    async def spawn(self, manager: Host, name: str) -> SimProcess:
        c = manager.config
        loop = asyncio.get_running_loop()
        member = Member(name, profile(c.es_compat), base_clock=loop.time, timer=loop.time,
                        seed=c.seed,
                        link=c.link, trace=c.trace, replication_timeout=c.replication_timeout,
                        sequencer=self.sequencer, incarnation=manager.incarnations[name],
                        apply_all=c.replica_rule == "apply-all")
        self.scheduler.attach(member)
        self.network.attach(member.endpoint)
        proc = SimProcess(member, self.network)
        self.processes[name] = proc
        loop.create_task(member.join({"ip": "127.0.0.1", "port": manager.ports[name],
                                      "pid": 0}))
        return proc

    async def events(self, manager: Host, name: str) -> list:
        """What a node's recorder buffered since the last look, taken as it is: in one process
        there is no wire to pack it for. A stopped (paused) node keeps its events for later."""
        proc = self.processes[name]
        if proc.returncode is not None or name in self.network.paused:
            return []
        return proc.member.recorder.drain_raw()

    async def close(self, manager: Host) -> None:
        """Nothing outlives the simulation's loop."""
