"""Pure verification of a trace: the replication and OCC invariants a run must keep.

This module owns the invariants (`INVARIANTS`), the `Violation` record and the two entry points
`check(events, profile=...)` and `format_report(violations)`. It reads the event vocabulary of
`cluster.trace` and nothing else: no I/O, no clocks, no randomness. The invariants come from the
formal models and the OCC rules (shared/reference/es-semantics.md §5, §6.4):

    convergence         every active copy holds, per document, what applying the document's
                        operations in order gives (seq_no order; profile 5: the primary's order)
    acked_durability    every acknowledged write is on every active copy, or superseded there;
                        and, with no excuse, on at least one active copy at the end of the run
    single_primary      at most one primary per shard and primary term
    term_fencing        no copy applies an operation of an older term than one it knows, and no
                        write is acknowledged after a newer primary term was promoted (unless
                        the promoted copy had applied it before its promotion)
    version_monotonic   successful writes raise a document's version (external types: their rules),
                        and an internal version a client saw (acknowledged, or read by a GET)
                        never names a different change later (a failover may reuse it)
    conditional_writes  a successful if_seq_no/if_primary_term or version-conditional write saw
                        exactly the state it asked for; a 409 changed nothing
    availability        no shard ends without a primary while a node holding one of its in-sync
                        copies is in the cluster (reference §5.7)
    search_visibility   a search hit is a version some primary wrote before the search (a copy's
                        refreshed view may lag, but never shows what was not written)

The checker is conservative: where the trace cannot prove a rule was broken (lost events of a
killed node, operations of a superseded term that were never acknowledged, copies that were
failed, restarted or never joined a newer term) it reports nothing. One pass builds an index of
operations; each check is then roughly linear in the trace.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from occsim.cluster.trace.events import MESSAGE_KINDS

INVARIANTS = ("convergence", "acked_durability", "single_primary", "term_fencing",
              "version_monotonic", "conditional_writes", "availability", "search_visibility")


@dataclass(frozen=True)
class Violation:
    """One broken invariant, explained in one sentence, with the events that show it."""

    invariant: str              # one of INVARIANTS
    message: str                # one sentence a student can read
    events: tuple[dict, ...]    # the events that show it, in trace order


# ----------------------------------------------------------------------------------------------
# small field helpers

_ACK_RESULTS = ("created", "updated", "deleted")
_MANAGER = "manager"


def _int(value) -> int | None:
    return value if type(value) is int else None  # not a bool, which is an int too


def _seq(value) -> int | None:
    """A real sequence number (>= 0), else None (absent or UNASSIGNED)."""
    value = _int(value)
    return value if value is not None and value >= 0 else None


def _term(value) -> int | None:
    """A real primary term (>= 1), else None."""
    value = _int(value)
    return value if value is not None and value >= 1 else None


def _subject(event: dict) -> str | None:
    """The node an event is about: its recorder, unless the manager recorded it for a target."""
    node = event.get("node")
    if node == _MANAGER and isinstance(event.get("target"), str):
        return event["target"]
    return node


def _op_kind(event: dict) -> str:
    op = event.get("op")
    if op in ("index", "delete"):
        return op
    return "delete" if event.get("result") in ("deleted", "not_found") else "index"


def _live(doc: dict | None) -> bool:
    return doc is not None and not doc.get("deleted")


_UNLINKABLE: list = []  # _find's answer for a witness that names no operation (never mutated)


def _shard_label(index, shard) -> str:
    return f"{index}[{shard}]"


# ----------------------------------------------------------------------------------------------
# operations: what the primaries resolved, joined with everything that witnessed them


class _Op:
    """One resolved operation, from its primary_write or, if that was lost, from a witness."""

    __slots__ = ("index", "shard", "doc", "op", "version", "seq_no", "term", "digest", "pos",
                 "event", "write", "acks", "receipts", "rank")

    def __init__(self, event: dict, pos: int, kind: str) -> None:
        self.index = event.get("index")
        self.shard = event.get("shard")
        self.doc = event.get("doc")
        self.op = kind
        self.version = _int(event.get("version"))
        self.seq_no = _seq(event.get("seq_no"))
        self.term = _term(event.get("term"))
        self.digest = event.get("digest") if kind == "index" else None
        self.pos = pos                          # trace position of the write (or first witness)
        self.event = event                      # the event that defines it
        self.write: dict | None = None          # its primary_write, when recorded
        self.acks: list[tuple[int, dict]] = []  # acknowledging responses
        self.receipts: dict[str, list[tuple[int, dict]]] = {}  # node -> apply/discard there
        self.rank: tuple = ()

    @property
    def writer(self) -> str | None:
        return self.write.get("node") if self.write is not None else None

    @property
    def ack_pos(self) -> int | None:
        return self.acks[0][0] if self.acks else None


def _matches(doc: dict | None, op: _Op, seq_mode: bool) -> bool:
    """Does a copy's document state reflect this operation (version, seq_no, digest, deleted)?"""
    if op.op == "delete":
        return not _live(doc)
    if not _live(doc):
        return False
    if op.version is not None and _int(doc.get("version")) != op.version:
        return False
    if seq_mode and op.seq_no is not None:
        held = _seq(doc.get("seq_no"))
        if held is not None and held != op.seq_no:
            return False
    held_digest = doc.get("digest")
    if op.digest is not None and held_digest is not None and held_digest != op.digest:
        return False
    return True


