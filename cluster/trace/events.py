"""Trace events: the one record of what happened in a run, shared by the view and the checker.

Every node records events as plain dicts and the manager merges them into one ordered trace,
written as JSON lines. This module owns the event vocabulary, the merge order, reading and
writing trace files, and the derived facts every consumer needs (out-of-order deliveries).
It is pure: no I/O except the explicit `read`/`write` helpers.

Fields present on every event:
    kind   str    one of KINDS below
    node   str    who recorded it: a node name ("n1"), "manager", or a client name
    t      float  wall time in seconds (virtual time in simulation mode)
    lc     int    the recorder's Lamport clock after the event
    seq    int    the recorder's own event counter (0, 1, 2, ...), to keep its order stable
    order  int    simulation only: the event's place in the one process's execution order

Fields present where they apply:
    msg    str    message id ("n1:17"); a REST request's id for client_request/response
    src, dst      node names of a message's sender and receiver
    mkind  str    message kind: "replicate", "replicate_ok", "forward", "forward_ok",
                  "forward_bulk" (a shard's bulk to its primary), "replicate_bulk" (its
                  operations to a replica, in one message), ...
    index  str    index name
    shard  int    shard number
    doc    str    document id
    op     str    "index" or "delete"
    version, seq_no, term   ints: the operation's resolved version, sequence number, primary term
    digest str    short hash of the document source (absent for deletes)
    held_version, held_seq_no   ints: on `discard`, what the copy already held for the document
    client str    the actor's name (from the X-Opaque-Id header, else "client")
    method, path  a REST request's method and path (with query string)
    status int    HTTP status of a response; result str ("created", "updated", "deleted",
                  "not_found", "noop") on responses and primary writes
    reason str    human-readable reason (a conflict's or a failure's text)
    delay_ms float on `send`: the delay the network model chose

Kinds:
    client_request   a node received a REST request (node, client, msg, method, path, index, doc)
    response         a node answered a REST request (node, client, msg, status, result,
                     version, seq_no, term, doc, index, shard)
    conflict         the primary refused a write with 409 (node, index, shard, doc, reason)
    primary_write    the primary checked the condition and resolved an operation (node, index,
                     shard, doc, op, version, seq_no, term, digest, result)
    send             a message left its sender (msg, src, dst, mkind, delay_ms, plus the
                     operation's index/shard/doc/op/version/seq_no/term for "replicate")
    drop             the network model lost a message (msg, src, dst, mkind, ...)
    duplicate        the network model delivers a second copy (msg, src, dst, ...)
    hold             a hold rule caught a message (msg, src, dst, ...)
    release          a held message was let go (msg, src, dst, ...)
    deliver          a message arrived at its receiver (msg, src, dst, mkind, ...)
    apply            a replica applied an operation (node, index, shard, doc, op, version,
                     seq_no, term)
    discard          a replica kept what it had and did not apply an operation (same fields
                     as apply, plus held_version, held_seq_no, reason)
    reject           a replica refused an operation of an older primary term (reason)
    ack              the primary got a replica's answer (msg, src=replica, dst=primary,
                     outcome "applied" | "discarded" | "failed"; to a shard's bulk: index,
                     shard, items, outcome "applied" or "applied N, discarded M")
    replica_failed   the primary counted a replica as failed (index, shard, dst, reason)
    node_up, node_down     a node started / ended; node_down has abrupt: bool
    fault            a fault was injected (action, target, detail)
    promote          a replica became primary (index, shard, node, term)
    state            at the end of a run, one per shard copy: node, index, shard,
                     primary: bool, active: bool (started, not recovering),
                     docs: [{id, version, seq_no, term, digest, deleted}]
    routing          at the end of a run, one per shard, by the manager: index, shard, primary
                     (None: red), term, in_sync (nodes of the in-sync copies), members
    cluster          the first event, by the manager: es_compat, nodes, seed
    bulk             a node answered a `_bulk` request (items, errors: bool)
    update_retry     an `_update` met a concurrent change and retries (index, doc, attempt,
                     reason)
    refresh          a shard copy made its documents visible to search (`_refresh`, node,
                     index, shard); writes with `refresh=true` refresh the copies they reach
    search           a shard copy ran a search (node, index, shard, hits, docs: [[id, version,
                     seq_no], ...] of the hits, as of the copy's last refresh)
    tombstone_expired  a delete's tombstone outlived `index.gc_deletes` when the clock was
                     advanced: the document no longer has a version to compare with (node,
                     index, shard, doc, version, seq_no, gc_deletes)
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Iterator
from pathlib import Path

from occsim.cluster.errors import TraceError

KINDS = (
    "client_request", "response", "conflict", "primary_write", "send", "drop", "duplicate",
    "hold", "release", "deliver", "apply", "discard", "reject", "ack", "replica_failed",
    "node_up", "node_down", "fault", "promote", "state", "routing", "cluster", "bulk",
    "update_retry", "refresh", "search", "tombstone_expired",
)

MESSAGE_KINDS = ("send", "drop", "duplicate", "hold", "release", "deliver")


# The trace format this occsim writes, as `format` in the `cluster` event that opens a trace.
# Traces written before it was recorded have none: format 0, read exactly as format 1.
FORMAT = 1


def order_key(event: dict) -> tuple:
    """Merge order: wall (or virtual) time, then the simulation's execution order when there
    is one, then Lamport clock, then recorder and its counter."""
    return (event["t"], event.get("order", 0), event["lc"], event["node"], event["seq"])


def merge(streams: Iterable[Iterable[dict]]) -> list[dict]:
    """Merge per-node event lists into one trace in `order_key` order."""
    merged = [event for stream in streams for event in stream]
    try:  # a simulation's events all have a distinct `order`: two sorts on C keys suffice
        merged.sort(key=_ORDER)
        merged.sort(key=_TIME)
    except KeyError:
        merged.sort(key=order_key)
    return merged


_ORDER, _TIME = operator.itemgetter("order"), operator.itemgetter("t")


def write(path: str | Path, events: Iterable[dict]) -> None:
    """Write events as JSON lines, one compact object per line."""
    with open(path, "w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, separators=(",", ":"), sort_keys=True))
            out.write("\n")


# Fields the checker and the view use as names and keys: a string or a number when present.
_NAME_FIELDS = ("node", "msg", "src", "dst", "mkind", "index", "shard", "doc", "op", "result",
                "client", "method", "path", "target")
_NUMBER_FIELDS = ("t", "lc", "seq", "order")


class Appender:
    """A trace file that grows while the cluster runs (`occsim up --trace`): each batch of
    events is appended as whole lines and flushed, so a reader sees them at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._out = open(path, "w", encoding="utf-8")

    def append(self, events: Iterable[dict]) -> None:
        self._out.write("".join(json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n"
                                for e in events))
        self._out.flush()

    def close(self) -> None:
        self._out.close()


