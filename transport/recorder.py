"""The event recorder every node (and the manager) keeps: a Lamport clock and a buffer of trace
events, drained by whoever collects the trace.

Recording makes one small tuple (kind, node, t, lc, seq, order, fields); the tuples travel
packed as they are and become the trace's event dicts (`expand`) only when someone reads them.
The events a write records (`SHAPES`: the request and its response, the primary's write, each
message sent and delivered, each replica's apply and ack) keep their fields as a tuple of
values in their shape's order, so that recording builds no dict and packing writes no names;
every other event keeps its fields as a dict. Nothing is computed for the trace that can be
computed when it is read: a `primary_write` records its document's source (never changed once
written), and its `digest` is taken when the event is expanded.

A recorder whose events leave its process (a node process's, `PackedRecorder`) packs each
one as it is recorded: it keeps one bytes object per event, and draining it is a join. Such
an event is packed as (kind, t, lc, fields): its node (the recorder's) and its seq (one more
than the event before) are written once per drained batch (`unpack_batch`), and a node
process has no sequencer.

With recording off, only the Lamport clock still ticks, so message causality stays right
while tracing costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator

from occsim.transport.message import pack, pack_array_header, packer, unpack

# The fields of an operation, in this order: those a message event copies from the message's
# body, and the first fields of an event about a write.
MESSAGE_FIELDS = ("index", "shard", "doc", "op", "version", "seq_no", "term")

# The events recorded with their fields as a tuple of values, by kind: the fields' names, in
# the order of the event's dict. A value `ABSENT` is a field that event does not have.
SHAPES = {
    "client_request": ("client", "method", "path", "msg", "index", "doc"),
    "response": ("client", "status", "method", "path", "msg", "result", "index", "doc",
                 "version", "seq_no", "term", "reason"),
    # recorded with the document's source (None for a delete) where its digest goes
    "primary_write": (*MESSAGE_FIELDS, "digest", "result", "version_type", "expected_version",
                      "if_seq_no", "if_primary_term"),
    "send": ("msg", "src", "dst", "mkind", "delay_ms", *MESSAGE_FIELDS),
    "deliver": ("msg", "src", "dst", "mkind", "reply_to", *MESSAGE_FIELDS),
    "apply": MESSAGE_FIELDS,
    "discard": (*MESSAGE_FIELDS, "held_version", "held_seq_no", "reason"),
    "ack": ("src", "dst", "index", "shard", "doc", "version", "seq_no", "term", "outcome"),
}
# msgpack carries it and reads it back equal, faster than any other marker; no value of a
# trace field is of its type (bytes).
ABSENT = b""


class Recorder:
    """Lamport clock plus buffered trace events of one recorder (a node, the manager).

    In the simulation all recorders share a `sequencer`, and each event carries its place in
    the single process's execution order (`order`), which breaks ties of virtual time.
    """

    def __init__(self, name: str, clock: Callable[[], float], *, enabled: bool = True,
                 sequencer: Iterator[int] | None = None) -> None:
        self.name = name
        self.clock = clock
        self.enabled = enabled
        self.sequencer = sequencer
        self.lc = 0
        self._seq = 0
        self._events: list[tuple] = []

    def record(self, kind: str, **fields: object) -> None:
        """Tick the Lamport clock and, when enabled, buffer one event."""
        self.add(kind, fields)

    def add(self, kind: str, fields: dict | tuple) -> None:
        """`record` with the fields in a dict the event then owns (no copy), or, for a kind of
        `SHAPES`, as the tuple of their values in its order."""
        self.lc += 1
        if not self.enabled:
            return
        order = next(self.sequencer) if self.sequencer is not None else None
        self._events.append((kind, self.name, self.clock(), self.lc, self._seq, order, fields))
        self._seq += 1

    def add_message(self, kind: str, env_id: str, src: str, dst: str, mkind: str,
                    value: object, body: dict) -> None:
        """The `send` (`value`: its delay_ms) or `deliver` (`value`: reply_to) of a message:
        then the fields of `MESSAGE_FIELDS` that `body` has, but a whole document (a get_ok's
        `doc`), which a trace leaves out."""
        if not self.enabled:
            self.lc += 1
            return
        get = body.get
        doc = get("doc", ABSENT)
        if doc.__class__ is dict:  # every other operation field is a name or a number
            doc = ABSENT
        self.add(kind, (env_id, src, dst, mkind, value, get("index", ABSENT),
                        get("shard", ABSENT), doc, get("op", ABSENT), get("version", ABSENT),
                        get("seq_no", ABSENT), get("term", ABSENT)))  # SHAPES["send"]

    def record_as(self, node: str, kind: str, **fields: object) -> None:
        """Record an event about another party (the manager noting a node went down)."""
        name, self.name = self.name, node
        try:
            self.add(kind, fields)
        finally:
            self.name = name

    def observe(self, remote_lc: int) -> None:
        """Merge a received message's Lamport clock (the receive event then ticks past it)."""
        if remote_lc > self.lc:
            self.lc = remote_lc

    def drain_raw(self) -> list[tuple]:
        """Hand over and forget the buffered events, as recorded."""
        events, self._events = self._events, []
        return events

    def drain(self) -> list[dict]:
        """Hand over and forget the buffered events, as trace event dicts."""
        return expand(self.drain_raw())