class _Trace:
    """Everything the checks need, indexed once."""

    def __init__(self, events: Sequence[dict], profile: int) -> None:
        self.events = list(events)
        self.profile = profile
        self.seq_mode = profile >= 6

        self.ops_by_seq: dict[tuple, list[_Op]] = defaultdict(list)      # (index, doc, seq_no)
        self.ops_by_version: dict[tuple, list[_Op]] = defaultdict(list)  # (index, doc, version)
        self.ops_by_doc: dict[tuple, list[_Op]] = defaultdict(list)      # (index, shard, doc)
        self.writes_by_msg: dict[str, list[_Op]] = defaultdict(list)
        self.writes: list[_Op] = []
        self.requests_by_msg: dict[str, dict] = {}
        self.node_marks: dict[str, list[tuple[int, str, dict]]] = defaultdict(list)
        self.abrupt_nodes: set[str] = set()
        self.promotes: dict[tuple, list[tuple[int, int, dict]]] = defaultdict(list)
        self.max_promote_term: dict[tuple, int] = {}
        self.term_evidence: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
        self.failed_at: dict[tuple, list[int]] = defaultdict(list)   # (node, index, shard)
        self.promoted_at: dict[tuple, list[int]] = defaultdict(list)  # (node, index, shard)
        self.states: list[tuple[int, dict]] = []
        self.routings: list[tuple[int, dict]] = []  # each shard's routing at the end
        self.acks: list[tuple[int, dict, _Op | None]] = []
        self.conflicts: list[tuple[int, dict]] = []
        self.duplicates: list[dict] = []
        self.noop_positions: dict[str, list[int]] = defaultdict(list)  # index -> noop answers
        self.reads: dict[tuple, list[tuple[int, dict]]] = defaultdict(list)  # (index, doc) -> GETs
        self._candidates: dict[tuple, list[_Op]] = {}  # _link's answers, by fields as recorded
        self._searches: dict[tuple, list[_Op]] = {}  # _find's answers, by fields as understood
        self.term_events: list[dict] = []  # writes, promotes, applies, rejects, node_downs
        self._build()

    # -- building ------------------------------------------------------------------------------

    def _build(self) -> None:
        witnesses: list[tuple[int, dict]] = []
        responses: list[tuple[int, dict]] = []
        writer_term: dict[tuple, int] = {}  # (node, index, shard) -> term of its last write
        for pos, ev in enumerate(self.events):
            kind = ev.get("kind")
            if kind in MESSAGE_KINDS:  # the most common kinds first
                if ev.get("mkind") == "replicate":
                    witnesses.append((pos, ev))
                if kind == "duplicate":
                    self.duplicates.append(ev)
            elif kind in ("apply", "discard", "reject"):
                witnesses.append((pos, ev))
                if kind != "discard":
                    self.term_events.append(ev)
                term = _term(ev.get("term"))
                if kind != "reject" and term is not None:
                    self.term_evidence[(ev.get("node"), ev.get("index"), ev.get("shard"))].append(
                        (pos, term))
            elif kind == "primary_write":
                self.term_events.append(ev)
                if ev.get("result") != "noop":
                    self._add_write(ev, pos)
                node, term = ev.get("node"), _term(ev.get("term"))
                if term is not None:
                    self.term_evidence[(node, ev.get("index"), ev.get("shard"))].append((pos, term))
                    writer_term[(node, ev.get("index"), ev.get("shard"))] = term
            elif kind == "response":
                responses.append((pos, ev))
                if ev.get("result") == "noop":
                    self.noop_positions[ev.get("index")].append(pos)
                if (str(ev.get("method") or "").upper() == "GET" and ev.get("status") == 200
                        and _int(ev.get("version")) is not None):
                    self.reads[(ev.get("index"), ev.get("doc"))].append((pos, ev))
            elif kind == "client_request":
                if ev.get("msg") is not None:
                    self.requests_by_msg.setdefault(ev["msg"], ev)
            elif kind in ("node_up", "node_down"):
                if kind == "node_down":
                    self.term_events.append(ev)
                node = _subject(ev)
                self.node_marks[node].append((pos, kind, ev))
                if kind == "node_down" and ev.get("abrupt"):
                    self.abrupt_nodes.add(node)
            elif kind == "promote":
                self.term_events.append(ev)
                shard_key = (ev.get("index"), ev.get("shard"))
                term = _term(ev.get("term"))
                if term is not None:
                    self.promotes[shard_key].append((pos, term, ev))
                    self.max_promote_term[shard_key] = max(
                        term, self.max_promote_term.get(shard_key, 0))
                node = _subject(ev)
                if node != _MANAGER:
                    self.promoted_at[(node, *shard_key)].append(pos)
                    if term is not None:
                        self.term_evidence[(node, *shard_key)].append((pos, term))
            elif kind == "replica_failed":
                # a primary whose term was superseded cannot fail a copy (the master refuses)
                shard_key = (ev.get("index"), ev.get("shard"))
                reporter_term = writer_term.get((ev.get("node"), *shard_key))
                if reporter_term is None or (
                        self.max_promote_term.get(shard_key, 0) <= reporter_term):
                    self.failed_at[(ev.get("dst"), *shard_key)].append(pos)
            elif kind == "conflict":
                self.conflicts.append((pos, ev))
            elif kind == "state":
                self.states.append((pos, ev))
            elif kind == "routing":
                self.routings.append((pos, ev))

        for pos, ev in witnesses:
            op = self._link(ev, pos)
            if op is not None and ev.get("kind") in ("apply", "discard"):
                op.receipts.setdefault(ev.get("node"), []).append((pos, ev))
        for pos, ev in responses:
            if self._is_ack(ev):
                op = self._link_response(ev, pos)
                if op is not None:
                    op.acks.append((pos, ev))
                self.acks.append((pos, ev, op))

        for ops in self.ops_by_doc.values():
            for op in ops:
                op.rank = self._rank(op)
            ops.sort(key=lambda o: o.rank)

    def _rank(self, op: _Op) -> tuple:
        if self.seq_mode:
            return (op.seq_no if op.seq_no is not None else -1, op.term or 0, op.pos)
        return (op.pos,)

    def _register(self, op: _Op) -> None:
        if op.seq_no is not None:
            self.ops_by_seq[(op.index, op.doc, op.seq_no)].append(op)
        if op.version is not None:
            self.ops_by_version[(op.index, op.doc, op.version)].append(op)
        self.ops_by_doc[(op.index, op.shard, op.doc)].append(op)

    def _add_write(self, ev: dict, pos: int) -> None:
        if ev.get("index") is None or ev.get("doc") is None:
            return
        op = _Op(ev, pos, _op_kind(ev))
        op.write = ev
        self._register(op)
        self.writes.append(op)
        if ev.get("msg") is not None:
            self.writes_by_msg[ev["msg"]].append(op)

    def _link(self, ev: dict, pos: int) -> _Op | None:
        """The operation a witness event carries; a new (witness-only) one if none is known.
        The several witnesses of one operation (its sends, deliveries, applies) carry the same
        fields, so they share one search, cached under those fields as recorded."""
        get = ev.get
        key = (get("index"), get("doc"), get("op"), get("result"), get("shard"), get("term"),
               get("seq_no"), get("version"))
        candidates = self._candidates.get(key)
        if candidates is None:
            candidates = self._candidates[key] = self._find(ev)
        if candidates is _UNLINKABLE:
            return None
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            before = [op for op in candidates if op.pos <= pos]
            return before[-1] if before else candidates[0]
        op = _Op(ev, pos, _op_kind(ev))
        self._register(op)
        self._candidates.clear()  # the new operation may be a candidate for other witnesses
        self._searches.clear()
        return op

    def _find(self, ev: dict) -> list[_Op]:
        """The known operations a witness may carry, or _UNLINKABLE when it names none."""
        index, doc = ev.get("index"), ev.get("doc")
        seq, version = _seq(ev.get("seq_no")), _int(ev.get("version"))
        if index is None or doc is None or (seq is None and version is None):
            return _UNLINKABLE
        kind, shard, term = _op_kind(ev), ev.get("shard"), _term(ev.get("term"))
        key = (index, doc, kind, shard, term, seq, version)
        found = self._searches.get(key)
        if found is not None:
            return found

        def fits(op: _Op) -> bool:
            return (op.op == kind
                    and (term is None or op.term is None or op.term == term)
                    and (shard is None or op.shard is None or op.shard == shard)
                    and (version is None or op.version is None or op.version == version))

        if seq is not None:
            found = [op for op in self.ops_by_seq.get((index, doc, seq), ()) if fits(op)]
        else:
            found = [op for op in self.ops_by_version.get((index, doc, version), ()) if fits(op)]
        self._searches[key] = found
        return found

    def _is_ack(self, ev: dict) -> bool:
        if ev.get("index") is None or ev.get("doc") is None:
            return False
        status, result = ev.get("status"), ev.get("result")
        if status in (200, 201) and result in _ACK_RESULTS:
            return True
        if status == 404 and result == "not_found":
            request = self.requests_by_msg.get(ev.get("msg")) or {}
            method = ev.get("method") or request.get("method") or ""
            return str(method).upper() == "DELETE"
        return False

    def _link_response(self, ev: dict, pos: int) -> _Op | None:
        version, seq = _int(ev.get("version")), _seq(ev.get("seq_no"))
        same_msg = [op for op in self.writes_by_msg.get(ev.get("msg"), ())
                    if op.index == ev.get("index") and op.doc == ev.get("doc")
                    and (version is None or op.version == version)
                    and (seq is None or op.seq_no is None or op.seq_no == seq)
                    and op.pos <= pos]
        if same_msg:
            return same_msg[-1]
        return self._link(ev, pos)

    # -- queries -------------------------------------------------------------------------------

    def fenced(self, op: _Op) -> bool:
        """Was the op's term superseded by a promotion of a newer term for its shard?"""
        if op.term is None:
            return False
        return self.max_promote_term.get((op.index, op.shard), 0) > op.term

    def stale_write(self, op: _Op) -> bool:
        """Written by a primary after a newer term was promoted for its shard, and never
        acknowledged: it checked its condition against its own, superseded history (a
        partitioned or paused old primary), which the other copies' order does not show."""
        if op.acks or op.term is None:
            return False
        return any(p < op.pos and t > op.term
                   for p, t, _ in self.promotes.get((op.index, op.shard), ()))

    def globally_required(self, op: _Op) -> bool:
        """Must every history keep this op? Acknowledged, or written and never fenced."""
        return bool(op.acks) or (op.write is not None and not self.fenced(op))

    def node_status(self, node: str, pos: int) -> tuple[bool, int, bool]:
        """(up at pos, restart boundary, abruptly killed before pos) for a node."""
        marks = self.node_marks.get(node, ())
        up, boundary, killed, went_down = True, -1, False, False
        for mark_pos, kind, ev in marks:
            if mark_pos >= pos:
                break
            if kind == "node_down":
                up, went_down = False, True
                killed = killed or bool(ev.get("abrupt"))
            else:
                up = True
                if went_down:
                    boundary = mark_pos
        return up, boundary, killed

    def failed_copy(self, node: str, index, shard, pos: int) -> bool:
        """Was this copy failed by its primary (and not promoted since) before pos?"""
        failures = [p for p in self.failed_at.get((node, index, shard), ()) if p < pos]
        if not failures:
            return False
        last = failures[-1]
        return not any(last < p < pos for p in self.promoted_at.get((node, index, shard), ()))

    @cached_property
    def pos_of(self) -> dict[int, int]:
        """Trace position by event identity (built when a violation needs ordering)."""
        return {id(ev): i for i, ev in enumerate(self.events)}

    def event_pos(self, ev: dict) -> int:
        return self.pos_of.get(id(ev), -1)

    def ordered(self, *events: dict | None) -> tuple[dict, ...]:
        """Distinct events, in trace order."""
        seen: dict[int, dict] = {}
        for ev in events:
            if ev is not None:
                seen.setdefault(id(ev), ev)
        return tuple(sorted(seen.values(), key=self.event_pos))


