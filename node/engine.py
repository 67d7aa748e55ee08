"""The shard engine: one shard copy's documents and the OCC decisions made on them.

Plain Python, no I/O and no clock of its own: every method that needs time takes `now`
(seconds). A `ShardCopy` is either the primary, which checks a write's condition and resolves it
into an `Operation` (version, seq_no, primary term), or a replica, which applies a resolved
operation only if it is newer than what the copy holds and otherwise reports a discard:

* profile 5 compares versions with the operation's replication version type (reference §5.3);
* profiles 6+ compare seq_no and remember which seq_nos were processed (reference §5.4).

A copy made with `apply_all` is the counterfactual Elasticsearch must not be: its replica path
applies every operation as it arrives, with no comparison at all (for teaching, `--replica-rule`).

Deletes leave tombstones that count for `gc_deletes` seconds (reference §4).

A write, its operation and their results are made on every copy for every write and never
changed after: plain slotted dataclasses (a frozen one's `__init__` costs five times as much),
made with positional arguments where every write makes them (keywords to a class cost a dict).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from occsim.node.errors import StaleTerm, VersionConflict
from occsim.node.versioning import (
    MATCH_ANY,
    MATCH_DELETED,
    NOT_FOUND,
    VERSION_TYPES,
    VersionType,
    conflicts_for_reads,
    conflicts_for_writes,
    explain_cas_conflict,
    explain_read_conflict,
    explain_write_conflict,
    new_version,
)
from occsim.transport.recorder import digest

INDEX = "index"
DELETE = "delete"


@dataclass(slots=True)
class Doc:
    """What a copy holds for one document id; `source is None` makes it a tombstone."""

    version: int
    seq_no: int
    term: int
    source: dict | None
    deleted_at: float = 0.0
    routing: str | None = None  # the custom routing it was indexed with (GET's `_routing`)

    @property
    def deleted(self) -> bool:
        return self.source is None

    @property
    def digest(self) -> str:
        return digest(self.source)


@dataclass(slots=True)
class Write:
    """A write as the primary receives it. `uid` keys the document inside the shard."""

    uid: str
    op: str  # INDEX or DELETE
    source: dict | None = None
    version: int = MATCH_ANY
    version_type: VersionType = VersionType.INTERNAL
    if_seq_no: int | None = None
    if_primary_term: int | None = None
    create: bool = False
    routing: str | None = None


@dataclass(slots=True)
class Operation:
    """A resolved write: what the primary applied and every replica receives."""

    uid: str
    op: str
    version: int
    seq_no: int
    term: int
    source: dict | None
    version_type: VersionType  # the replication version type (profile 5 replicas use it)
    routing: str | None = None

    def to_wire(self) -> dict:
        wire = {"uid": self.uid, "op": self.op, "version": self.version, "seq_no": self.seq_no,
                "term": self.term, "source": self.source, "vt": self.version_type.value}
        if self.routing is not None:
            wire["routing"] = self.routing
        return wire

    @classmethod
    def from_wire(cls, d: dict) -> Operation:
        return cls(d["uid"], d["op"], d["version"], d["seq_no"], d["term"], d["source"],
                   VERSION_TYPES[d["vt"]], d.get("routing"))


@dataclass(slots=True)
class WriteResult:
    operation: Operation
    result: str  # created, updated, deleted, not_found


@dataclass(slots=True)
class ReplicaResult:
    """What a replica did with an operation: applied, or kept what it held."""

    applied: bool
    held_version: int | None = None
    held_seq_no: int | None = None


class ShardCopy:
    """One copy (primary or replica) of one shard."""

    def __init__(
        self, *, term: int = 1, gc_deletes: float = 60.0, order_by_seq_no: bool = True,
        allocation_id: str | None = None, apply_all: bool = False,
    ) -> None:
        self.apply_all = apply_all  # the counterfactual rule: a replica applies every operation
        self.allocation_id = allocation_id  # which copy this is, as the master allocated it
        self.term = term
        self.gc_deletes = gc_deletes
        self.order_by_seq_no = order_by_seq_no
        self.docs: dict[str, Doc] = {}
        self.max_seq_no = -1
        self.local_checkpoint = -1
        self._processed_above_checkpoint: set[int] = set()
        self._next_prune = 0.0
        # What search sees: the live docs as of the last refresh (Lucene's refreshed reader).
        self.searchable: dict[str, Doc] = {}
        self.refresh_interval: float | None = None  # None: refresh only when asked
        self.search_idle_after: float | None = None  # 7.0+: idle shards skip scheduled refreshes
        self._next_refresh = 0.0
        self._last_search = 0.0

    # -- reading ---------------------------------------------------------------------------
    def _current(self, uid: str, now: float) -> Doc | None:
        """The live doc or an unexpired tombstone; an expired tombstone counts as absent."""
        doc = self.docs.get(uid)
        if doc is not None and doc.deleted and now - doc.deleted_at > self.gc_deletes:
            return None
        return doc

    def get(
        self, uid: str, now: float, version: int = MATCH_ANY,
        version_type: VersionType = VersionType.INTERNAL, *, realtime: bool = True,
    ) -> Doc | None:
        """The document (realtime: the latest write; else as of the last refresh), or None.
        A version mismatch on a live doc is a 409."""
        if realtime:
            doc = self.docs.get(uid)
        else:
            self._scheduled_refresh(now)
            doc = self.searchable.get(uid)
        if doc is None or doc.deleted:
            return None
        if conflicts_for_reads(version_type, doc.version, version):
            raise VersionConflict(explain_read_conflict(doc.version, version))
        return doc

    # -- the primary path ------------------------------------------------------------------
    def write(self, w: Write, now: float, *, says_not_found: bool = True) -> WriteResult:
        """Check the write's condition, resolve it, apply it. Raises VersionConflict."""
        current_doc = self._current(w.uid, now)
        current = current_doc.version if current_doc else NOT_FOUND
        deleted = current_doc is None or current_doc.deleted
        expected = MATCH_DELETED if w.create else w.version
        if w.if_seq_no is not None:
            if current_doc is None or (current_doc.seq_no, current_doc.term) != (
                w.if_seq_no, w.if_primary_term
            ):
                held = None if current_doc is None else (current_doc.seq_no, current_doc.term)
                raise VersionConflict(explain_cas_conflict(w.if_seq_no, w.if_primary_term, held))
        elif conflicts_for_writes(w.version_type, current, expected, deleted):
            raise VersionConflict(
                explain_write_conflict(w.version_type, current, expected,
                                       says_not_found=says_not_found)
            )
        index = w.op == INDEX
        op = Operation(w.uid, w.op, new_version(w.version_type, current, expected),
                       self.max_seq_no + 1, self.term, w.source if index else None,
                       w.version_type.for_replication(), w.routing if index else None)
        self._store(op, now)
        self._mark_processed(op.seq_no)
        if index:
            result = "created" if deleted else "updated"
        else:
            result = "not_found" if deleted else "deleted"
        return WriteResult(op, result)

    # -- the replica path ------------------------------------------------------------------
    def replicate(self, op: Operation, now: float) -> ReplicaResult:
        """Apply a resolved operation if it is newer than what this copy holds.

        Raises StaleTerm for an operation of an older primary term; adopts a newer term.
        """
        self._check_term(op.term)
        return self._apply_if_newer(op, now)

    def _check_term(self, term: int) -> None:
        if term < self.term:
            raise StaleTerm(f"operation primary term [{term}] is too old (current [{self.term}])")
        self.term = term

    def _apply_if_newer(self, op: Operation, now: float) -> ReplicaResult:
        held = self._current(op.uid, now)
        if self.order_by_seq_no:
            stale = self._was_processed(op.seq_no) or (held is not None and op.seq_no <= held.seq_no)
            self._mark_processed(op.seq_no)
        else:
            current = held.version if held else NOT_FOUND
            deleted = held is None or held.deleted
            stale = conflicts_for_writes(op.version_type, current, op.version, deleted)
        if stale and not self.apply_all:
            return ReplicaResult(
                False,
                held_version=held.version if held else None,
                held_seq_no=held.seq_no if held else None,
            )
        self._store(op, now)
        return ReplicaResult(True)

    # -- recovery --------------------------------------------------------------------------
    def export(self) -> list[Operation]:
        """Every document and tombstone as the operation that produced it (for recovery)."""
        return [Operation(uid, DELETE if d.deleted else INDEX, d.version, d.seq_no, d.term,
                          d.source, VersionType.EXTERNAL, d.routing)
                for uid, d in self.docs.items()]

    def recover(self, ops: list[Operation], *, primary_term: int, checkpoint: int,
                now: float, reset: bool) -> None:
        """Catch up from a primary's copy.

        A new copy applies each operation if newer (live writes may already have arrived).
        After a promotion (`reset`), the copy becomes the new primary's history exactly: what it
        holds from older terms that the new primary lacks is gone, and every sequence number
        the new primary has not used is free again, so its next operations are never taken for
        ones already seen (Elasticsearch's primary-replica resync, reference §5.5). The new
        primary sends no operation of its term before this, so nothing newer is lost.
        """
        self._check_term(primary_term)
        if reset:
            self.docs = {}
            for op in ops:
                self._store(op, now)
            self.max_seq_no = max([checkpoint, *(d.seq_no for d in self.docs.values())])
            self.local_checkpoint = checkpoint
            self._processed_above_checkpoint = set()
            return
        for op in ops:
            self._apply_if_newer(op, now)
        if checkpoint > self.local_checkpoint:
            self.local_checkpoint = checkpoint
            self._processed_above_checkpoint = {
                s for s in self._processed_above_checkpoint if s > checkpoint}
        self._mark_processed(self.local_checkpoint)

    def fill_gaps(self) -> None:
        """As a newly promoted primary: mark every sequence number up to the highest one held
        as processed (Elasticsearch fills the gaps with no-ops), so the local checkpoint is
        the history the resync hands to the replicas."""
        self.local_checkpoint = max(self.local_checkpoint, self.max_seq_no)
        self._processed_above_checkpoint = set()

    # -- bookkeeping -----------------------------------------------------------------------
    def _store(self, op: Operation, now: float) -> None:
        self._scheduled_refresh(now)  # a refresh due before this change sees the state before it
        self.docs[op.uid] = Doc(op.version, op.seq_no, op.term, op.source,
                                now if op.op == DELETE else 0.0, op.routing)
        if op.seq_no > self.max_seq_no:
            self.max_seq_no = op.seq_no
        if op.op == DELETE and now >= self._next_prune:
            self.prune_tombstones(now)

    def _was_processed(self, seq_no: int) -> bool:
        return seq_no <= self.local_checkpoint or seq_no in self._processed_above_checkpoint

    def _mark_processed(self, seq_no: int) -> None:
        pending = self._processed_above_checkpoint
        pending.add(seq_no)
        while self.local_checkpoint + 1 in pending:
            self.local_checkpoint += 1
            pending.discard(self.local_checkpoint)

    def prune_tombstones(self, now: float) -> None:
        """Forget tombstones older than gc_deletes (and, by seq_no, only below the checkpoint)."""
        self._next_prune = now + self.gc_deletes / 4
        expired = [
            uid for uid, d in self.docs.items()
            if d.deleted and now - d.deleted_at > self.gc_deletes
            and (not self.order_by_seq_no or d.seq_no <= self.local_checkpoint)
        ]
        for uid in expired:
            del self.docs[uid]

    # -- search visibility (refresh) -------------------------------------------------------
    def refresh(self) -> None:
        """Make every live document visible to search, as a Lucene refresh does."""
        self.searchable = {uid: d for uid, d in self.docs.items() if not d.deleted}

    def schedule_refresh(self, now: float, interval: float | None,
                         search_idle_after: float | None = None) -> None:
        """Refresh every `interval` seconds from `now` (`index.refresh_interval`; None: `-1`,
        only when asked).

        With `search_idle_after`, a scheduled refresh is skipped while no search has come for
        that long, and the next search refreshes first (7.0+ search-idle shards).
        """
        self.refresh_interval = interval
        self.search_idle_after = search_idle_after
        self._next_refresh = now + (interval or 0.0)
        self._last_search = now

    def _scheduled_refresh(self, now: float) -> None:
        """Run the scheduled refreshes due by `now`, lazily: the documents have not changed since
        the last operation, so one refresh now equals the first one that was due."""
        interval = self.refresh_interval
        if interval is None or now < self._next_refresh:
            return
        due = self._next_refresh
        idle = self.search_idle_after
        if idle is None or due - self._last_search < idle:
            self.refresh()
        self._next_refresh = due + (math.floor((now - due) / interval) + 1) * interval

    def search_view(self, now: float) -> dict[str, Doc]:
        """The live documents a search of this copy sees: only what a refresh made visible."""
        self._scheduled_refresh(now)
        idle = self.search_idle_after
        if idle is not None and now - self._last_search >= idle:
            self.refresh()  # a search on a search-idle shard waits for a refresh
        self._last_search = now
        return self.searchable

    def live_count(self) -> int:
        return sum(1 for d in self.docs.values() if not d.deleted)

    def snapshot(self) -> list[dict]:
        """Every document and tombstone, for a trace's final `state` event."""
        return [
            {"id": uid, "version": d.version, "seq_no": d.seq_no, "term": d.term,
             "digest": d.digest, "deleted": d.deleted}
            for uid, d in sorted(self.docs.items())
        ]