class PackedRecorder(Recorder):
    """The recorder of a node process, whose events leave it: each event is packed as it is
    recorded, as (kind, t, lc, fields) (and its node, if not this recorder's), and drained
    as one batch (`unpack_batch` reads it)."""

    def __init__(self, name: str, clock: Callable[[], float], *,
                 enabled: bool = True) -> None:
        super().__init__(name, clock, enabled=enabled)
        self._drained = 0  # the seq of the first event still buffered (the next: + its count)

    def add(self, kind: str, fields: dict | tuple) -> None:
        self.lc += 1
        if self.enabled:
            self._events.append(_pack_event((kind, self.clock(), self.lc, fields)))

    def record_as(self, node: str, kind: str, **fields: object) -> None:
        self.lc += 1
        if self.enabled:
            self._events.append(_pack_event((kind, self.clock(), self.lc, fields, node)))

    def drain_raw(self) -> list[tuple]:
        return unpack_batch(self.drain_packed())

    def drain_packed(self) -> bytes:
        """Hand over and forget the buffered events, as one msgpack array (to ship): this
        recorder's name, the seq of the first event, then each event."""
        events, self._events = self._events, []
        data = b"".join([pack_array_header(len(events) + 2), pack(self.name),
                         pack(self._drained), *events])
        self._drained += len(events)
        return data


# one event packed as the frame codec packs, but a value msgpack cannot hold becomes its repr
_pack_event = packer(default=repr)


def unpack_batch(data: bytes) -> list[tuple]:
    """A `PackedRecorder`'s drained batch as the events a `Recorder` keeps."""
    name, seq, *events = unpack(data)
    return [(e[0], e[4] if len(e) > 4 else name, e[1], e[2], seq + i, None, e[3])
            for i, e in enumerate(events)]


def expand(raw: list) -> list[dict]:
    """Recorded tuples (or their unpacked lists) as trace event dicts. Each event is made of
    its own fields dict, which a drained recorder no longer holds."""
    events = []
    for kind, node, t, lc, seq, order, fields in raw:
        if type(fields) is not dict:  # a tuple of SHAPES, a list once unpacked
            fields = {name: value for name, value in zip(SHAPES[kind], fields)
                      if type(value) is not bytes}
            if kind == "primary_write":
                fields["digest"] = digest(fields["digest"])
        fields["kind"], fields["node"], fields["t"], fields["lc"], fields["seq"] = (
            kind, node, t, lc, seq)
        if order is not None:
            fields["order"] = order
        events.append(fields)
    return events


def digest(source: dict | None) -> str:
    """A short, stable fingerprint of a document source ("" for a delete's none)."""
    if source is None:
        return ""
    canonical = json.dumps(source, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=6).hexdigest()