# ----------------------------------------------------------------------------------------------
# descriptions used in messages


def _describe_op(op: _Op, seq_mode: bool) -> str:
    parts = [f"version {op.version}"]
    if seq_mode and op.seq_no is not None:
        parts.append(f"seq_no {op.seq_no}")
        if op.term is not None:
            parts.append(f"term {op.term}")
    if op.op == "delete":
        return f"a delete ({', '.join(parts)})"
    return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


def _describe_doc(doc: dict | None, seq_mode: bool) -> str:
    if doc is None:
        return "no document"
    if doc.get("deleted"):
        return "a delete tombstone"
    text = f"version {doc.get('version')}"
    if seq_mode and doc.get("seq_no") is not None:
        text += f" (seq_no {doc.get('seq_no')})"
    return text


# ----------------------------------------------------------------------------------------------
# the checks


def _check_copies(tr: _Trace) -> tuple[list[Violation], list[Violation]]:
    """convergence and acked_durability, per active copy and document."""
    convergence: list[Violation] = []
    durability: list[Violation] = []
    seq_mode = tr.seq_mode
    order = "seq_no" if seq_mode else "the primary's"

    # the last state event per copy wins
    copies: dict[tuple, tuple[int, dict]] = {}
    for pos, ev in tr.states:
        copies[(ev.get("node"), ev.get("index"), ev.get("shard"))] = (pos, ev)

    for (node, index, shard), (spos, state) in sorted(copies.items(), key=lambda kv: kv[1][0]):
        up, boundary, killed = tr.node_status(node, spos)
        if not up or tr.failed_copy(node, index, shard, spos):
            continue
        docs = _held_docs(state)

        evidence = [(p, t) for p, t in tr.term_evidence.get((node, index, shard), ())
                    if boundary < p]
        ev_pos = [p for p, _ in evidence]
        ev_max: list[int] = []
        for _, t in evidence:
            ev_max.append(max(t, ev_max[-1]) if ev_max else t)

        def knows(term: int | None, before: int) -> bool:
            """Had this copy joined `term` (or a newer one) before `before`?"""
            if term is None or term <= 1:
                return True
            i = bisect.bisect_left(ev_pos, before) - 1
            return i >= 0 and ev_max[i] >= term

        def received(op: _Op) -> dict | None:
            for p, ev in op.receipts.get(node, ()):
                if p > boundary:
                    return ev
            return None

        def required(op: _Op) -> bool:
            own = op.writer == node and op.pos > boundary
            if own or received(op) is not None:
                return bool(op.acks) or not tr.fenced(op)
            if op.acks:
                return op.pos > boundary and knows(op.term, op.ack_pos)
            return False

        doc_ids = set(docs)
        doc_ids.update(d for (i, s, d) in tr.ops_by_doc if i == index and s == shard)
        for doc_id in sorted(doc_ids, key=str):
            held = docs.get(doc_id)
            ops = tr.ops_by_doc.get((index, shard, doc_id), [])
            needed = [op for op in ops if required(op)]
            # the highest-ranked known operation this copy's state reflects
            best: _Op | None = None
            for op in ops:
                if _matches(held, op, seq_mode):
                    best = op
            explained = best is not None or not _live(held)
            tolerate_unknown = killed and not explained
            held_seq = _seq(held.get("seq_no")) if held else None

            # acked_durability: the highest acknowledged write missing here
            lost: _Op | None = None
            for op in reversed(needed):
                if not op.acks:
                    continue
                if _matches(held, op, seq_mode):
                    continue
                if best is not None and best.rank > op.rank:
                    continue
                if (seq_mode and held is not None and held_seq is not None
                        and op.seq_no is not None and held_seq > op.seq_no):
                    continue
                if tolerate_unknown and (not seq_mode or held_seq is None):
                    continue
                lost = op
                break
            if lost is not None:
                ack_event = lost.acks[0][1]
                what = "delete" if lost.op == "delete" else "write"
                durability.append(Violation(
                    "acked_durability",
                    f"The acknowledged {what} of doc '{doc_id}' in {_shard_label(index, shard)} "
                    f"({_describe_op(lost, seq_mode)}) is missing from the copy on {node}, "
                    f"which holds {_describe_doc(held, seq_mode)}.",
                    tr.ordered(lost.write, ack_event, received(lost), state),
                ))
                continue

            # convergence
            final = needed[-1] if needed else None
            if final is None:
                if explained or tolerate_unknown:
                    continue
                convergence.append(Violation(
                    "convergence",
                    f"The copy of {_shard_label(index, shard)} on {node} holds doc '{doc_id}' "
                    f"as {_describe_doc(held, seq_mode)}, but no operation in the trace "
                    f"wrote that.",
                    tr.ordered(state),
                ))
                continue
            if _matches(held, final, seq_mode):
                continue
            if best is not None and best.rank > final.rank:
                continue
            if tolerate_unknown:
                final_seq = final.seq_no
                if not (seq_mode and held_seq is not None and final_seq is not None
                        and held_seq < final_seq):
                    continue
            convergence.append(Violation(
                "convergence",
                f"The copy of {_shard_label(index, shard)} on {node} holds doc '{doc_id}' as "
                f"{_describe_doc(held, seq_mode)}, but applying the document's operations in "
                f"{order} order gives {_describe_op(final, seq_mode)}.",
                tr.ordered(final.event, received(final),
                           best.event if best is not None else None, state),
            ))
    return convergence, durability