def read(path: str | Path) -> list[dict]:
    """Read a JSON-lines trace written by `write` (or growing by `Appender`: a last line still
    being written is left for the next read); TraceError names the first bad line."""
    events = []
    with open(path, encoding="utf-8") as src:
        for number, line in enumerate(src, 1):
            if not line.endswith("\n"):
                try:
                    json.loads(line)
                except json.JSONDecodeError:
                    break  # half written
            if line.strip():
                events.append(_event(line, f"{path}:{number}"))
    if not events:
        raise TraceError(f"{path} holds no trace events")
    return events


def _event(line: str, where: str) -> dict:
    try:
        event = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TraceError(f"{where}: not a JSON line ({exc.msg})") from None
    if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
        raise TraceError(f"{where}: an event is a JSON object with a string [kind]")
    for name in _NAME_FIELDS:
        value = event.get(name)
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, (str, int, float))):
            raise TraceError(f"{where}: [{name}] must be a string or a number, "
                             f"not {json.dumps(value)}")
    for name in _NUMBER_FIELDS:
        value = event.get(name)
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, (int, float))):
            raise TraceError(f"{where}: [{name}] must be a number, not {json.dumps(value)}")
    if event["kind"] == "cluster" and not (type(event.get("format", 0)) is int
                                            and 0 <= event.get("format", 0) <= FORMAT):
        raise TraceError(f"{where}: a trace of format {json.dumps(event.get('format'))}; this "
                         f"occsim reads formats 0 to {FORMAT}")
    if event["kind"] == "cluster" and type(event.get("es_compat")) is not int:
        raise TraceError(f"{where}: the cluster event's [es_compat] must be a major version "
                         f"such as 7, not {json.dumps(event.get('es_compat'))}")
    return event


def profile_of(events: Iterable[dict], default: int = 5) -> int:
    """The compatibility profile a trace was recorded with (its `cluster` event)."""
    return next((e["es_compat"] for e in events if e["kind"] == "cluster"), default)


def out_of_order(events: Iterable[dict]) -> Iterator[tuple[dict, dict]]:
    """Yield (late delivery, newer delivery it came after) for every out-of-order delivery.

    A delivery of a `replicate` message is out of order when the receiving node has already
    received a newer operation (higher seq_no, or higher version when seq_no is absent) for the
    same index and document.
    """
    newest: dict[tuple, dict] = {}
    for event in events:
        if event["kind"] != "deliver" or event.get("mkind") != "replicate":
            continue
        key = (event["dst"], event.get("index"), event.get("doc"))
        seen = newest.get(key)
        if seen is not None and _rank(event) < _rank(seen):
            yield event, seen
        elif seen is None or _rank(event) > _rank(seen):
            newest[key] = event


def _rank(event: dict) -> tuple[int, int]:
    return (event.get("seq_no", -1), event.get("version", -1))


COUNTERS = (("send", "sent"), ("deliver", "delivered"), ("out of order", "out of order"),
            ("discard", "discarded"), ("conflict", "conflicts"), ("drop", "dropped"),
            ("duplicate", "duplicated"), ("hold", "held"))


def counters(events: list[dict]) -> dict[str, int]:
    """What a run's messages went through, by the names the view prints: sent, delivered, out
    of order, discarded, conflicts, dropped, duplicated, held."""
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event["kind"]] = kinds.get(event["kind"], 0) + 1
    kinds["out of order"] = sum(1 for _ in out_of_order(events))
    return {name: kinds.get(kind, 0) for kind, name in COUNTERS}

