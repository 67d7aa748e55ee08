"""One cluster member: the shard copies it holds and the coordination of the write path.

A `Node` applies the cluster state the master publishes, routes every document request to its
shard, forwards it to the shard's primary when that is another node, runs the primary's check
and the replication fan-out when it is this node, and applies replicated operations as a
replica. It talks to other nodes only through a `Transport` (request/response messages) and reads
time only through the `clock` it is given, so the same code runs on real processes and inside the
single-process simulation.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import mmh3

from node.engine import INDEX, Operation, ShardCopy, Write
from node.errors import ElasticsearchError, IndexNotFound, StaleTerm, VersionConflict
from node.profiles import Profile
from node.versioning import MATCH_ANY, VersionType
from node.rest import check_mappable
from transport.message import TransportError


REFRESH_INTERVAL = 1.0  # Elasticsearch's default index.refresh_interval (seconds)
SEARCH_IDLE_AFTER = 30.0  # index.search.idle.after (7.0+)


NOT_PRIMARY = "shard_not_in_primary_mode_exception"  # retryable: route the write again


class Transport(Protocol):
    def send_request(self, dst: str, kind: str, body: dict, *,
                     timeout: float) -> asyncio.Future: ...


class Master(Protocol):
    """What a node asks of the elected master (in-process or the manager over the transport)."""

    async def create_index(self, index: str, settings: dict, doc_type: str | None) -> dict: ...
    async def delete_index(self, index: str) -> dict: ...
    async def set_type(self, index: str, doc_type: str) -> dict: ...
    async def fail_replica(self, index: str, shard: int, replica: str, term: int) -> bool: ...


class Recorder(Protocol):
    def record(self, kind: str, **fields: object) -> None: ...


def murmur3(routing: str) -> int:
    """Elasticsearch's Murmur3HashFunction: x86_32, seed 0, over UTF-16LE code units (a lone
    surrogate is one code unit like any other)."""
    return mmh3.hash(routing.encode("utf-16-le", "surrogatepass"), 0, signed=True)


def shard_for(routing: str, number_of_shards: int, routing_num_shards: int) -> int:
    """OperationRouting.generateShardId without a routing partition (reference §5.6)."""
    return (murmur3(routing) % routing_num_shards) // (routing_num_shards // number_of_shards)


@dataclass(slots=True)
class DocWrite:
    """A document write as it travels from the coordinating node to the primary."""

    index: str
    doc_type: str
    doc_id: str
    op: str
    source: dict | None = None
    version: int = MATCH_ANY
    version_type: str = "internal"
    if_seq_no: int | None = None
    if_primary_term: int | None = None
    create: bool = False
    routing: str | None = None
    wait_for_active_shards: int | str = 1
    timeout: float = 60.0
    shard: int = 0
    refresh: str | None = None  # None, "true" (refresh now) or "wait_for"

    def to_wire(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_wire(cls, d: dict) -> DocWrite:
        return cls(**d)

    def uid(self, typed_uids: bool) -> str:
        return f"{self.doc_type}#{self.doc_id}" if typed_uids else self.doc_id


@dataclass(slots=True)
class WriteOutcome:
    """What the primary answers for a write: enough for any profile to shape the response."""

    result: str
    version: int
    seq_no: int
    term: int
    shard: int
    total: int
    successful: int
    failures: list = field(default_factory=list)
    forced_refresh: bool = False  # `refresh=true`: the response says `forced_refresh`

    def to_wire(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}


def _checked(reply: dict) -> dict:
    """A reply from another node, or the error it answered with, raised."""
    if "error" in reply and "status" in reply:
        raise remote_error(reply)
    return reply


def remote_error(body: dict) -> ElasticsearchError:
    """Rebuild an error that another node answered with, keeping its body exactly."""
    err = body["error"]
    exc = ElasticsearchError(err.get("reason", ""), status=body["status"], type=err["type"])
    exc.meta = {k: v for k, v in err.items() if k not in ("root_cause", "type", "reason",
                                                          "caused_by")}
    exc.caused_by = err.get("caused_by")
    return exc


class Node:
    """A cluster member: cluster state, shard copies, and the write/read coordination."""

    def __init__(
        self,
        name: str,
        profile: Profile,
        *,
        clock: Callable[[], float],
        recorder: Recorder,
        master: Master,
        transport: Transport | None = None,
        replication_timeout: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.profile = profile
        self.clock = clock
        self.recorder = recorder
        self.master = master
        self.transport = transport
        self.replication_timeout = replication_timeout
        self.state: dict = {"version": 0, "indices": {}, "nodes": {}}
        self.copies: dict[tuple[str, int], ShardCopy] = {}
        self._state_changed = asyncio.Condition()
        self._moves: dict[tuple[str, int, str], asyncio.Future] = {}  # see _primary_move
        self._rng = rng or random.Random()

    def new_id(self) -> str:
        """A 20-character URL-safe id for a document indexed without one, as Elasticsearch
        makes them (from the node's own seeded generator, so a simulation repeats them)."""
        return base64.urlsafe_b64encode(self._rng.randbytes(15)).decode()

    # -- cluster state ---------------------------------------------------------------------
    async def apply_state(self, state: dict) -> None:
        """Adopt a newer cluster state: create, promote or drop this node's shard copies."""
        if state["version"] <= self.state["version"]:
            return
        self.state = state
        wanted = set()
        for index, meta in state["indices"].items():
            for shard, routing in enumerate(meta["routing"]):
                if self.name == routing["primary"] or self.name in routing["replicas"]:
                    wanted.add((index, shard))
                    copy = self.copies.get((index, shard))
                    if copy is None:
                        copy = self.copies[(index, shard)] = ShardCopy(
                            term=routing["term"], gc_deletes=meta["gc_deletes"],
                            order_by_seq_no=self.profile.replicas_order_by_seq_no,
                        )
                        copy.schedule_refresh(self.clock(), REFRESH_INTERVAL,
                                              self._search_idle_after())
                    elif routing["primary"] == self.name and copy.term < routing["term"]:
                        copy.term = routing["term"]  # promoted: from now on, this term
                        self.recorder.record("promote", index=index, shard=shard,
                                             term=copy.term)
        for key in [k for k in self.copies if k not in wanted]:
            del self.copies[key]
        for key, moved in list(self._moves.items()):
            index, shard, primary = key
            routing = state["indices"].get(index, {}).get("routing", [])
            if shard >= len(routing) or routing[shard]["primary"] != primary:
                del self._moves[key]
                if not moved.done():
                    moved.set_result(None)
        async with self._state_changed:
            self._state_changed.notify_all()

    def index_meta(self, index: str) -> dict:
        meta = self.state["indices"].get(index)
        if meta is None:
            raise IndexNotFound(index, self.profile.no_such_index(index))
        return meta

    async def ensure_index(self, index: str, doc_type: str | None) -> dict:
        """The index's metadata, auto-creating the index (and its one type) as Elasticsearch does."""
        meta = self.state["indices"].get(index)
        if meta is None:
            await self.apply_state(await self.master.create_index(index, {}, doc_type))
            meta = self.index_meta(index)
        if self.profile.one_type_per_index and doc_type and meta.get("type") != doc_type:
            if meta.get("type") is None:
                await self.apply_state(await self.master.set_type(index, doc_type))
                meta = self.index_meta(index)
            if meta.get("type") != doc_type:
                raise ElasticsearchError(
                    f"Rejecting mapping update to [{index}] as the final mapping would have "
                    f"more than 1 type: [{meta['type']}, {doc_type}]",
                    status=400, type="illegal_argument_exception",
                )
        return meta

    def shard_of(self, meta: dict, doc_id: str, routing: str | None) -> int:
        return shard_for(routing if routing is not None else doc_id, meta["shards"],
                         meta["routing_num_shards"])

    def typed_uids(self) -> bool:
        """5.x keys documents by type and id (`_uid`); later indices hold one type."""
        return not self.profile.one_type_per_index

    # -- writes ----------------------------------------------------------------------------
    async def write(self, w: DocWrite) -> WriteOutcome:
        """Route a write to its shard's primary, here or on another node.

        If the primary cannot be reached, or is replaced while the write is on its way, wait
        for the next cluster state and route again (Elasticsearch's retry on primary failure).
        """
        meta = await self.ensure_index(w.index, w.doc_type)
        if w.source is not None:  # decided here, once: what passes reaches every copy
            check_mappable(w.source, w.doc_id, self.profile.major)
        w.shard = self.shard_of(meta, w.doc_id, w.routing)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + w.timeout
        while True:
            routing = self.index_meta(w.index)["routing"][w.shard]
            primary, version = routing["primary"], self.state["version"]
            if primary == self.name:
                return await self.primary_write(w)
            if primary is not None:
                forward = self._request(primary, "forward", w.to_wire(), timeout=w.timeout + 5)
                done, _ = await asyncio.wait({forward, self._primary_move(w, primary)},
                                             return_when=asyncio.FIRST_COMPLETED)
                if forward in done:
                    try:
                        return WriteOutcome(**_checked(forward.result()))
                    except TransportError:
                        pass
                    except ElasticsearchError as exc:
                        if exc.type != NOT_PRIMARY:
                            raise
                else:
                    forward.cancel()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._unavailable(w, meta, 0)
            await self._newer_state(version, min(remaining, 1.0))  # then route again

    async def _until_primary(self, w: DocWrite, patience: float = 5.0) -> None:
        """A forwarded write may arrive before this node applied the state that made it
        primary: wait for that state a little, else refuse so the coordinator routes again."""
        def primary_here() -> bool:
            meta = self.state["indices"].get(w.index)
            return (meta is not None and meta["routing"][w.shard]["primary"] == self.name
                    and (w.index, w.shard) in self.copies)

        if primary_here():
            return
        async with self._state_changed:
            try:
                await asyncio.wait_for(self._state_changed.wait_for(primary_here), patience)
                return
            except TimeoutError:
                pass
        raise ElasticsearchError(f"[{w.index}][{w.shard}] [{self.name}] is not the primary "
                                 "of this shard", status=503, type=NOT_PRIMARY)

    def _primary_move(self, w: DocWrite, primary: str) -> asyncio.Future:
        """A future that a cluster state moving the write's shard away from `primary` will
        resolve; one for all the writes forwarded there meanwhile."""
        key = (w.index, w.shard, primary)
        moved = self._moves.get(key)
        if moved is None:
            moved = self._moves[key] = asyncio.get_running_loop().create_future()
        return moved

    async def _newer_state(self, version: int, timeout: float) -> None:
        async with self._state_changed:
            try:
                await asyncio.wait_for(self._state_changed.wait_for(
                    lambda: self.state["version"] > version), timeout)
            except TimeoutError:
                pass

    async def primary_write(self, w: DocWrite) -> WriteOutcome:
        """Check the condition, resolve and apply the write, replicate it, count `_shards`."""
        await self._until_primary(w)
        meta = self.index_meta(w.index)
        await self._wait_for_active_shards(w, meta)
        routing = meta["routing"][w.shard]
        copy = self.copies[(w.index, w.shard)]
        request = Write(
            uid=w.uid(self.typed_uids()), op=w.op, source=w.source, version=w.version,
            version_type=VersionType(w.version_type), if_seq_no=w.if_seq_no,
            if_primary_term=w.if_primary_term, create=w.create,
        )
        try:
            done = copy.write(request, self.clock(),
                              says_not_found=self.profile.says_document_does_not_exist)
        except VersionConflict as exc:
            exc.worded(self.profile.conflict_prefix(w.doc_type, w.doc_id))
            exc.at(w.index, meta["uuid"], w.shard)
            self.recorder.record("conflict", index=w.index, shard=w.shard, doc=w.doc_id,
                                 reason=exc.reason, term=copy.term)
            raise
        op = done.operation
        if w.refresh is not None:
            copy.refresh()
        if self.recorder.enabled:
            self.recorder.add("primary_write", {
                "index": w.index, "shard": w.shard, "doc": w.doc_id, "op": op.op,
                "version": op.version, "seq_no": op.seq_no, "term": op.term,
                "digest": op.digest, "result": done.result, **_condition_fields(w)})
        sent = [self._replicate(r, w, op) for r in routing["replicas"] if r is not None]
        outcomes = [await outcome for outcome in sent]  # all in flight at once
        successful = 1 + sum(1 for o in outcomes if o == "applied" or (
            o == "discarded" and self.profile.replicas_order_by_seq_no))
        failures = [o for o in outcomes if isinstance(o, dict)]
        for failure in failures:
            await self._fail_replica(w, failure["_node"], op.term)
        return WriteOutcome(done.result, op.version, op.seq_no, op.term, w.shard,
                            total=1 + len(routing["replicas"]), successful=successful,
                            failures=failures, forced_refresh=w.refresh == "true")

    def _replicate(self, replica: str, w: DocWrite, op: Operation) -> asyncio.Future:
        """Send one replica the resolved operation; the future of what came of it, taken as
        soon as the replica answers: 'applied', 'discarded' or a failure entry."""
        body = {"index": w.index, "shard": w.shard, "doc": w.doc_id, **op.to_wire()}
        if w.refresh is not None:
            body["refresh"] = True
        outcome = asyncio.get_running_loop().create_future()

        def answered(reply: asyncio.Future) -> None:
            if not outcome.done():
                outcome.set_result(self._replicated(replica, w, op, reply))

        self._request(replica, "replicate", body,
                      timeout=self.replication_timeout).add_done_callback(answered)
        return outcome

    def _replicated(self, replica: str, w: DocWrite, op: Operation,
                    reply: asyncio.Future) -> str | dict:
        try:
            if reply.cancelled():
                raise TransportError(f"[{replica}] replication was cancelled")
            answer = _checked(reply.result())
            outcome = "applied" if answer["applied"] else "discarded"
            if self.recorder.enabled:
                self.recorder.record("ack", src=replica, dst=self.name, index=w.index,
                                     shard=w.shard, doc=w.doc_id, version=op.version,
                                     seq_no=op.seq_no, term=op.term, outcome=outcome)
        except (TransportError, ElasticsearchError) as exc:
            reason = exc.reason if isinstance(exc, ElasticsearchError) else str(exc)
            self.recorder.record("replica_failed", index=w.index, shard=w.shard, dst=replica,
                                 doc=w.doc_id, reason=reason)
            return {
                "_index": w.index, "_shard": w.shard, "_node": replica,
                "reason": {"type": getattr(exc, "type", "node_not_connected_exception"),
                           "reason": reason},
                "status": "INTERNAL_SERVER_ERROR", "primary": False,
            }
        return outcome

    async def _fail_replica(self, w: DocWrite, replica: str, term: int) -> None:
        """Ask the master to take a replica out of the in-sync set before acknowledging.

        A refusal means this primary was replaced (its term is stale): it must not
        acknowledge a write it could not replicate, so the client gets an error instead.
        """
        try:
            accepted = await self.master.fail_replica(w.index, w.shard, replica, term)
            reason = "was demoted while failing replica shard"
        except (TransportError, ElasticsearchError):
            accepted, reason = False, "could not reach the master while failing replica shard"
        if not accepted:
            self.recorder.record("fault", action="fenced", target=self.name, index=w.index,
                                 shard=w.shard, doc=w.doc_id, term=term)
            raise ElasticsearchError(f"[{w.index}][{w.shard}] primary shard [{self.name}] "
                                     f"{reason} [{replica}]", status=503,
                                     type="retry_on_primary_exception")

    def replica_apply(self, body: dict) -> dict:
        """The replica side of replication: apply if newer, else keep what is held."""
        index, shard, doc = body["index"], body["shard"], body["doc"]
        copy = self.copies.get((index, shard))
        if copy is None:
            raise ElasticsearchError(f"[{index}][{shard}] no such shard on [{self.name}]",
                                     status=404, type="shard_not_found_exception")
        op = Operation.from_wire(body)
        fields = dict(index=index, shard=shard, doc=doc, op=op.op, version=op.version,
                      seq_no=op.seq_no, term=op.term)
        try:
            result = copy.replicate(op, self.clock())
        except StaleTerm as exc:
            self.recorder.record("reject", reason=exc.reason, **fields)
            raise
        if body.get("refresh"):
            copy.refresh()
        if result.applied:
            self.recorder.add("apply", fields)
            return {"applied": True, "index": index, "shard": shard, "doc": doc,
                    "version": op.version, "seq_no": op.seq_no}
        fields.update(held_version=result.held_version, held_seq_no=result.held_seq_no,
                      reason="stale")
        self.recorder.add("discard", fields)
        return {"applied": False, "index": index, "shard": shard, "doc": doc,
                "version": op.version, "seq_no": op.seq_no,
                "held_version": result.held_version, "held_seq_no": result.held_seq_no}

    async def _wait_for_active_shards(self, w: DocWrite, meta: dict) -> None:
        """Elasticsearch's pre-flight: enough active copies, or 503 after `timeout`."""
        wanted = w.wait_for_active_shards
        if wanted == 1:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + w.timeout
        while True:
            routing = self.index_meta(w.index)["routing"][w.shard]
            total = 1 + len(routing["replicas"])
            needed = total if wanted == "all" else int(wanted)
            active = 1 + sum(1 for r in routing["replicas"] if r is not None)
            if active >= needed:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._unavailable(w, meta, active, needed)
            async with self._state_changed:
                try:
                    await asyncio.wait_for(self._state_changed.wait(), remaining)
                except TimeoutError:
                    pass

    def _unavailable(self, w: DocWrite, meta: dict, active: int,
                     needed: int = 1) -> ElasticsearchError:
        count = "ALL" if w.wait_for_active_shards == "all" else str(needed)
        return ElasticsearchError(
            f"[{w.index}][{w.shard}] Not enough active copies to meet shard count of [{count}] "
            f"(have {active}, needed {needed}). Timeout: [{_fmt_time(w.timeout)}], "
            f"request: [index {{[{w.index}][{w.doc_type}][{w.doc_id}]}}]",
            status=503, type="unavailable_shards_exception",
        ).at(w.index, meta["uuid"], w.shard)

    # -- reads -----------------------------------------------------------------------------
    async def get(self, index: str, doc_type: str, doc_id: str, *, routing: str | None,
                  version: int, version_type: str, local_only: bool,
                  primary_only: bool = False) -> dict | None:
        """Read a document from the local copy if this node holds one, else from the primary.

        `primary_only` reads the primary's copy even where this node holds a replica (the
        update API reads what the primary holds, like Elasticsearch's update on the primary).
        """
        meta = self.index_meta(index)
        shard = self.shard_of(meta, doc_id, routing)
        body = {"index": index, "shard": shard, "doc_type": doc_type, "doc_id": doc_id,
                "version": version, "version_type": version_type}
        primary = meta["routing"][shard]["primary"]
        if local_only or ((index, shard) in self.copies
                          and (not primary_only or primary == self.name)):
            return self.local_get(body)
        if primary is None:
            raise self._unavailable(DocWrite(index, doc_type, doc_id, INDEX), meta, 0)
        return (await self._ask(primary, "get", body, timeout=30.0))["doc"]

    def local_get(self, body: dict) -> dict | None:
        index, shard, doc_id = body["index"], body["shard"], body["doc_id"]
        copy = self.copies.get((index, shard))
        if copy is None:
            return None
        doc_type = body["doc_type"]
        if self.typed_uids() and doc_type == "_all":  # 5.x: a get without a type finds any
            doc_type = next((u.partition("#")[0] for u, d in copy.docs.items()
                             if not d.deleted and u.partition("#")[2] == doc_id), "_all")
        uid = f"{doc_type}#{doc_id}" if self.typed_uids() else doc_id
        try:
            doc = copy.get(uid, self.clock(), body["version"], VersionType(body["version_type"]))
        except VersionConflict as exc:
            exc.worded(self.profile.conflict_prefix(doc_type, doc_id))
            raise exc.at(index, self.index_meta(index)["uuid"], shard) from None
        if doc is None:
            return None
        return {"version": doc.version, "seq_no": doc.seq_no, "term": doc.term,
                "source": doc.source, "shard": shard, "type": doc_type}

    # -- messages from other nodes and the master ------------------------------------------
    def handle_message(self, src: str, kind: str, body: dict) -> dict | Awaitable[dict]:
        """Answer one transport request; errors travel back as Elasticsearch error bodies.
        What needs no waiting (a replica applying an operation, a get) is answered at once;
        the rest returns a coroutine."""
        try:
            if kind == "replicate":
                return self.replica_apply(body)
            if kind == "get":
                return {"doc": self.local_get(body)}
            if kind == "stats":
                return self.stats_message(body)
            if kind == "recovery":
                return self.apply_recovery(body)
        except ElasticsearchError as exc:
            return exc.body()
        if kind in ("forward", "recover", "cluster_state"):
            return self._handle_later(kind, body)
        raise ElasticsearchError(f"unknown message kind [{kind}]", status=400,
                                 type="illegal_argument_exception")

    async def _handle_later(self, kind: str, body: dict) -> dict:
        try:
            if kind == "forward":
                return (await self.primary_write(DocWrite.from_wire(body))).to_wire()
            if kind == "recover":
                return await self.recover_replica(body)
            await self.apply_state(body["state"])
            return {"version": self.state["version"]}
        except ElasticsearchError as exc:
            return exc.body()

    async def recover_replica(self, body: dict) -> dict:
        """As a primary: send a copy everything this copy holds (recovery or resync)."""
        index, shard, target = body["index"], body["shard"], body["target"]
        copy = self.copies[(index, shard)]
        self.recorder.record("fault", action="recovery", target=target, index=index,
                             shard=shard, term=copy.term, detail="reset" if body.get("reset")
                             else "catch-up")
        await self._ask(target, "recovery", {
            "index": index, "shard": shard, "term": copy.term,
            "checkpoint": copy.local_checkpoint, "reset": bool(body.get("reset")),
            "ops": [op.to_wire() for op in copy.export()]}, timeout=30.0)
        return {"ok": True}

    def apply_recovery(self, body: dict) -> dict:
        """As a new or resynced copy: take what the primary sent."""
        copy = self.copies.get((body["index"], body["shard"]))
        if copy is None:
            raise ElasticsearchError(f"[{body['index']}][{body['shard']}] no such shard on "
                                     f"[{self.name}]", status=404,
                                     type="shard_not_found_exception")
        copy.recover([Operation.from_wire(op) for op in body["ops"]],
                     primary_term=body["term"], checkpoint=body["checkpoint"],
                     now=self.clock(), reset=body["reset"])
        return {"ok": True}

    def _request(self, dst: str, kind: str, body: dict, *, timeout: float) -> asyncio.Future:
        """A request to another node, sent now; the future of its raw reply."""
        if self.transport is None:
            raise TransportError(f"[{dst}] is not reachable from a single node")
        return self.transport.send_request(dst, kind, body, timeout=timeout)

    async def _ask(self, dst: str, kind: str, body: dict, *, timeout: float) -> dict:
        return _checked(await self._request(dst, kind, body, timeout=timeout))

    def stats_message(self, body: dict) -> dict:
        """`stats`: live counts of the copies here; with `op`, a refresh or a search count of
        listed copies (carried by `stats` so that every transport already passes it on)."""
        op = body.get("op")
        if op == "refresh":
            return {"done": self.refresh_local(body["copies"])}
        if op == "count":
            return {"done": self.search_count_local(body["copies"])}
        return {"counts": self.local_counts()}

    # -- refresh and search counts ---------------------------------------------------------
    def refresh_local(self, copies: list) -> list[list]:
        """Refresh the listed [index, shard] copies held here; answer those refreshed."""
        done = []
        for index, shard in copies:
            copy = self.copies.get((index, shard))
            if copy is not None:
                copy.refresh()
                done.append([index, shard])
        return done

    def search_count_local(self, copies: list) -> list[list]:
        """[index, shard, count] of what a search sees in each listed copy held here."""
        now = self.clock()
        return [[index, shard, self.copies[(index, shard)].search_count(now)]
                for index, shard in copies if (index, shard) in self.copies]

    async def _on_copies(self, op: str, targets: dict[str, list]) -> dict[str, list | Exception]:
        """Run a refresh or count on the copies each node holds, here or over the transport."""
        local = {"refresh": self.refresh_local, "count": self.search_count_local}[op]
        results: dict[str, list | Exception] = {}
        remote = [n for n in targets if n != self.name]
        if self.name in targets:
            results[self.name] = local(targets[self.name])
        replies = await asyncio.gather(
            *(self._ask(n, "stats", {"op": op, "copies": targets[n]}, timeout=30.0)
              for n in remote), return_exceptions=True)
        for n, reply in zip(remote, replies):
            results[n] = reply["done"] if isinstance(reply, dict) else reply
        return results

    async def refresh(self, indices: list[str]) -> dict:
        """Refresh every copy of the indices, on every node holding one (`_refresh`).

        Answers the broadcast `_shards`: all copies in `total` (unassigned ones too), the copies
        refreshed in `successful`, unreachable ones as failures.
        """
        total, targets = 0, {}
        for index in indices:
            for shard, routing in enumerate(self.index_meta(index)["routing"]):
                total += 1 + len(routing["replicas"])
                for holder in [routing["primary"], *routing["replicas"]]:
                    if holder is not None:
                        targets.setdefault(holder, []).append([index, shard])
        successful, failures = 0, []
        for holder, result in (await self._on_copies("refresh", targets)).items():
            if isinstance(result, Exception):
                failures.extend(_copy_failure(index, shard, holder, result)
                                for index, shard in targets[holder])
            else:
                successful += len(result)
        return {"total": total, "successful": successful, "failed": len(failures),
                "failures": failures}

    async def search_count(self, indices: list[str]) -> dict:
        """Count what searches see, one primary per shard (`_count`)."""
        total, targets, failures = 0, {}, []
        for index in indices:
            for shard, routing in enumerate(self.index_meta(index)["routing"]):
                total += 1
                if routing["primary"] is None:
                    failures.append(_copy_failure(index, shard, None, None))
                else:
                    targets.setdefault(routing["primary"], []).append([index, shard])
        count, successful = 0, 0
        for holder, result in (await self._on_copies("count", targets)).items():
            if isinstance(result, Exception):
                failures.extend(_copy_failure(index, shard, holder, result)
                                for index, shard in targets[holder])
            else:
                successful += len(result)
                count += sum(n for _, _, n in result)
        return {"count": count, "total": total, "successful": successful,
                "failed": len(failures), "failures": failures}

    def _search_idle_after(self) -> float | None:
        """7.0+ shards go search-idle after 30s without searches (index.search.idle.after)."""
        return SEARCH_IDLE_AFTER if self.profile.major >= 7 else None

    def local_counts(self) -> list[list]:
        return [[self.name, index, shard, copy.live_count()]
                for (index, shard), copy in self.copies.items()]

    async def copy_counts(self) -> dict[tuple[str, str, int], int]:
        """Live document count of every shard copy, asked of each node that holds copies."""
        rows = self.local_counts()
        others = [n for n in self.state["nodes"] if n != self.name]
        if self.transport is not None and others:
            replies = await asyncio.gather(
                *(self._ask(n, "stats", {}, timeout=5.0) for n in others),
                return_exceptions=True)
            for reply in replies:
                if isinstance(reply, dict):
                    rows.extend(reply["counts"])
        return {(n, index, shard): count for n, index, shard, count in rows}

    def snapshot(self) -> list[dict]:
        """One `state` record per shard copy held here."""
        out = []
        for (index, shard), copy in sorted(self.copies.items()):
            routing = self.state["indices"][index]["routing"][shard]
            docs = copy.snapshot()
            if self.typed_uids():
                for doc in docs:
                    doc["type"], _, doc["id"] = doc["id"].partition("#")
            out.append({"node": self.name, "index": index, "shard": shard,
                        "primary": routing["primary"] == self.name, "term": copy.term,
                        "docs": docs})
        return out


def _copy_failure(index: str, shard: int, holder: str | None,
                  exc: Exception | None) -> dict:
    """A shard failure entry of a broadcast response (`_shards.failures`)."""
    if exc is None:
        reason = {"type": "no_shard_available_action_exception",
                  "reason": f"[{index}][{shard}] no primary shard is active"}
    else:
        reason = {"type": getattr(exc, "type", "node_not_connected_exception"),
                  "reason": getattr(exc, "reason", str(exc))}
    return {"shard": shard, "index": index, "node": holder, "status": "INTERNAL_SERVER_ERROR",
            "reason": reason}


def _condition_fields(w: DocWrite) -> dict:
    fields: dict = {"version_type": w.version_type}
    if w.version != MATCH_ANY:
        fields["expected_version"] = w.version
    if w.if_seq_no is not None:
        fields["if_seq_no"] = w.if_seq_no
        fields["if_primary_term"] = w.if_primary_term
    return fields


def _fmt_time(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{int(seconds * 1000)}ms"