def _held_docs(state: dict) -> dict:
    """A state event's documents by id (its `docs` as a list of records, or a dict)."""
    raw = state.get("docs") or []
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    return {d.get("id"): d for d in raw if isinstance(d, dict)}


def _reflects(held: dict | None, op: _Op, later: list[_Op], seq_mode: bool) -> bool:
    """Does a copy's final state for a document hold `op`, or something that came after it?"""
    if _matches(held, op, seq_mode) or any(_matches(held, o, seq_mode) for o in later):
        return True
    if held is None:
        return False
    if seq_mode:
        mine = (_term(held.get("term")) or 0, _seq(held.get("seq_no")))
        return mine[1] is not None and op.seq_no is not None and mine > (op.term or 0, op.seq_no)
    version = _int(held.get("version"))
    return version is not None and op.version is not None and version > op.version


def _check_acked_survives(tr: _Trace, reported: set) -> list[Violation]:
    """acked_durability at the end, with no excuse: an acknowledged write (or one that came
    after it) must be on at least one active copy of its shard; a shard that ended with no
    active copy has lost everything acknowledged in it."""
    final: dict[tuple, list[tuple[dict, dict]]] = defaultdict(list)  # (index, shard) -> copies
    for _, state in tr.states:
        if state.get("active", True):
            final[(state.get("index"), state.get("shard"))].append((state, _held_docs(state)))
    found = []
    for (index, shard, doc_id), ops in tr.ops_by_doc.items():
        if (index, shard, doc_id) in reported:
            continue
        copies = final.get((index, shard), [])
        for i in range(len(ops) - 1, -1, -1):
            op = ops[i]
            if not op.acks:
                continue
            if any(_reflects(docs.get(doc_id), op, ops[i + 1:], tr.seq_mode)
                   for _, docs in copies):
                break  # a later acknowledged write cannot be held either unless this one is
            what = "delete" if op.op == "delete" else "write"
            where = (f"no active copy of {_shard_label(index, shard)} holds it at the end"
                     if copies else f"{_shard_label(index, shard)} ended with no active copy")
            found.append(Violation(
                "acked_durability",
                f"The acknowledged {what} of doc '{doc_id}' ({_describe_op(op, tr.seq_mode)}) "
                f"is lost: {where}.",
                tr.ordered(op.write, op.acks[0][1], *(state for state, _ in copies))))
            break
    return found


