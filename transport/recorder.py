"""The event recorder every node (and the manager) keeps: a Lamport clock and a buffer of trace
events, drained by whoever collects the trace.

Recording appends one small tuple (kind, node, t, lc, seq, order, fields); the tuples travel
packed as they are and become the trace's event dicts (`expand`) only when someone reads them.
The events of messages, most of a trace, keep their fields as a flat tuple (`add_message`),
which takes half the time to pack of the dict it stands for.
With recording off, only the Lamport clock still ticks, so message causality stays right while
tracing costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

# The operation fields a message event copies from the message's body, in this order.
MESSAGE_FIELDS = ("index", "shard", "doc", "op", "version", "seq_no", "term")


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

    def add(self, kind: str, fields: dict) -> None:
        """`record` with the fields in a dict the event then owns (no copy: a hot path that
        builds the dict anyway skips the keyword arguments' merging)."""
        self.lc += 1
        if not self.enabled:
            return
        order = next(self.sequencer) if self.sequencer is not None else None
        self._events.append((kind, self.name, self.clock(), self.lc, self._seq, order, fields))
        self._seq += 1

    def add_message(self, kind: str, env_id: str, src: str, dst: str, mkind: str,
                    extra: str, value: object, body: dict) -> None:
        """The event of a message: `msg`, `src`, `dst`, `mkind`, `extra`=`value`, then the
        fields of `MESSAGE_FIELDS` that `body` has (names and numbers only), kept flat: a bit
        mask of those present first, then the values (`expand` makes the dict)."""
        self.lc += 1
        if not self.enabled:
            return
        mask = 0
        flat = [0, env_id, src, dst, mkind, extra, value]
        for bit, name in enumerate(MESSAGE_FIELDS):
            if name in body:
                value = body[name]
                if value.__class__ is not dict:  # a get_ok's `doc` is a document, not an id
                    mask |= 1 << bit
                    flat.append(value)
        flat[0] = mask
        order = next(self.sequencer) if self.sequencer is not None else None
        self._events.append((kind, self.name, self.clock(), self.lc, self._seq, order,
                             tuple(flat)))  # a tuple of plain values: the GC stops tracking it
        self._seq += 1

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
        """Hand over and forget the buffered events, as recorded (to pack and ship)."""
        events, self._events = self._events, []
        return events

    def drain(self) -> list[dict]:
        """Hand over and forget the buffered events, as trace event dicts."""
        return expand(self.drain_raw())


def message_fields(flat: tuple | list) -> dict:
    """A message event's fields from `add_message`'s flat tuple (a list once unpacked)."""
    mask, msg, src, dst, mkind, extra, value = flat[:7]
    fields = {"msg": msg, "src": src, "dst": dst, "mkind": mkind, extra: value}
    values = iter(flat[7:])
    for bit, name in enumerate(MESSAGE_FIELDS):
        if mask >> bit & 1:
            fields[name] = next(values)
    return fields


def expand(raw: list) -> list[dict]:
    """Recorded tuples (or their unpacked lists) as trace event dicts. Each event is made of
    its own fields dict, which a drained recorder no longer holds."""
    events = []
    for kind, node, t, lc, seq, order, fields in raw:
        if type(fields) is not dict:  # add_message's tuple, a list once unpacked
            fields = message_fields(fields)
        fields["kind"], fields["node"], fields["t"], fields["lc"], fields["seq"] = (
            kind, node, t, lc, seq)
        if order is not None:
            fields["order"] = order
        events.append(fields)
    return events
