"""A cluster member as the manager sees it: a `Node` with its endpoint, network model, recorder
and clock, answering both the other nodes and the manager's control messages.

The same `Member` runs inside a real node process (behind aiohttp and websockets) and inside the
simulation (behind an in-memory wire and a virtual clock); only the wire and the clock differ.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator

from occsim.node.node import Node, remote_error
from occsim.node.profiles import Profile
from occsim.transport.endpoint import MANAGER, Endpoint
from occsim.transport.network import HoldRule, LinkConfig, NetworkModel
from occsim.transport.recorder import PackedRecorder, Recorder

NODE_KINDS = ("replicate", "replicate_bulk", "forward", "forward_bulk", "get", "stats",
              "cluster_state", "recover", "recovery")
REPLICATION_TIMEOUT = 10.0  # seconds a primary waits for a replica: the one default of a cluster


class Clock:
    """Wall (or virtual) time plus an offset the manager can advance for `gc_deletes`."""

    def __init__(self, base: Callable[[], float]) -> None:
        self.base = base
        self.offset = 0.0

    def __call__(self) -> float:
        return self.base() + self.offset


class RemoteMaster:
    """The master as a node reaches it: requests to the manager over the transport."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def _ask(self, kind: str, body: dict) -> dict:
        reply = await self.endpoint.request(MANAGER, kind, body, timeout=30.0)
        if "error" in reply:
            raise remote_error(reply)
        return reply["state"]

    async def create_index(self, index: str, settings: dict, doc_type: str | None) -> dict:
        return await self._ask("create_index", {"index": index, "body": settings,
                                                "type": doc_type})

    async def delete_index(self, index: str) -> dict:
        return await self._ask("delete_index", {"index": index})

    async def set_type(self, index: str, doc_type: str) -> dict:
        return await self._ask("set_type", {"index": index, "type": doc_type})

    async def put_alias(self, index: str, alias: str) -> dict:
        return await self._ask("put_alias", {"index": index, "alias": alias})

    async def fail_replica(self, index: str, shard: int, replica: str, term: int) -> bool:
        reply = await self.endpoint.request(MANAGER, "fail_replica", {
            "index": index, "shard": shard, "replica": replica, "term": term}, timeout=10.0)
        if "error" in reply:
            raise remote_error(reply)
        return bool(reply.get("accepted"))


def link_config(d: dict) -> LinkConfig:
    return LinkConfig(**d)


class Member:
    """One node with everything around it that the manager controls."""

    def __init__(self, name: str, profile: Profile, *, base_clock: Callable[[], float],
                 timer: Callable[[], float], seed: int, link: LinkConfig, trace: bool,
                 replication_timeout: float = REPLICATION_TIMEOUT,
                 sequencer: Iterator[int] | None = None, incarnation: int = 1,
                 apply_all: bool = False, pack_events: bool = False) -> None:
        self.name = name
        self.clock = Clock(base_clock)
        # a node process ships its events, packed as recorded; the simulation keeps them. Its
        # events read the base clock itself until the clock is first advanced (one call less)
        self.recorder = (PackedRecorder(name, base_clock, enabled=trace) if pack_events else
                         Recorder(name, base_clock, enabled=trace, sequencer=sequencer))
        self.network = NetworkModel(link, seed=seed)
        self.endpoint = Endpoint(name, recorder=self.recorder, network=self.network,
                                 handler=self.handle, incarnation=incarnation)
        life = "" if incarnation == 1 else f":{incarnation}"  # a restarted node's ids are new
        self.node = Node(name, profile, clock=self.clock, timer=timer, recorder=self.recorder,
                         master=RemoteMaster(self.endpoint), transport=self.endpoint,
                         replication_timeout=replication_timeout,
                         rng=random.Random(f"{seed}:{name}:ids{life}"), apply_all=apply_all)

    async def join(self, info: dict) -> None:
        """Tell the manager this node is up; adopt the cluster state it answers with."""
        reply = await self.endpoint.request(MANAGER, "join", {"name": self.name, **info},
                                            timeout=30.0)
        if reply.get("state"):
            await self.node.apply_state(reply["state"])

    def handle(self, src: str, kind: str, body: dict) -> dict | Awaitable[dict]:
        """Answer a request: at once, or with a coroutine when the answer has to wait."""
        if kind in NODE_KINDS:
            return self.node.handle_message(src, kind, body)
        if kind == "control":
            return self.control(body)
        if kind == "events":  # packed here, unpacked only when someone reads the trace
            return {"packed": self.recorder.drain_packed()}
        if kind == "snapshot":
            return {"copies": self.node.snapshot()}
        if kind == "held":
            return {"held": self.node.held()}
        if kind == "traffic":
            return self.endpoint.traffic()
        return {"error": {"type": "illegal_argument_exception",
                          "reason": f"unknown message kind [{kind}]"}, "status": 400}

    def _trace_expired_tombstones(self, before: float) -> None:
        """The clock jumped: each tombstone that outlived `index.gc_deletes` in the jump no
        longer counts (the engine treats it as absent), traced as a step of its own."""
        now = self.clock()
        for (index, shard), copy in sorted(self.node.copies.items()):
            for uid, d in sorted(copy.docs.items()):
                if d.deleted and now - d.deleted_at > copy.gc_deletes >= before - d.deleted_at:
                    self.recorder.record(
                        "tombstone_expired", index=index, shard=shard,
                        doc=uid.partition("#")[2] if self.node.typed_uids() else uid,
                        version=d.version, seq_no=d.seq_no, gc_deletes=copy.gc_deletes)

    def control(self, body: dict) -> dict:
        """Change the network or the clock at runtime (the manager's and scenarios' levers)."""
        op = body.get("op")
        net = self.network
        if op == "hold":
            r = body["rule"]
            rule = HoldRule(src=r.get("src"), dst=r.get("dst"), kind=r.get("kind", "replicate"),
                            match=r.get("match", {}), limit=r.get("limit"))
            return {"rule": net.hold(rule)}
        if op == "release":
            return {"released": self.endpoint.release(body.get("rule"))}
        if op == "partition":
            net.partition(body["a"], body["b"], one_way=body.get("one_way", False))
        elif op == "heal":
            net.heal()
        elif op == "link":
            config = link_config(body["config"])
            if body.get("dst"):
                net.set_link(self.name, body["dst"], config)
            else:
                net.set_default(config)
        elif op == "advance_clock":
            before = self.clock()
            self.clock.offset += float(body["seconds"])
            self.recorder.clock = self.clock
            self._trace_expired_tombstones(before)
        elif op == "rules":
            return {"rules": net.rules(), "held": net.held_count()}
        else:
            return {"error": {"type": "illegal_argument_exception",
                              "reason": f"unknown control op [{op}]"}, "status": 400}
        return {"ok": True}