def _check_availability(tr: _Trace) -> list[Violation]:
    """A shard left red while one of its in-sync copies is back in the cluster."""
    found = []
    for _, ev in tr.routings:
        if ev.get("primary") is not None:
            continue
        present = [n for n in ev.get("in_sync") or () if n in (ev.get("members") or ())]
        if present:
            found.append(Violation(
                "availability",
                f"{_shard_label(ev.get('index'), ev.get('shard'))} ended without a primary "
                f"although {', '.join(present)}, holding an in-sync copy, is in the cluster.",
                (ev,)))
    return found


def _check_single_primary(tr: _Trace) -> list[Violation]:
    claims: dict[tuple, dict[str, dict]] = defaultdict(dict)  # (index, shard, term) -> node -> ev
    for ev in tr.term_events:
        kind = ev.get("kind")
        if kind == "primary_write":
            node = ev.get("node")
        elif kind == "promote":
            node = _subject(ev)
            if node == _MANAGER:
                continue
        else:
            continue
        term = _term(ev.get("term"))
        if term is None or node is None:
            continue
        claims[(ev.get("index"), ev.get("shard"), term)].setdefault(node, ev)
    out = []
    for (index, shard, term), by_node in claims.items():
        if len(by_node) < 2:
            continue
        nodes = sorted(by_node, key=lambda n: tr.event_pos(by_node[n]))
        out.append(Violation(
            "single_primary",
            f"Shard {_shard_label(index, shard)} had {len(nodes)} primaries in term {term}: "
            f"{', '.join(nodes)}.",
            tr.ordered(*by_node.values()),
        ))
    return out


def _check_term_fencing(tr: _Trace) -> list[Violation]:
    out = []
    # (a) no copy applies an op older than a term it has applied or been told about
    known: dict[tuple, tuple[int, dict]] = {}  # (node, index, shard) -> (term, evidence event)
    for ev in tr.term_events:
        kind = ev.get("kind")
        if kind == "node_down":
            gone = _subject(ev)
            for key in [k for k in known if k[0] == gone]:
                del known[key]
            continue
        term = _term(ev.get("term"))
        if term is None:
            continue
        if kind == "promote":
            node = _subject(ev)
            if node == _MANAGER:
                continue
            floor = term
        elif kind in ("primary_write", "apply"):
            node, floor = ev.get("node"), term
        elif kind == "reject":
            node, floor = ev.get("node"), term + 1
        else:
            continue
        key = (node, ev.get("index"), ev.get("shard"))
        seen = known.get(key)
        if kind == "apply" and seen is not None and term < seen[0]:
            cause = seen[1]
            told = {"promote": "was promoted with", "apply": "applied an operation of",
                    "primary_write": "wrote as primary with",
                    "reject": "rejected an operation older than"}.get(cause.get("kind"), "knew")
            told_term = cause.get("term")
            out.append(Violation(
                "term_fencing",
                f"{node} applied an operation of term {term} on doc '{ev.get('doc')}' in "
                f"{_shard_label(ev.get('index'), ev.get('shard'))} after it {told} term "
                f"{told_term}; operations of an older primary term must be rejected.",
                tr.ordered(cause, ev),
            ))
        if seen is None or floor > seen[0]:
            known[key] = (floor, ev)

    # (b) no write acknowledged after a newer term was promoted for its shard
    for rpos, response, op in tr.acks:
        term = _term(response.get("term"))
        if term is None and op is not None:
            term = op.term
        shard = response.get("shard")
        if shard is None and op is not None:
            shard = op.shard
        if term is None:
            continue
        newer = [(p, t, ev) for p, t, ev in tr.promotes.get((response.get("index"), shard), ())
                 if p < rpos and t > term]
        if not newer:
            continue
        ppos, new_term, promote = newer[0]
        if op is not None and any(p < ppos for p, _ in op.receipts.get(_subject(promote), ())):
            # every replica had confirmed it, the promoted one before its promotion: the write
            # lives on in the new term, and a late acknowledgement (say, from a primary that
            # was paused with the confirmations in its buffers) loses nothing
            continue
        out.append(Violation(
            "term_fencing",
            f"The write of doc '{response.get('doc')}' in "
            f"{_shard_label(response.get('index'), shard)} was acknowledged with primary term "
            f"{term} after {_subject(promote)} had been promoted with term {new_term}; a stale "
            f"primary must not acknowledge writes.",
            tr.ordered(op.write if op is not None else None, promote, response),
        ))
    return out


