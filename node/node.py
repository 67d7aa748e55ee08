"""One cluster member: the shard copies it holds and the coordination of the write path.

A `Node` applies the cluster state the master publishes, routes every document request to its
shard, forwards it to the shard's primary when that is another node, runs the primary's check
and the replication fan-out when it is this node, and applies replicated operations as a
replica. A shard's items of one `_bulk` travel together: one request to the primary, which
runs them in order, and one message per replica with the resolved operations. It talks to
other nodes only through a `Transport` (request/response messages) and reads time only through
the `clock` it is given (what time it is) and the `timer` (how long its waits have lasted, on
the event loop's clock), so the same code runs on real processes and inside the single-process
simulation.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import Protocol

import mmh3

from occsim.node.engine import INDEX, Operation, ReplicaResult, ShardCopy, Write, WriteResult
from occsim.node.errors import (ElasticsearchError, IndexNotFound, NoShardAvailable, StaleTerm,
                         VersionConflict)
from occsim.node.profiles import Profile
from occsim.node.search import compile_query
from occsim.node.versioning import MATCH_ANY, VERSION_TYPES, VersionType
from occsim.node.rest import check_mappable
from occsim.transport.message import TransportError
from occsim.transport.recorder import ABSENT, SHAPES


REFRESH_INTERVAL = 1.0  # Elasticsearch's default index.refresh_interval (seconds)
SEARCH_IDLE_AFTER = 30.0  # index.search.idle.after (7.0+)
INITIAL_STATE_TIMEOUT = 30.0  # discovery.initial_state_timeout: the longest a node waits to join


TIMEOUT_RESOLUTION = 0.001  # less time than this left (seconds): the timeout has passed
NOT_PRIMARY = "shard_not_in_primary_mode_exception"  # retryable: route the write again
ALREADY_EXISTS = ("index_already_exists_exception", "resource_already_exists_exception")
# A copy's refusals after which a read tries the next copy (those of
# TransportActions.isShardNotAvailableException that `local_get` raises)
SHARD_NOT_AVAILABLE = frozenset({"shard_not_found_exception", "index_not_found_exception",
                                 "illegal_index_shard_state_exception"})


class Transport(Protocol):
    def send_request(self, dst: str, kind: str, body: dict, *,
                     timeout: float) -> asyncio.Future: ...


class Master(Protocol):
    """What a node asks of the elected master (in-process or the manager over the transport)."""

    async def create_index(self, index: str, settings: dict, doc_type: str | None) -> dict: ...
    async def delete_index(self, index: str) -> dict: ...
    async def set_type(self, index: str, doc_type: str) -> dict: ...
    async def put_alias(self, index: str, alias: str) -> dict: ...
    async def fail_replica(self, index: str, shard: int, replica: str, term: int) -> bool: ...


class Recorder(Protocol):
    def record(self, kind: str, **fields: object) -> None: ...


def murmur3(routing: str) -> int:
    """Elasticsearch's Murmur3HashFunction: x86_32, seed 0, over UTF-16LE code units (a lone
    surrogate is one code unit like any other)."""
    return mmh3.hash(_UTF_16_LE(routing, "surrogatepass")[0], 0, signed=True)


_UTF_16_LE = codecs.utf_16_le_encode  # the codec itself: a third of the time of a lookup by name


def shard_for(routing: str, number_of_shards: int, routing_num_shards: int) -> int:
    """OperationRouting.generateShardId without a routing partition (reference §5.6)."""
    return (murmur3(routing) % routing_num_shards) // (routing_num_shards // number_of_shards)


def active_copies(routing: dict) -> list[str]:
    """The nodes whose copy of a shard serves reads: the primary and the started replicas,
    not a copy still recovering (INITIALIZING) nor an unassigned slot."""
    starting = routing.get("initializing", ())
    return [n for n in (routing["primary"], *routing["replicas"])
            if n is not None and n not in starting]


def read_candidates(routing: dict, here: str, local_only: bool) -> list[str]:
    """The copies a read tries, in order: active ones (this node's first, then the primary's,
    then the replicas'), then initializing ones, which refuse it (Elasticsearch's
    activeInitializingShardsIt; `_only_local`: this node's copy, whatever its state)."""
    holders = [n for n in (routing["primary"], *routing["replicas"]) if n is not None]
    if local_only:
        return [here] if here in holders else []
    active = active_copies(routing)
    return (sorted(active, key=lambda n: n != here)
            + [n for n in holders if n not in active])


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
        """The write as it travels: what names it (and the fields a trace shows of a
        message: index, shard, op, version) always, each other field only when it is not
        its default (`from_wire` restores those)."""
        wire = {"index": self.index, "doc_type": self.doc_type, "doc_id": self.doc_id,
                "op": self.op, "version": self.version, "shard": self.shard}
        for name, default in _DOC_WRITE_OPTIONAL:
            value = getattr(self, name)
            if value != default or value.__class__ is not default.__class__:
                wire[name] = value
        return wire

    @classmethod
    def from_wire(cls, d: dict) -> DocWrite:
        return cls(**d)

    def uid(self, typed_uids: bool) -> str:
        return f"{self.doc_type}#{self.doc_id}" if typed_uids else self.doc_id

    def described(self, profile: Profile) -> str:
        """The request as Elasticsearch names it in an error (IndexRequest.toString)."""
        return f"index {{[{self.index}][{self.doc_type}][{self.doc_id}]}}"


_DOC_WRITE_OPTIONAL = tuple((f.name, f.default) for f in fields(DocWrite)
                            if f.name in ("source", "version_type", "if_seq_no",
                                          "if_primary_term", "create", "routing",
                                          "wait_for_active_shards", "timeout", "refresh"))


@dataclass(slots=True)
class ShardBulk:
    """The writes of one `_bulk` for one shard, in request order: what the coordinating node
    sends the shard's primary (Elasticsearch's BulkShardRequest). Its items share the bulk's
    options (timeout, wait_for_active_shards, refresh)."""

    items: list[DocWrite]
    doc_id = None  # a shard's bulk is about no one document

    @property
    def index(self) -> str:
        return self.items[0].index

    @property
    def shard(self) -> int:
        return self.items[0].shard

    @property
    def timeout(self) -> float:
        return self.items[0].timeout

    @property
    def wait_for_active_shards(self) -> int | str:
        return self.items[0].wait_for_active_shards

    @property
    def refresh(self) -> str | None:
        return self.items[0].refresh

    def to_wire(self) -> dict:
        return {"index": self.index, "shard": self.shard,  # for the trace
                "items": [w.to_wire() for w in self.items]}

    @classmethod
    def from_wire(cls, d: dict) -> ShardBulk:
        return cls([DocWrite.from_wire(w) for w in d["items"]])

    def described(self, profile: Profile) -> str:
        """BulkShardRequest.toString: 5.x names the index, 6.0+ the shard, and a single item
        itself."""
        if profile.bulk_request_names_index:
            what = f"to [{self.index}] containing [{len(self.items)}] requests"
        elif len(self.items) == 1:
            item = self.items[0].described(profile)
            what = f"[[{self.index}][{self.shard}]] containing [{item}]"
        else:
            what = f"[[{self.index}][{self.shard}]] containing [{len(self.items)}] requests"
        refresh = {"true": " and a refresh", "wait_for": " blocking until refresh"}.get(
            self.refresh or "", "")
        return f"BulkShardRequest {what}{refresh}"


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


def _write_outcome(reply: dict) -> WriteOutcome:
    return WriteOutcome(**reply)


def _bulk_items(reply: dict) -> list[dict]:
    return reply["items"]


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
        timer: Callable[[], float],
        recorder: Recorder,
        master: Master,
        transport: Transport | None = None,
        replication_timeout: float = 30.0,
        rng: random.Random | None = None,
        apply_all: bool = False,
    ) -> None:
        self.name = name
        self.apply_all = apply_all  # counterfactual: replicas compare nothing (`ShardCopy`)
        self.profile = profile
        self.clock = clock
        self.timer = timer
        self.recorder = recorder
        self.master = master
        self.transport = transport
        self.replication_timeout = replication_timeout
        self.state: dict = {"version": 0, "indices": {}, "nodes": {}}
        self.copies: dict[tuple[str, int], ShardCopy] = {}
        self._state_changed = asyncio.Condition()
        self._moves: dict[tuple[str, int, str], asyncio.Future] = {}  # see _primary_move
        self._resyncs: dict[tuple[str, int], asyncio.Future] = {}  # running, see _resync
        self._rng = rng or random.Random()
        self.search_turn = 0  # which copy serves the next search without a preference

    def new_id(self) -> str:
        """A 20-character URL-safe id for a document indexed without one, as Elasticsearch
        makes them (from the node's own seeded generator, so a simulation repeats them)."""
        return base64.urlsafe_b64encode(self._rng.randbytes(15)).decode()

    # -- cluster state ---------------------------------------------------------------------
    async def apply_state(self, state: dict) -> None:
        """Adopt a newer cluster state: create, promote or drop this node's shard copies.

        A copy is this node's while the routing names it with the copy's allocation id; one
        allocated anew (another id) starts empty. A promoted copy resyncs its replicas before
        it takes a write of its new term (`_resync`)."""
        if state["version"] <= self.state["version"]:
            return
        self.state = state
        wanted = set()
        for index, meta in state["indices"].items():
            for shard, routing in enumerate(meta["routing"]):
                allocation_id = routing["alloc"].get(self.name)
                if allocation_id is None:
                    continue
                key = (index, shard)
                wanted.add(key)
                copy = self.copies.get(key)
                if copy is None or copy.allocation_id != allocation_id:
                    copy = self.copies[key] = ShardCopy(
                        term=routing["term"], gc_deletes=meta["gc_deletes"],
                        order_by_seq_no=self.profile.replicas_order_by_seq_no,
                        allocation_id=allocation_id, apply_all=self.apply_all,
                    )
                    self._schedule_refresh(copy, meta)
                elif routing["primary"] == self.name and copy.term < routing["term"]:
                    copy.term = routing["term"]  # promoted: from now on, this term
                    self.recorder.record("promote", index=index, shard=shard, term=copy.term)
                    self._resync_soon(key)
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

    def _resync_soon(self, key: tuple[str, int]) -> None:
        """Start a promoted copy's resync; writes wait for it while it is in `_resyncs`."""
        task = self._resyncs[key] = asyncio.ensure_future(self._resync(*key))
        task.add_done_callback(
            lambda done: self._resyncs.pop(key) if self._resyncs.get(key) is done else None)

    async def _resync(self, index: str, shard: int) -> None:
        """As a newly promoted primary: fill the history's gaps, then hand every replica this
        copy's history; a replica that does not take it is failed at the master before any
        write of the new term is acknowledged (reference §5.5, §5.7)."""
        copy = self.copies[(index, shard)]
        copy.fill_gaps()
        term = copy.term
        targets = [r for r in self.index_meta(index)["routing"][shard]["replicas"] if r]
        results = await asyncio.gather(
            *(self.recover_replica({"index": index, "shard": shard, "target": target,
                                    "reset": True}) for target in targets),
            return_exceptions=True)
        for target, result in zip(targets, results):
            if isinstance(result, Exception):
                self.recorder.record("replica_failed", index=index, shard=shard, dst=target,
                                     reason=f"resync failed: {_reason(result)}")
                try:
                    await self.master.fail_replica(index, shard, target, term)
                except (TransportError, ElasticsearchError):
                    pass  # the master is away: writes will fail the replica, or be fenced

    def held(self) -> list[list]:
        """[index, shard, allocation id] of every copy this node holds (what a node that
        comes back tells the master, so an in-sync copy can be primary again)."""
        return [[index, shard, copy.allocation_id]
                for (index, shard), copy in self.copies.items()]

    def index_meta(self, index: str) -> dict:
        meta = self.state["indices"].get(index)
        if meta is None:
            raise IndexNotFound(index, self.profile.no_such_index(index))
        return meta

    def joined(self) -> bool:
        """Whether this node applied a cluster state that counts it as a member."""
        return self.name in self.state["nodes"]

    async def wait_for_state(self, predicate: Callable[[], bool],
                             timeout: float | None) -> bool:
        """Wait until the applied cluster state satisfies `predicate` (checked again after
        each state applied), at most `timeout` seconds (None: no limit); whether it does."""
        if predicate():
            return True
        async with self._state_changed:
            try:
                await asyncio.wait_for(self._state_changed.wait_for(predicate), timeout)
            except TimeoutError:
                return predicate()
        return True

    async def ensure_index(self, index: str, doc_type: str | None) -> dict:
        """The index's metadata, auto-creating the index (and its one type) as Elasticsearch does."""
        meta = self.state["indices"].get(index)
        if meta is None:
            try:
                await self.apply_state(await self.master.create_index(index, {}, doc_type))
            except ElasticsearchError as exc:  # created meanwhile (through another node): use
                if exc.type not in ALREADY_EXISTS:  # it, as Elasticsearch's auto-create does
                    raise
                await self.wait_for_state(lambda: index in self.state["indices"],
                                          INITIAL_STATE_TIMEOUT)
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
    async def place(self, w: DocWrite) -> dict:
        """Find a write's shard (auto-creating its index); the index's metadata."""
        meta = await self.ensure_index(w.index, w.doc_type)
        if w.source is not None:  # decided here, once: what passes reaches every copy
            check_mappable(w.source, w.doc_id, self.profile)
        w.shard = self.shard_of(meta, w.doc_id, w.routing)
        return meta

    async def write(self, w: DocWrite) -> WriteOutcome:
        """Route a write to its shard's primary, here or on another node."""
        meta = await self.place(w)
        return await self._on_primary(w, meta, "forward", _write_outcome)

    async def write_bulk(self, bulk: ShardBulk) -> list[WriteOutcome | ElasticsearchError]:
        """Route the placed writes of one shard to its primary in one request; per item, in
        order, what came of it. An error of the whole request (no primary in time, a fenced
        primary) is raised."""
        meta = self.index_meta(bulk.index)
        items = await self._on_primary(bulk, meta, "forward_bulk", _bulk_items)
        out: list[WriteOutcome | ElasticsearchError] = []
        for item in items:
            try:
                out.append(WriteOutcome(**_checked(item)))
            except ElasticsearchError as exc:
                out.append(exc)
        return out

    async def _on_primary(self, w: DocWrite | ShardBulk, meta: dict, kind: str,
                          answer: Callable[[dict], object]):
        """Run `primary_write(w)` if this node holds the shard's primary, else send `w` to it
        as a `kind` request and take `answer` of its reply.

        If the primary cannot be reached, or is replaced while the request is on its way, wait
        for the next cluster state and route again (Elasticsearch's retry on primary failure),
        for at most `w.timeout`.
        """
        deadline = None
        while True:
            routing = self.index_meta(w.index)["routing"][w.shard]
            primary, version = routing["primary"], self.state["version"]
            if primary == self.name:
                return await self.primary_write(w)
            if deadline is None:  # the first turn: nothing awaited yet, so it is now
                deadline = self.timer() + w.timeout
            if primary is not None:
                forward = self._request(primary, kind, w.to_wire(), timeout=w.timeout + 5)
                try:
                    await _either(forward, self._primary_move(w, primary))
                except asyncio.CancelledError:
                    forward.cancel()  # nobody waits for its answer any more
                    raise
                if forward.done():
                    try:
                        return answer(_checked(forward.result()))
                    except TransportError:
                        pass
                    except ElasticsearchError as exc:
                        if exc.type != NOT_PRIMARY:
                            raise
                else:
                    forward.cancel()
            remaining = deadline - self.timer()
            if remaining < TIMEOUT_RESOLUTION:
                raise self._unavailable(w, meta, 0)
            await self._newer_state(version, min(remaining, 1.0))  # then route again

    def _primary_here(self, w: DocWrite | ShardBulk) -> bool:
        """Whether the state applied here makes this node the write's primary, copy held."""
        meta = self.state["indices"].get(w.index)
        return (meta is not None and meta["routing"][w.shard]["primary"] == self.name
                and (w.index, w.shard) in self.copies)

    async def _until_primary(self, w: DocWrite | ShardBulk, patience: float = 5.0) -> None:
        """A forwarded write may arrive before this node applied the state that made it
        primary: wait for that state a little, else refuse so the coordinator routes again."""
        primary_here = functools.partial(self._primary_here, w)
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

    def _primary_move(self, w: DocWrite | ShardBulk, primary: str) -> asyncio.Future:
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

    async def primary_write(self, w: DocWrite | ShardBulk) -> WriteOutcome | list[dict]:
        """Check the condition, resolve and apply the write, replicate it, count `_shards`;
        or the same for each write of a shard's bulk (`_primary_bulk`), once this copy may
        take writes."""
        if not self._primary_here(w):  # (the usual write awaits neither wait)
            await self._until_primary(w)
        if w.wait_for_active_shards != 1:
            await self._wait_for_active_shards(w, self.index_meta(w.index))
        resync = self._resyncs.get((w.index, w.shard))
        if resync is not None:
            await asyncio.shield(resync)
            await self._until_primary(w)
        meta = self.index_meta(w.index)
        routing = meta["routing"][w.shard]
        copy = self.copies[(w.index, w.shard)]
        if isinstance(w, ShardBulk):
            return await self._primary_bulk(w, routing, copy, meta)
        done = self._execute(copy, w, meta)
        op = done.operation
        if w.refresh is not None:
            copy.refresh()
        body = {"index": w.index, "shard": w.shard, "doc": w.doc_id, **op.to_wire()}
        if w.refresh is not None:
            body["refresh"] = True
        outcomes = await self._replicate(w, "replicate", body, routing["replicas"],
                                         self._acked(w, op))
        failures = [o for o in outcomes if isinstance(o, dict)]
        for failure in failures:
            await self._fail_replica(w, failure["_node"], op.term)
        total, successful = 1 + len(routing["replicas"]), self._successful(outcomes)
        return WriteOutcome(done.result, op.version, op.seq_no, op.term, w.shard, total,
                            successful, failures, w.refresh == "true")

    async def _primary_bulk(self, bulk: ShardBulk, routing: dict, copy: ShardCopy,
                            meta: dict) -> list[dict]:
        """Elasticsearch's shard bulk on the primary: check and apply each item in order (a
        conflict is that item's error, the others go on), then send each replica ONE message
        with the resolved operations in order; count `_shards` per item. Each item answers
        as a write outcome or an error body (`to_wire`/`body()`), here or over the wire."""
        results: list[WriteResult | VersionConflict] = []
        for w in bulk.items:
            try:
                results.append(self._execute(copy, w, meta))
            except VersionConflict as exc:
                results.append(exc)
        if bulk.refresh is not None:
            copy.refresh()
        done = [(w, r.operation) for w, r in zip(bulk.items, results)
                if isinstance(r, WriteResult)]
        outcomes: list = []
        if done:
            body = {"index": bulk.index, "shard": bulk.shard,
                    "ops": [{"doc": w.doc_id, **op.to_wire()} for w, op in done]}
            if bulk.refresh is not None:
                body["refresh"] = True
            outcomes = await self._replicate(bulk, "replicate_bulk", body, routing["replicas"],
                                             self._bulk_acked(bulk))
        failures = [o for o in outcomes if isinstance(o, dict)]
        for failure in failures:  # once per replica, before any item is answered
            await self._fail_replica(bulk, failure["_node"], done[0][1].term)
        answers, n = [], 0
        for w, result in zip(bulk.items, results):
            if isinstance(result, VersionConflict):
                answers.append(result.body())
                continue
            op = result.operation
            answers.append(WriteOutcome(
                result.result, op.version, op.seq_no, op.term, w.shard,
                total=1 + len(routing["replicas"]),
                successful=self._successful([o if isinstance(o, dict) else o[n]
                                             for o in outcomes]),
                failures=failures, forced_refresh=w.refresh == "true").to_wire())
            n += 1
        return answers

    def _execute(self, copy: ShardCopy, w: DocWrite, meta: dict) -> WriteResult:
        """The primary's part of one write: check its condition (VersionConflict, traced as a
        `conflict`), resolve and apply it (traced as a `primary_write`)."""
        request = Write(w.uid(self.typed_uids()), w.op, w.source, w.version,
                        VERSION_TYPES[w.version_type], w.if_seq_no, w.if_primary_term,
                        w.create, w.routing)
        try:
            done = copy.write(request, self.clock(),
                              says_not_found=self.profile.says_document_does_not_exist)
        except VersionConflict as exc:
            exc.worded(self.profile.conflict_prefix(w.doc_type, w.doc_id))
            exc.at(w.index, meta["uuid"], w.shard)
            self.recorder.record("conflict", index=w.index, shard=w.shard, doc=w.doc_id,
                                 reason=exc.reason, term=copy.term)
            raise
        if self.recorder.enabled:
            op = done.operation
            guarded = w.if_seq_no is not None
            self.recorder.add("primary_write", (  # recorder.SHAPES["primary_write"]
                w.index, w.shard, w.doc_id, op.op, op.version, op.seq_no, op.term, op.source,
                done.result, w.version_type, ABSENT if w.version == MATCH_ANY else w.version,
                w.if_seq_no if guarded else ABSENT, w.if_primary_term if guarded else ABSENT))
        return done

    def _successful(self, outcomes: list) -> int:
        """`_shards.successful` of one write: the primary and each replica that applied it
        (6.x+: or held something newer)."""
        discarded = outcomes.count("discarded") if self.profile.replicas_order_by_seq_no else 0
        return 1 + outcomes.count("applied") + discarded

    def _replicate(self, w: DocWrite | ShardBulk, kind: str, body: dict,
                   replicas: list[str | None],
                   read: Callable[[str, dict], object]) -> asyncio.Future:
        """Send every assigned replica the resolved operation(s) at once; the future of what
        came of it, per replica in order, each taken as soon as that replica answers:
        `read(replica, answer)`, or a failure entry."""
        targets = [r for r in replicas if r is not None]
        outcomes: list = [None] * len(targets)
        every = asyncio.get_running_loop().create_future()
        waiting = [len(targets)]

        def answered(i: int, replica: str, reply: asyncio.Future) -> None:
            outcomes[i] = self._replicated(replica, w, reply, read)
            waiting[0] -= 1
            if not waiting[0] and not every.done():  # (done: its write was cancelled)
                every.set_result(outcomes)

        for i, replica in enumerate(targets):
            self._request(replica, kind, body, timeout=self.replication_timeout
                          ).add_done_callback(functools.partial(answered, i, replica))
        if not targets:
            every.set_result(outcomes)
        return every

    def _acked(self, w: DocWrite, op: Operation) -> Callable[[str, dict], str]:
        """What a replica's answer to one operation says: 'applied' or 'discarded'."""
        def read(replica: str, answer: dict) -> str:
            outcome = "applied" if answer["applied"] else "discarded"
            if self.recorder.enabled:
                self.recorder.add("ack", (replica, self.name, w.index, w.shard, w.doc_id,
                                          op.version, op.seq_no, op.term, outcome))
            return outcome
        return read

    def _bulk_acked(self, bulk: ShardBulk) -> Callable[[str, dict], list[str]]:
        """What a replica's answer to a shard's bulk says, per operation in order."""
        def read(replica: str, answer: dict) -> list[str]:
            outcomes = ["applied" if a else "discarded" for a in answer["applied"]]
            if self.recorder.enabled:
                discarded = outcomes.count("discarded")
                self.recorder.record(
                    "ack", src=replica, dst=self.name, index=bulk.index, shard=bulk.shard,
                    items=len(outcomes), outcome="applied" if not discarded else
                    f"applied {len(outcomes) - discarded}, discarded {discarded}")
            return outcomes
        return read

    def _replicated(self, replica: str, w: DocWrite | ShardBulk, reply: asyncio.Future,
                    read: Callable[[str, dict], object]) -> object:
        try:
            if reply.cancelled():
                raise TransportError(f"[{replica}] replication was cancelled")
            return read(replica, _checked(reply.result()))
        except (TransportError, ElasticsearchError) as exc:
            reason = _reason(exc)
            self.recorder.record("replica_failed", index=w.index, shard=w.shard, dst=replica,
                                 doc=w.doc_id, reason=reason)
            return {
                "_index": w.index, "_shard": w.shard, "_node": replica,
                "reason": {"type": getattr(exc, "type", "node_not_connected_exception"),
                           "reason": reason},
                "status": "INTERNAL_SERVER_ERROR", "primary": False,
            }

    async def _fail_replica(self, w: DocWrite | ShardBulk, replica: str, term: int) -> None:
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
        copy = self._replica_copy(index, shard)
        op = Operation.from_wire(body)
        result = self._apply(copy, index, shard, doc, op)
        if body.get("refresh"):
            copy.refresh()
        if result.applied:
            return {"applied": True, "index": index, "shard": shard, "doc": doc,
                    "version": op.version, "seq_no": op.seq_no}
        return {"applied": False, "index": index, "shard": shard, "doc": doc,
                "version": op.version, "seq_no": op.seq_no,
                "held_version": result.held_version, "held_seq_no": result.held_seq_no}

    def replica_apply_bulk(self, body: dict) -> dict:
        """The replica side of a shard's bulk: each operation in order, exactly as a single
        one; per operation, whether it was applied. An operation of an older primary term is
        rejected (each one traced), and so is the whole request."""
        index, shard = body["index"], body["shard"]
        copy = self._replica_copy(index, shard)
        applied, stale = [], None
        for item in body["ops"]:
            try:
                applied.append(self._apply(copy, index, shard, item["doc"],
                                           Operation.from_wire(item)).applied)
            except StaleTerm as exc:
                stale = stale or exc
        if stale is not None:
            raise stale
        if body.get("refresh"):
            copy.refresh()
        return {"applied": applied}

    def _replica_copy(self, index: str, shard: int) -> ShardCopy:
        copy = self.copies.get((index, shard))
        if copy is None:
            raise ElasticsearchError(f"[{index}][{shard}] no such shard on [{self.name}]",
                                     status=404, type="shard_not_found_exception")
        return copy

    def _apply(self, copy: ShardCopy, index: str, shard: int, doc: str,
               op: Operation) -> ReplicaResult:
        """Apply one replicated operation if newer; traced as `apply`, `discard` or `reject`
        (StaleTerm, raised)."""
        fields = (index, shard, doc, op.op, op.version, op.seq_no, op.term)
        try:
            result = copy.replicate(op, self.clock())
        except StaleTerm as exc:
            self.recorder.record("reject", reason=exc.reason,
                                 **dict(zip(SHAPES["apply"], fields)))
            raise
        if result.applied:
            self.recorder.add("apply", fields)
        else:
            self.recorder.add("discard", (*fields, result.held_version, result.held_seq_no,
                                          "stale"))
        return result

    async def _wait_for_active_shards(self, w: DocWrite | ShardBulk, meta: dict) -> None:
        """Elasticsearch's pre-flight: enough active copies, or 503 after `timeout`."""
        wanted = w.wait_for_active_shards
        if wanted == 1:
            return
        deadline = self.timer() + w.timeout
        while True:
            routing = self.index_meta(w.index)["routing"][w.shard]
            total = 1 + len(routing["replicas"])
            needed = total if wanted == "all" else int(wanted)
            active = 1 + sum(1 for r in routing["replicas"] if r is not None)
            if active >= needed:
                return
            remaining = deadline - self.timer()
            if remaining < TIMEOUT_RESOLUTION:
                raise self._unavailable(w, meta, active, needed)
            async with self._state_changed:
                try:
                    await asyncio.wait_for(self._state_changed.wait(), remaining)
                except TimeoutError:
                    pass

    def _unavailable(self, w: DocWrite | ShardBulk, meta: dict, active: int,
                     needed: int = 1) -> ElasticsearchError:
        count = "ALL" if w.wait_for_active_shards == "all" else str(needed)
        return ElasticsearchError(
            f"[{w.index}][{w.shard}] Not enough active copies to meet shard count of [{count}] "
            f"(have {active}, needed {needed}). Timeout: [{_fmt_time(w.timeout)}], "
            f"request: [{w.described(self.profile)}]",
            status=503, type="unavailable_shards_exception",
        ).at(w.index, meta["uuid"], w.shard)

    # -- reads -----------------------------------------------------------------------------
    async def get(self, index: str, doc_type: str, doc_id: str, *, routing: str | None,
                  version: int, version_type: str, local_only: bool,
                  primary_only: bool = False, request: str | None = None,
                  realtime: bool = True) -> dict | None:
        """Read a document from an active (started) copy, as Elasticsearch's single-shard
        read does: this node's copy if it is active, else the primary's, else a started
        replica's; an initializing copy only as a last try, which it refuses (reference §5.7).

        `local_only` (`preference=_only_local`) tries only this node's copy. `primary_only`
        reads the primary's copy (the update API reads what the primary holds). With no copy
        able to answer: 503 `no_shard_available_action_exception` naming `request` (the
        profile's text of this GET unless given), caused by the last copy's refusal.
        """
        meta = self.index_meta(index)
        shard = self.shard_of(meta, doc_id, routing)
        body = {"index": index, "shard": shard, "doc_type": doc_type, "doc_id": doc_id,
                "version": version, "version_type": version_type}
        if not realtime:
            body["realtime"] = False
        table = meta["routing"][shard]
        if primary_only:
            if table["primary"] not in active_copies(table):
                raise self._unavailable(DocWrite(index, doc_type, doc_id, INDEX), meta, 0)
            candidates = [table["primary"]]
        else:
            candidates = read_candidates(table, self.name, local_only)
        failure: Exception | None = None  # the first failure, or a later one of another kind
        for holder in candidates:
            try:
                if holder == self.name:
                    return self.local_get(body)
                return (await self._ask(holder, "get", body, timeout=30.0))["doc"]
            except TransportError as exc:
                failure = exc
            except ElasticsearchError as exc:
                if exc.type not in SHARD_NOT_AVAILABLE:
                    raise
                failure = failure or exc
        if failure is not None and not isinstance(failure, ElasticsearchError):
            raise failure  # an unreachable copy: its failure, not "no shard"
        what = request or self.profile.get_request(index, doc_type, doc_id, routing)
        raise NoShardAvailable(f"No shard available for [{what}]",
                               caused_by=failure.cause() if failure else None)

    def local_get(self, body: dict) -> dict | None:
        """Read this node's copy, if it serves reads (else the shard-level refusal)."""
        index, shard, doc_id = body["index"], body["shard"], body["doc_id"]
        copy = self._readable_copy(index, shard)
        doc_type = body["doc_type"]
        if self.typed_uids() and doc_type == "_all":  # 5.x: a get without a type finds any
            doc_type = next((u.partition("#")[0] for u, d in copy.docs.items()
                             if not d.deleted and u.partition("#")[2] == doc_id), "_all")
        uid = f"{doc_type}#{doc_id}" if self.typed_uids() else doc_id
        try:
            doc = copy.get(uid, self.clock(), body["version"], VersionType(body["version_type"]),
                           realtime=body.get("realtime", True))
        except VersionConflict as exc:
            exc.worded(self.profile.conflict_prefix(doc_type, doc_id))
            raise exc.at(index, self.index_meta(index)["uuid"], shard) from None
        if doc is None:
            return None
        return {"version": doc.version, "seq_no": doc.seq_no, "term": doc.term,
                "source": doc.source, "shard": shard, "type": doc_type, "routing": doc.routing}

    def _readable_copy(self, index: str, shard: int) -> ShardCopy:
        """This node's copy of a shard if the cluster state it applied says it is active:
        a copy still recovering (INITIALIZING) takes replicated writes but serves no read."""
        uuid = self.index_meta(index)["uuid"]
        copy = self.copies.get((index, shard))
        if copy is None:
            raise ElasticsearchError("no such shard", status=404,
                                     type="shard_not_found_exception").at(index, uuid, shard)
        if self.name not in active_copies(self.state["indices"][index]["routing"][shard]):
            raise ElasticsearchError(
                "CurrentState[RECOVERING] operations only allowed when shard state is one of "
                + self.profile.read_allowed_states, status=404,
                type="illegal_index_shard_state_exception").at(index, uuid, shard)
        return copy

    # -- messages from other nodes and the master ------------------------------------------
    def handle_message(self, src: str, kind: str, body: dict) -> dict | Awaitable[dict]:
        """Answer one transport request; errors travel back as Elasticsearch error bodies.
        What needs no waiting (a replica applying an operation, a get) is answered at once;
        the rest returns a coroutine."""
        try:
            if kind == "replicate":
                return self.replica_apply(body)
            if kind == "replicate_bulk":
                return self.replica_apply_bulk(body)
            if kind == "get":
                return {"doc": self.local_get(body)}
            if kind == "stats":
                return self.stats_message(body)
            if kind == "recovery":
                return self.apply_recovery(body)
        except ElasticsearchError as exc:
            return exc.body()
        if kind in ("forward", "forward_bulk", "recover", "cluster_state"):
            return self._handle_later(kind, body)
        raise ElasticsearchError(f"unknown message kind [{kind}]", status=400,
                                 type="illegal_argument_exception")

    async def _handle_later(self, kind: str, body: dict) -> dict:
        try:
            if kind == "forward":
                return (await self.primary_write(DocWrite.from_wire(body))).to_wire()
            if kind == "forward_bulk":
                return {"items": await self.primary_write(ShardBulk.from_wire(body))}
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
        if op == "search":
            return {"done": self.search_local(body["copies"], body["query"],
                                              body.get("live", False))}
        return {"counts": self.local_counts()}

    # -- refresh and search counts ---------------------------------------------------------
    def refresh_local(self, copies: list) -> list[list]:
        """Refresh the listed [index, shard] copies held here; answer those refreshed."""
        done = []
        for index, shard in copies:
            copy = self.copies.get((index, shard))
            if copy is not None:
                copy.refresh()
                self.recorder.record("refresh", index=index, shard=shard)
                done.append([index, shard])
        return done

    def search_local(self, copies: list, query: dict, live: bool = False) -> list[list]:
        """[index, shard, hits] of a query on what each listed copy here made searchable
        (`live`: on every document it holds, for the mappings `GET /{index}` infers)."""
        now = self.clock()
        matches = compile_query(query, p=self.profile)
        out = []
        for index, shard in copies:
            copy = self.copies.get((index, shard))
            if copy is None:
                continue
            hits = []
            view = {u: d for u, d in copy.docs.items() if not d.deleted} if live \
                else copy.search_view(now)
            for uid, doc in view.items():
                doc_type, _, doc_id = uid.rpartition("#") if self.typed_uids() else ("", "", uid)
                score = matches(doc_id, doc.source)
                if score is not None:
                    hits.append({"_id": doc_id, "_type": doc_type or None, "_score": score,
                                 "_version": doc.version, "_seq_no": doc.seq_no,
                                 "_primary_term": doc.term, "_routing": doc.routing,
                                 "_source": doc.source})
            if self.recorder.enabled and not live:
                self.recorder.record("search", index=index, shard=shard, hits=len(hits),
                                     docs=[[h["_id"], h["_version"], h["_seq_no"]]
                                           for h in hits])
            out.append([index, shard, hits])
        return out

    async def on_copies(self, op: str, targets: dict[str, list],
                        **extra: object) -> dict[str, list | Exception]:
        """Run a refresh or search on the copies each node holds, here or over the transport."""
        local = {"refresh": self.refresh_local, "search": self.search_local}[op]
        results: dict[str, list | Exception] = {}
        remote = [n for n in targets if n != self.name]
        if self.name in targets:
            try:
                results[self.name] = local(targets[self.name], **extra)
            except ElasticsearchError as exc:
                results[self.name] = exc
        replies = await asyncio.gather(
            *(self._ask(n, "stats", {"op": op, "copies": targets[n], **extra}, timeout=30.0)
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
        for holder, result in (await self.on_copies("refresh", targets)).items():
            if isinstance(result, Exception):
                failures.extend(_copy_failure(index, shard, holder, result)
                                for index, shard in targets[holder])
            else:
                successful += len(result)
        return {"total": total, "successful": successful, "failed": len(failures),
                "failures": failures}

    def _schedule_refresh(self, copy: ShardCopy, meta: dict) -> None:
        """Refresh every `index.refresh_interval` (default 1s, `-1` never); from 7.0 a shard
        with no explicit interval goes search-idle after 30s without searches."""
        interval = meta.get("refresh_interval")
        idle = SEARCH_IDLE_AFTER if self.profile.search_idle and interval is None else None
        copy.schedule_refresh(self.clock(), REFRESH_INTERVAL if interval is None
                              else None if interval < 0 else max(interval, 0.001), idle)

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
                        "active": self.name not in routing["initializing"], "docs": docs})
        return out


async def _either(a: asyncio.Future, b: asyncio.Future) -> None:
    """Wait until one of two futures is done (`asyncio.wait` FIRST_COMPLETED, for two)."""
    either = asyncio.get_running_loop().create_future()

    def done(_: asyncio.Future) -> None:
        if not either.done():
            either.set_result(None)

    a.add_done_callback(done)
    b.add_done_callback(done)
    try:
        await either
    finally:
        a.remove_done_callback(done)
        b.remove_done_callback(done)


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


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, ElasticsearchError) else str(exc)


def _fmt_time(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{int(seconds * 1000)}ms"