def _version_type(write: dict) -> str:
    vt = str(write.get("version_type") or "internal").lower()
    return "external" if vt == "external_gt" else vt


def _check_version_monotonic(tr: _Trace) -> list[Violation]:
    out = []
    for (index, shard, doc), ops in tr.ops_by_doc.items():
        deletes_before = [0]
        for op in ops:
            deletes_before.append(deletes_before[-1] + (op.op == "delete"))
        where = {id(op): i for i, op in enumerate(ops)}
        history = [op for op in ops if op.write is not None and tr.globally_required(op)]
        for prev, cur in zip(history, history[1:]):
            if prev.version is None or cur.version is None:
                continue
            vt = _version_type(cur.write)
            # a delete between (or at) prev and cur may have left a tombstone that expired
            after_delete = deletes_before[where[id(cur)]] - deletes_before[where[id(prev)]] > 0
            restarts = after_delete and cur.write.get("result") in ("created", "not_found")
            if vt == "internal":
                ok = cur.version > prev.version or (restarts and cur.version == 1)
                rule = "each successful write must raise the version"
            elif vt == "external":
                ok = cur.version > prev.version or restarts
                rule = "an external version must be strictly greater than the current one"
            elif vt == "external_gte":
                ok = cur.version >= prev.version or restarts
                rule = "an external_gte version must not be lower than the current one"
            else:
                continue
            if ok:
                continue
            out.append(Violation(
                "version_monotonic",
                f"Doc '{doc}' in {_shard_label(index, shard)} went from version {prev.version} "
                f"to version {cur.version} ({vt} versioning); {rule}.",
                tr.ordered(prev.write, cur.write),
            ))
    return out


def _same_change(a: _Op, b: _Op) -> bool:
    """Do two operations write the same thing? Same kind and content (the term when a digest
    is missing); a retried request resolved again by a new primary is the same change."""
    if a.op != b.op:
        return False
    if a.op == "delete":
        return True
    if a.digest is not None and b.digest is not None:
        return a.digest == b.digest
    return a.term == b.term


def _restarts_between(ops: list[_Op], prev: _Op, cur: _Op) -> bool:
    """A delete at or after prev, then a create by cur or before it: the tombstone may have
    expired and the version legitimately started again at 1."""
    deletes = [op.pos for op in ops if op.op == "delete" and prev.pos <= op.pos < cur.pos]
    if not deletes:
        return False
    return any(op.write is not None and op.write.get("result") == "created"
               and deletes[0] < op.pos <= cur.pos for op in ops)


def _observation(tr: _Trace, writes: list[_Op], prev: _Op, cur: _Op) -> dict | None:
    """The event that shows a client saw `prev`: its acknowledgement, or a GET between prev and
    cur that returned prev's version (and, where the answer has them, its seq_no and term)."""
    if prev.acks:
        return prev.acks[0][1]
    for pos, read in tr.reads.get((prev.index, prev.doc), ()):
        if not prev.pos < pos < cur.pos or _int(read.get("version")) != prev.version:
            continue
        seq, term = _seq(read.get("seq_no")), _term(read.get("term"))
        if seq is not None or term is not None:
            if (seq is None or seq == prev.seq_no) and (term is None or term == prev.term):
                return read
            continue
        # no seq_no in the answer (5.x): it returned the last write of that version before it
        latest = [op for op in writes if op.version == prev.version and op.pos < pos]
        if latest and latest[-1] is prev:
            return read
    return None


def _check_version_reuse(tr: _Trace) -> list[Violation]:
    """An internal version a client saw must keep naming that change: after a failover the new
    primary may give the same number to a different change (why 7.0 dropped internal-version
    OCC); seq_no and primary term stay unique."""
    out = []
    for (index, shard, doc), ops in tr.ops_by_doc.items():
        writes = sorted((op for op in ops if op.write is not None and op.version is not None),
                        key=lambda op: op.pos)
        by_version: dict[int, list[_Op]] = defaultdict(list)
        for op in writes:
            by_version[op.version].append(op)
        for version, same in by_version.items():
            for k, cur in enumerate(same):
                if k == 0 or _version_type(cur.write) != "internal" or tr.stale_write(cur):
                    continue  # a superseded primary's unacknowledged write names nothing
                for prev in same[:k]:
                    if _same_change(prev, cur) or _restarts_between(ops, prev, cur):
                        continue
                    seen = _observation(tr, writes, prev, cur)
                    if seen is None:
                        continue
                    how = "acknowledged" if prev.acks else "read by a GET"
                    out.append(Violation(
                        "version_monotonic",
                        f"Version {version} of doc '{doc}' in {_shard_label(index, shard)} "
                        f"names two different changes: {_describe_change(prev, tr.seq_mode)} by "
                        f"{prev.writer}, {how}, and later {_describe_change(cur, tr.seq_mode)} by "
                        f"{cur.writer}; an internal version does not identify a change across "
                        f"a failover (seq_no and primary term do).",
                        tr.ordered(prev.write, seen, cur.write),
                    ))
                    break
    return out


def _describe_change(op: _Op, seq_mode: bool) -> str:
    what = "a delete" if op.op == "delete" else "a write"
    parts = []
    if seq_mode and op.seq_no is not None:
        parts.append(f"seq_no {op.seq_no}")
    if op.term is not None:
        parts.append(f"term {op.term}")
    return what + (f" ({', '.join(parts)})" if parts else "")


def _check_conditional_writes(tr: _Trace) -> list[Violation]:
    out = []
    seq_mode = tr.seq_mode
    gaps_possible = bool(tr.abrupt_nodes)

    # (a, b) a successful conditional write saw exactly the state it asked for
    for (index, shard, doc), ops in tr.ops_by_doc.items():
        for i, cur in enumerate(ops):
            write = cur.write
            if write is None:
                continue
            if_seq = _seq(write.get("if_seq_no"))
            if_term = _int(write.get("if_primary_term"))
            expected = _int(write.get("expected_version"))
            cas = write.get("if_seq_no") is not None or write.get("if_primary_term") is not None
            versioned = (not cas and expected is not None and expected > 0
                         and _version_type(write) == "internal")
            if not (cas or versioned):
                continue
            # the state before cur: the last op every history keeps, or any op after it; a
            # primary of term T never saw an op of a newer term (a partitioned old primary's
            # seq_nos interleave with its successor's)
            candidates: list[_Op] = []
            for j in range(i - 1, -1, -1):
                if ops[j].term is not None and cur.term is not None and ops[j].term > cur.term:
                    continue
                candidates.append(ops[j])
                if tr.globally_required(ops[j]):
                    break
            if cas:
                def fits(op: _Op) -> bool:
                    return op.seq_no == if_seq and op.term == if_term
                asked = f"if_seq_no={write.get('if_seq_no')}, if_primary_term={if_term}"
            else:
                def fits(op: _Op) -> bool:
                    return op.version == expected
                asked = f"version={expected}"
            if any(fits(op) for op in candidates):
                continue
            if gaps_possible and not any(fits(op) for op in ops):
                continue  # the op it asked about may be among a killed node's lost events
            previous = candidates[0] if candidates else None
            if previous is None:
                had = "the document had no previous operation"
            elif cas:
                had = (f"the document's previous operation had seq_no {previous.seq_no} and "
                       f"primary term {previous.term}")
            else:
                had = f"the document's previous version was {previous.version}"
            out.append(Violation(
                "conditional_writes",
                f"The conditional write of doc '{doc}' in {_shard_label(index, shard)} "
                f"({asked}) succeeded, but {had}.",
                tr.ordered(previous.event if previous is not None else None, write),
            ))

    # (c) a 409 changed nothing: no write for the same request ...
    dup_msgs = {ev.get("msg") for ev in tr.duplicates}
    dup_forward_dsts = {ev.get("dst") for ev in tr.duplicates if ev.get("mkind") == "forward"}
    for cpos, conflict in tr.conflicts:
        msg = conflict.get("msg")
        if msg is None or msg in dup_msgs or conflict.get("node") in dup_forward_dsts:
            continue
        request = tr.requests_by_msg.get(msg)
        may_retry = request is None or "_update" in str(request.get("path") or "")
        for op in tr.writes_by_msg.get(msg, ()):
            if op.index != conflict.get("index") or op.doc != conflict.get("doc"):
                continue
            if op.pos > cpos and may_retry:
                continue  # an update retried after its conflict (retry_on_conflict)
            out.append(Violation(
                "conditional_writes",
                f"The write of doc '{conflict.get('doc')}' in "
                f"{_shard_label(conflict.get('index'), op.shard)} was refused with 409, yet the "
                f"primary wrote it ({_describe_op(op, seq_mode)}) for the same request {msg}.",
                tr.ordered(conflict, op.write),
            ))
            break

    # ... and did not consume a sequence number
    if seq_mode:
        out.extend(_seq_gaps_at_conflicts(tr))
    return out


def _seq_gaps_at_conflicts(tr: _Trace) -> list[Violation]:
    """A 409 between two writes of one primary in one term must not leave a seq_no gap."""
    out = []
    writes_of: dict[tuple, list[_Op]] = defaultdict(list)  # (node, index, shard), trace order
    for op in tr.writes:
        if op.seq_no is not None:
            writes_of[(op.writer, op.index, op.shard)].append(op)
    known_seqs: dict[tuple, list[int]] = defaultdict(list)   # (index, shard) -> sorted seq_nos
    for (index, shard, _doc), ops in tr.ops_by_doc.items():
        known_seqs[(index, shard)].extend(op.seq_no for op in ops if op.seq_no is not None)
    for seqs in known_seqs.values():
        seqs.sort()
    positions_of: dict[tuple, list[int]] = {}
    highest_of: dict[tuple, list[int]] = {}  # per write: highest seq_no so far in its term
    for key, ops in writes_of.items():
        positions_of[key] = [op.pos for op in ops]
        per_term: dict = {}
        highest = []
        for op in ops:
            per_term[op.term] = max(op.seq_no, per_term.get(op.term, op.seq_no))
            highest.append(per_term[op.term])
        highest_of[key] = highest

    reported: set[tuple] = set()
    for cpos, conflict in tr.conflicts:
        key = (conflict.get("node"), conflict.get("index"), conflict.get("shard"))
        node, index, shard = key
        ops = writes_of.get(key, [])
        i = bisect.bisect_left(positions_of.get(key, []), cpos)
        if i == 0 or i == len(ops):
            continue
        before, after = ops[i - 1], ops[i]
        if before.term != after.term:
            continue
        low, high = highest_of[key][i - 1], after.seq_no
        if high <= low + 1 or (*key, low, high) in reported:
            continue
        seqs = known_seqs[(index, shard)]
        j = bisect.bisect_right(seqs, low)
        if j < len(seqs) and seqs[j] < high:
            continue  # the missing numbers belong to known operations
        noops = tr.noop_positions.get(index, [])
        k = bisect.bisect_right(noops, before.pos)
        if k < len(noops) and noops[k] < after.pos:
            continue  # an update answered noop in between; leave it the benefit of the doubt
        reported.add((*key, low, high))
        out.append(Violation(
            "conditional_writes",
            f"A write on {_shard_label(index, shard)} was refused with 409 on {node}, yet the "
            f"primary's seq_no jumped from {low} to {high} across it; a refused write must not "
            f"consume a sequence number.",
            tr.ordered(before.write, conflict, after.write),
        ))
    return out


def _check_search_visibility(tr: _Trace) -> list[Violation]:
    """Every hit of a `search` event names an operation written before the search."""
    found = []
    for pos, ev in enumerate(tr.events):
        if ev.get("kind") != "search":
            continue
        index = ev.get("index")
        for doc, version, seq_no in ev.get("docs") or ():
            ops = (tr.ops_by_seq.get((index, doc, seq_no)) if tr.seq_mode
                   else tr.ops_by_version.get((index, doc, version))) or ()
            if not any(op.pos < pos and op.version == version for op in ops):
                found.append(Violation("search_visibility", (
                    f"{ev.get('node')}'s search of {_shard_label(index, ev.get('shard'))} found "
                    f"doc {doc} at v{version} (#{seq_no}), which no primary had written."), (ev,)))
    return found


# ----------------------------------------------------------------------------------------------
# entry points


def check(events: Sequence[dict], *, profile: int = 7) -> list[Violation]:
    """Check a merged trace; return the violations, grouped by invariant, in trace order.

    `profile` is the compatibility profile of the run: from 6 on, operations are ordered by
    seq_no and copies are compared on seq_no too; in profile 5 they are ordered as the primary
    wrote them and compared on version, digest and deleted-ness only.
    """
    tr = _Trace(events, profile)
    found: list[Violation] = []
    if tr.states:
        convergence, durability = _check_copies(tr)
        found += convergence + durability
    if tr.states or tr.routings:  # the run's end was recorded
        reported = {(v.events[0].get("index"), v.events[0].get("shard"), v.events[0].get("doc"))
                    for v in found if v.invariant == "acked_durability"}
        found += _check_acked_survives(tr, reported)
        found += _check_availability(tr)
    found += _check_single_primary(tr)
    found += _check_term_fencing(tr)
    found += _check_version_monotonic(tr)
    found += _check_version_reuse(tr)
    found += _check_conditional_writes(tr)
    found += _check_search_visibility(tr)

    def key(v: Violation) -> tuple:
        first = min((tr.event_pos(ev) for ev in v.events), default=-1)
        return (INVARIANTS.index(v.invariant), first, v.message)

    found.sort(key=key)
    return found


_STATE_DOCS_SHOWN = 8
_COMPACT_FIELDS = ("index", "shard", "doc", "op", "version", "seq_no", "term", "status",
                   "result", "if_seq_no", "if_primary_term", "version_type", "expected_version",
                   "held_version", "held_seq_no", "abrupt", "msg")


def _compact(ev: dict) -> str:
    kind = ev.get("kind", "?")
    head = f"{kind} @{ev.get('node', '?')}"
    if "t" in ev:
        head = f"t={ev['t']} " + head
    if kind == "state":
        docs = ev.get("docs") or []
        shown = []
        for d in (docs.values() if isinstance(docs, dict) else docs):
            if not isinstance(d, dict):
                continue
            if d.get("deleted"):
                shown.append(f"{d.get('id')}:deleted")
            else:
                shown.append(f"{d.get('id')}:v{d.get('version')}/s{d.get('seq_no')}")
        if len(shown) > _STATE_DOCS_SHOWN:
            shown = shown[:_STATE_DOCS_SHOWN] + [f"+{len(shown) - _STATE_DOCS_SHOWN} more"]
        role = "primary" if ev.get("primary") else "replica"
        return (f"{head} {_shard_label(ev.get('index'), ev.get('shard'))} {role} "
                f"docs[{', '.join(shown)}]")
    parts = [head]
    if ev.get("src") is not None or ev.get("dst") is not None:
        parts.append(f"{ev.get('src')}->{ev.get('dst')}")
    for name in _COMPACT_FIELDS:
        if ev.get(name) is not None:
            parts.append(f"{name}={ev[name]}")
    return " ".join(parts)


def format_report(violations: list[Violation]) -> str:
    """Human-readable report: one block per violation, its events one compact line each."""
    if not violations:
        return "No invariant violations.\n"
    lines = [f"{len(violations)} invariant violation(s):"]
    for number, violation in enumerate(violations, 1):
        lines.append("")
        lines.append(f"[{number}] {violation.invariant}: {violation.message}")
        for ev in violation.events:
            lines.append(f"    {_compact(ev)}")
    return "\n".join(lines) + "\n"
