"""The terminal view of a trace: a Lamport (space-time) diagram, the shard copies and counters.

`TraceView` is a rich renderable built from trace events (the vocabulary is in `cluster.trace`).
It is a pure function of the events: no I/O, no clocks. It works in two steps:

- layout (`_Layout`): events -> lanes (clients, then nodes n1 n2 ... n10), rows (one per shown
  event: an arrow from one lane to another, or a mark on a lane, with a note), the shard copies
  and the counters. Nothing here depends on the width.
- drawing (`_geometry`, `_header`, `_draw_row`, `_copies_table`, ...): rows -> one `Text` line
  each, at the width rich gives; the copies table beside the diagram from 120 columns, else below.

`explain` turns one event into an OCC sentence for step-by-step replay; `render_text` and `save`
print a view to plain text, SVG or HTML.
"""

from __future__ import annotations

import io
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from occsim.cluster.trace.events import order_key, out_of_order, profile_of

# Colours by outcome.
APPLIED = "green"
STALE = "yellow"
CONFLICT = "bold red"
LOST = "red"
DUPLICATE = "magenta"
HELD = "blue"
REORDERED = "bold yellow"
REQUEST = "cyan"
ACK = "dim"
FAULT = "bold magenta"
PROMOTE = "bold cyan"
LANE = "dim"

MIN_SPACING, MAX_SPACING = 4, 16  # columns between two lanes
MIN_ROWS = 3                      # rows of diagram a view fitted to a height always keeps
NOTES_MIN = 40                    # columns kept right of the diagram for the notes
SIDE_BY_SIDE = 120                # from this width the copies table sits beside the diagram,
SIDE_NOTES_MIN = 30               # ... if the notes keep this many columns with lanes at MIN_SPACING
OUTCOME_WINDOW = 200              # how far after a delivery to look for its apply/discard

# Fields a message's events inherit from its `send`, and a request from its `response`.
_MESSAGE_FIELDS = ("mkind", "src", "dst", "index", "shard", "doc", "op", "version", "seq_no", "term")
_REQUEST_FIELDS = ("index", "shard", "doc")
# Events about the cluster rather than a document: kept by the doc filter.
_CLUSTER_KINDS = ("node_up", "node_down", "fault", "promote", "replica_failed")


@dataclass
class Row:
    """One line of the diagram: an arrow from lane `src` to lane `dst`, or a mark on lane `src`."""

    src: int | None                # None: a note-only row
    dst: int | None = None         # None: a mark
    style: str = ""
    labels: tuple[str, ...] = ()   # an arrow's label, longest first; the longest that fits is drawn
    topic: str = ""                # what a shorter label leaves out ("doc 8"): it starts the note
    spill: bool = True             # if no label fits on the arrow, the note starts with the full one
    glyph: str = ""                # a mark's symbol, drawn on `src` and on the lanes in `also`
    also: tuple[int, ...] = ()
    note: Text = field(default_factory=Text)
    lost: bool = False             # the arrow stops halfway, in ✗
    reordered: bool = False        # an out-of-order delivery: ↯ on the receiver's lane
    down: frozenset[int] = frozenset()  # lanes whose node is down


class TraceView:
    """Rich renderable: the diagram, the copies table, counters and legend of a trace.

    `max_rows` keeps the newest rows of the diagram; `height` fits the whole view into that
    many lines (a terminal's), keeping the copies, counters and legend and showing fewer rows
    of diagram. `glyphs="ascii"` draws with ASCII only, for fonts without the symbols."""

    def __init__(self, events: Sequence[dict] = (), *, doc: str | None = None,
                 shard: int | None = None, max_rows: int | None = None,
                 height: int | None = None, title: str | None = None,
                 glyphs: str = "unicode") -> None:
        self.events: list[dict] = list(events)
        self.doc = None if doc is None else str(doc)
        self.shard = shard
        self.max_rows = max_rows
        self.height = height
        self.title = title
        self.glyphs = glyphs

    def extend(self, events: Iterable[dict]) -> None:
        """Add newly arrived events (live view)."""
        self.events.extend(events)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(40, options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts = self._parts(console, options)
        if self.glyphs != "ascii":
            yield from parts
            return
        for part in parts:
            for segment in console.render(part, options):
                yield Segment(segment.text.translate(ASCII), segment.style, segment.control)

    def _parts(self, console: Console, options: ConsoleOptions) -> list:
        width = options.max_width
        layout = _Layout(self.events, self.doc, self.shard)
        heading = _heading(self.title, self.doc, self.shard)
        top = [] if heading is None else [heading]
        legend = _flow(_legend(_symbols(layout.rows)), width, sep=" · ")
        table = _copies_table(layout.copies)
        side = _side_width(console, options, table, len(layout.lanes))
        diagram_width = width - side - 2 if side else width
        counters = _flow(_counters(layout), side or width)
        header = len(_header(layout.lanes, layout.clients, *_geometry(layout.lanes, diagram_width))
                     ) if layout.lanes else 0
        rows = self.max_rows
        if self.height is not None:
            beside = len(top) + len(legend)
            below = 0 if side else len(counters) + (1 if table is not None else 0)
            room = self.height - beside - below - header - 2  # the first blank row, "… earlier"
            if table is not None:  # the copies keep what the diagram's fewest rows leave
                space = room - MIN_ROWS if not side else self.height - beside - len(counters)
                table = _copies_table(layout.copies, limit=max(1, space - 3))
                if not side:
                    room -= len(console.render_lines(table, options, pad=False))
            rows = max(MIN_ROWS, room) if rows is None else max(MIN_ROWS, min(rows, room))
        if side:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=diagram_width, no_wrap=True)
            grid.add_column(width=side)
            grid.add_row(Group(*_diagram(layout, diagram_width, rows)), Group(table, *counters))
            return [*top, grid, *legend]
        below_parts = [] if table is None else [Text(), table]
        return [*top, *_diagram(layout, width, rows), *below_parts, *counters, *legend]


def _side_width(console: Console, options: ConsoleOptions, table: Table | None, lanes: int) -> int:
    """The copies table's width if it goes beside the diagram, else 0 (it goes below)."""
    width = options.max_width
    if table is None or width < SIDE_BY_SIDE:
        return 0
    side = max(Measurement.get(console, options, table).maximum, 24)
    tightest = 8 + (lanes - 1) * MIN_SPACING + SIDE_NOTES_MIN  # margins, lanes, notes
    return side if width - side - 2 >= tightest else 0


# --- layout: events -> lanes, rows, copies, counters ------------------------------------------


class _Layout:
    """Everything the view draws, at no particular width."""

    def __init__(self, events: Iterable[dict], doc: str | None, shard: int | None) -> None:
        everything = _enrich(sorted(events, key=order_key))
        self.lanes, self.clients = _lanes(everything)
        self.lane_of = {name: i for i, name in enumerate(self.lanes)}
        self.late = {id(late): newer for late, newer in out_of_order(everything)}
        self.events = [e for e in everything if _keep(e, doc, shard)]
        self._merged: set[int] = set()          # apply/discard/reject drawn on their delivery's row
        self._deliveries: Counter = Counter()   # deliveries seen per message id: >1 is a duplicate
        self.rows = self._rows()
        self.copies = _copies(self.events, doc)
        self.counts = Counter(e["kind"] for e in self.events)
        self.counts["out of order"] = sum(1 for e in self.events if id(e) in self.late)

    def _rows(self) -> list[Row]:
        rows: list[Row] = []
        down: set[int] = set()
        for i, event in enumerate(self.events):
            if i in self._merged:
                continue
            kind = event["kind"]
            lane = self.lane_of.get(event.get("node"))
            if kind == "node_up":
                down.discard(lane)
            handler = getattr(self, "_" + kind, None)
            row = handler(i, event) if handler else None
            if row is not None:
                row.down = frozenset(down)
                rows.append(row)
            if kind == "node_down" and lane is not None:
                down.add(lane)
        return rows

    def _lane(self, name: str | None) -> int | None:
        return self.lane_of.get(name)

    # One method per event kind; a kind without one (send, state) is not a row.

    def _client_request(self, i: int, e: dict) -> Row:
        method, doc = e.get("method", "?"), e.get("doc")
        labels = (f"{method} doc {doc}", f"{method} {doc}", method) if doc else (method,)
        return Row(self._lane(e.get("client", "client")), self._lane(e["node"]), REQUEST, labels,
                   spill=False, note=Text(f"{method} {e.get('path', '')}", style=REQUEST))

    def _response(self, i: int, e: dict) -> Row:
        status = e.get("status", "?")
        ok = isinstance(status, int) and status < 300
        version = f" v{e['version']}" if ok and e.get("version") is not None else ""
        result = f" {e['result']}" if ok and e.get("result") else ""
        style = APPLIED if ok else CONFLICT if status == 409 else LOST
        return Row(self._lane(e["node"]), self._lane(e.get("client", "client")), style,
                   (f"{status}{result}{version}", f"{status}{version}", f"{status}"), (result + version).strip())

    def _primary_write(self, i: int, e: dict) -> Row:
        verb = "deletes" if e.get("op") == "delete" else "writes"
        return Row(self._lane(e["node"]), style=APPLIED, glyph="●",
                   note=Text(f"{e['node']} {verb} doc {e.get('doc')} → {_ver(e)}", style=APPLIED))

    def _conflict(self, i: int, e: dict) -> Row:
        reason = e.get("reason") or f"doc {e.get('doc')}: version conflict"
        return Row(self._lane(e["node"]), style=CONFLICT, glyph="409", note=Text(reason, style=CONFLICT))

    def _deliver(self, i: int, e: dict) -> Row | None:
        mkind = e.get("mkind", "message")
        if mkind in ("replicate_ok", "replicate_bulk_ok"):
            return None  # the primary's `ack` row shows the answer
        src, dst = self._lane(e.get("src")), self._lane(e.get("dst"))
        if mkind != "replicate":
            doc = f" doc {e['doc']}" if e.get("doc") else ""
            return Row(src, dst, ACK if mkind.endswith("_ok") else "", (f"{mkind}{doc}", mkind), doc.strip())
        self._deliveries[e.get("msg")] += 1
        duplicate = self._deliveries[e.get("msg")] > 1
        j = self._outcome(i, e)
        outcome = self.events[j] if j is not None else None
        if j is not None:
            self._merged.add(j)
        style, words = _outcome_words(outcome)
        note = Text()
        if duplicate:
            note.append("duplicate → ", style=DUPLICATE)
        newer = self.late.get(id(e))
        if newer is not None:
            note.append(f"↯ {_late_phrase(e, newer)}", style=REORDERED)
            if outcome is not None and outcome["kind"] == "apply":
                style, words = CONFLICT, "applied: the copy went back!"
            elif outcome is not None and outcome["kind"] == "discard":
                kept = outcome.get("held_version")
                words = "discarded" + (f", kept v{kept}" if kept != newer.get("version") else "")
            note.append(" → " if words else "", style=REORDERED)
        note.append(words, style=style)
        return Row(src, dst, DUPLICATE if duplicate else style, *_op_labels(e), note=note,
                   reordered=newer is not None)

    def _outcome(self, i: int, e: dict) -> int | None:
        """The index of the apply/discard/reject the receiver recorded right after delivery `i`."""
        for j in range(i + 1, min(i + OUTCOME_WINDOW, len(self.events))):
            o = self.events[j]
            if o.get("node") != e.get("dst"):
                continue
            if o["kind"] in ("apply", "discard", "reject") and all(
                    o.get(k) == e.get(k) for k in ("index", "doc", "version", "seq_no")):
                return j
            if o["kind"] in ("deliver", "apply", "discard", "reject"):
                return None
        return None

    def _apply(self, i: int, e: dict) -> Row:
        return Row(self._lane(e["node"]), style=APPLIED, glyph="●",
                   note=Text(f"{e['node']} applies doc {e.get('doc')} {_ver(e)}", style=APPLIED))

    def _discard(self, i: int, e: dict) -> Row:
        return Row(self._lane(e["node"]), style=STALE, glyph="○", note=Text(
            f"{e['node']} discards doc {e.get('doc')} {_ver(e)}, kept v{e.get('held_version')}", style=STALE))

    def _reject(self, i: int, e: dict) -> Row:
        return Row(self._lane(e["node"]), style=LOST, glyph="⊘", note=Text(
            f"{e['node']} rejects doc {e.get('doc')} {_ver(e)}: {e.get('reason', '')}", style=LOST))

    def _drop(self, i: int, e: dict) -> Row:
        return Row(self._lane(e.get("src")), self._lane(e.get("dst")), LOST, *_op_labels(e), lost=True,
                   note=Text(f"lost on the way to {e.get('dst')}", style=LOST))

    def _on_sender(self, e: dict, glyph: str, style: str, verb: str) -> Row:
        return Row(self._lane(e.get("src")), style=style, glyph=glyph,
                   note=Text(f"{verb} {_op_labels(e)[0][0]} → {e.get('dst')}", style=style))

    def _duplicate(self, i: int, e: dict) -> Row:
        return self._on_sender(e, "◆", DUPLICATE, "duplicated:")

    def _hold(self, i: int, e: dict) -> Row:
        return self._on_sender(e, "‖", HELD, "held:")

    def _release(self, i: int, e: dict) -> Row:
        return self._on_sender(e, "▶", HELD, "released:")

    def _ack(self, i: int, e: dict) -> Row:
        return Row(self._lane(e.get("src")), self._lane(e.get("dst")), ACK, ("ack",),
                   note=Text(e.get("outcome", ""), style=ACK))

    def _replica_failed(self, i: int, e: dict) -> Row:
        return Row(self._lane(e.get("dst")), style=LOST, glyph="⊘", note=Text(
            f"{e['node']} fails the copy on {e.get('dst')}: {e.get('reason', '')}", style=LOST))

    def _node_down(self, i: int, e: dict) -> Row:
        why = " (abrupt)" if e.get("abrupt") else ""
        what = f"{e['node']} down{why}"
        if e.get("reason"):  # the master's verdict, not the process's end
            what = f"{e['node']} out of the cluster ({e['reason']})"
        return Row(self._lane(e["node"]), style=LOST, glyph="▼", note=Text(what, style=LOST))

    def _node_up(self, i: int, e: dict) -> Row:
        what = f"{e['node']} back in the cluster" if e.get("reason") else f"{e['node']} up"
        return Row(self._lane(e["node"]), style=APPLIED, glyph="▲",
                   note=Text(what, style=APPLIED))

    def _tombstone_expired(self, i: int, e: dict) -> Row:
        return Row(self._lane(e["node"]), style=STALE, glyph="†", note=Text(
            f"{e['node']}: the tombstone of doc {e.get('doc')} {_ver(e)} expired", style=STALE))

    def _promote(self, i: int, e: dict) -> Row:
        return Row(self._lane(e["node"]), style=PROMOTE, glyph="★", note=Text(
            f"{e['node']} promoted: primary of {_shard_name(e)}, term {e.get('term')}", style=PROMOTE))

    def _refresh(self, i: int, e: dict) -> Row:
        return Row(self._lane(e["node"]), style=ACK, glyph="↻", note=Text(
            f"{e['node']} refreshes {_shard_name(e)}", style=ACK))

    def _search(self, i: int, e: dict) -> Row:
        found = ", ".join(f"doc {d} v{v} #{s}" for d, v, s in e.get("docs") or ()) or "no hits"
        return Row(self._lane(e["node"]), style=REQUEST, glyph="⌕", note=Text(
            f"{e['node']} searches {_shard_name(e)}: {found}", style=REQUEST))

    def _fault(self, i: int, e: dict) -> Row:
        if e.get("action") == "recovery":
            return Row(self._lane(e.get("target")), style=PROMOTE, glyph="↻", note=Text(
                f"{e['node']} recovers {e.get('target')}'s copy ({e.get('detail')})",
                style=PROMOTE))
        if e.get("action") == "fenced":
            return Row(self._lane(e.get("target")), style=LOST, glyph="⊘", note=Text(
                f"{e.get('target')} fenced: not confirmed as primary in term {e.get('term')}",
                style=LOST))
        words = " ".join(str(e[k]) for k in ("action", "target") if e.get(k))
        words += f" ({e['detail']})" if e.get("detail") else ""
        named = re.findall(r"[\w-]+", f"{e.get('target', '')} {e.get('detail', '')}")
        lanes = sorted({self.lane_of[n] for n in named if n in self.lane_of})
        return Row(lanes[0] if lanes else None, style=FAULT, glyph="✦", also=tuple(lanes[1:]),
                   note=Text(f"fault: {words}", style=FAULT))


def _enrich(events: list[dict]) -> list[dict]:
    """Copies of the events where a message's events carry its `send`'s fields (doc, version...)
    and a request carries its response's shard, so that filters and labels find them."""
    sources: dict[tuple, dict] = {}
    for e in events:
        if e["kind"] in ("send", "response") and e.get("msg") is not None:
            sources.setdefault((e["kind"] == "send", e["msg"]), e)
    out = []
    for e in events:
        message = e["kind"] not in ("client_request", "response")
        source = sources.get((message, e.get("msg")))
        if source is not None and source is not e:
            fields = _MESSAGE_FIELDS if message else _REQUEST_FIELDS
            e = {**{k: source[k] for k in fields if k in source}, **e}
        out.append(e)
    return out


def _lanes(events: list[dict]) -> tuple[list[str], int]:
    """Clients in order of appearance, then nodes in natural order (n1, n2, ..., n10); and how
    many clients."""
    clients = list(dict.fromkeys(e.get("client", "client") for e in events
                                 if e["kind"] in ("client_request", "response")))
    nodes = {e[k] for e in events for k in ("node", "src", "dst") if e.get(k)}
    nodes -= {*clients, "manager"}
    return clients + sorted(nodes, key=_natural), len(clients)


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(name))]


def _keep(e: dict, doc: str | None, shard: int | None) -> bool:
    if e["kind"] in ("node_up", "node_down", "fault"):
        return True
    if doc is not None and str(e.get("doc")) != doc and e["kind"] not in _CLUSTER_KINDS + ("state",):
        if not (e["kind"] == "search" and any(str(d[0]) == doc for d in e.get("docs") or ())):
            return False  # a search is kept under --doc when it found that document
    return shard is None or e.get("shard") == shard


def _ver(e: dict) -> str:
    """ "v3 #2": the version, and the seq_no when there is one."""
    seq_no = e.get("seq_no")
    return f"v{e.get('version')}" + (f" #{seq_no}" if seq_no is not None and seq_no >= 0 else "")


def _op_labels(e: dict) -> tuple[tuple[str, ...], str]:
    """A message's labels, longest first ("doc 8 v3 #2", "v3 #2", "v3"), and its topic ("doc 8")."""
    mkind = e.get("mkind", "message")
    topic = f"doc {e['doc']}" if e.get("doc") is not None else ""
    version = e.get("version")
    if version is None or isinstance(version, int) and version < 0:  # a request's "any"
        return ((f"{mkind} {topic}", mkind) if topic else (mkind,)), topic
    delete = "del " if e.get("op") == "delete" else ""
    return (f"{delete}{topic} {_ver(e)}", f"{delete}{_ver(e)}", f"{delete}v{e['version']}"), topic


def _outcome_words(outcome: dict | None) -> tuple[str, str]:
    """Style and words for what a replica did with a delivered operation."""
    if outcome is None:
        return "", ""
    if outcome["kind"] == "apply":
        return APPLIED, "applied"
    if outcome["kind"] == "discard":
        return STALE, f"stale, kept v{outcome.get('held_version')}"
    return LOST, f"rejected: {outcome.get('reason', '')}"


def _late_phrase(late: dict, newer: dict) -> str:
    """ "v2 arrived after v3" (by seq_no when the versions are equal)."""
    if late.get("version") != newer.get("version"):
        return f"v{late.get('version')} arrived after v{newer.get('version')}"
    return f"#{late.get('seq_no')} arrived after #{newer.get('seq_no')}"


def _shard_name(e: dict) -> str:
    return f"[{e.get('index')}][{e.get('shard')}]"


def _copies(events: list[dict], doc: str | None) -> dict[tuple, dict]:
    """(index, shard) -> {"primary": node, "docs": {node: {doc id: {version, seq_no, deleted}}}}.

    From the `state` events if there are any, else from the writes and applies of the trace.
    """
    shards: dict[tuple, dict] = {}

    def copy(e: dict, node: str) -> dict:
        shard = shards.setdefault((e.get("index"), e.get("shard")), {"primary": None, "docs": {}})
        return shard["docs"].setdefault(node, {})

    states = [e for e in events if e["kind"] == "state"]
    for e in states:  # the latest state of each copy wins
        held = copy(e, e["node"])
        held.clear()
        held.update({str(d["id"]): d for d in e.get("docs", ()) if doc is None or str(d["id"]) == doc})
        if e.get("primary"):
            shards[(e.get("index"), e.get("shard"))]["primary"] = e["node"]
    if states:
        return shards
    for e in events:
        kind, node = e["kind"], e.get("node")
        if e.get("shard") is None:
            continue
        if kind in ("primary_write", "apply"):
            copy(e, node)[str(e.get("doc"))] = {"version": e.get("version"), "seq_no": e.get("seq_no"),
                                                "deleted": e.get("op") == "delete"}
        elif kind in ("discard", "reject"):
            copy(e, node)
        elif kind in ("send", "deliver") and e.get("mkind") == "replicate":
            copy(e, e.get("dst"))
        if kind in ("primary_write", "promote"):
            copy(e, node)
            shards[(e.get("index"), e.get("shard"))]["primary"] = node
    return shards


# --- drawing: rows -> lines ------------------------------------------------------------------


def _geometry(names: list[str], width: int) -> tuple[list[int], int]:
    """Lane columns and the column where notes start; spacing grows with the width."""
    first = max(2, (len(names[0]) - 1) // 2 + 1)
    spacing = 0
    if len(names) > 1:
        spacing = (width - first - 3 - NOTES_MIN) // (len(names) - 1)
        spacing = max(MIN_SPACING, min(MAX_SPACING, spacing))
    xs = [first + i * spacing for i in range(len(names))]
    return xs, xs[-1] + max(3, len(names[-1]) // 2 + 2)


def _header(names: list[str], clients: int, xs: list[int], notes_x: int) -> list[Text]:
    """Lane names centred on their lanes, on two staggered lines when they do not fit on one."""
    spacing = xs[1] - xs[0] if len(xs) > 1 else notes_x
    staggered = any(len(name) > spacing - 1 for name in names)
    fit = 2 * spacing - 1 if staggered else spacing - 1
    lines = [[(" ", "")] * (notes_x + fit) for _ in range(2 if staggered else 1)]
    for i, (name, x) in enumerate(zip(names, xs)):
        name = name if len(name) <= max(fit, 1) else name[:max(fit - 1, 1)] + "…"
        start = max(0, x - (len(name) - 1) // 2)
        for k, ch in enumerate(name):
            lines[i % len(lines)][start + k] = (ch, "bold cyan" if i < clients else "bold")
    return [_join(cells) for cells in lines]


def _draw_row(row: Row, xs: list[int], notes_x: int, width: int) -> list[Text]:
    """The row's line, and more lines below it (lanes only) when its note needs them."""
    cells = [(" ", "")] * notes_x

    def put(x: int, ch: str, style: str) -> None:
        if 0 <= x < notes_x:
            cells[x] = (ch, style)

    for lane, x in enumerate(xs):
        put(x, "┆" if lane in row.down else "│", LANE)
    drawn = ""
    if row.src is not None and row.dst is not None and row.src != row.dst:
        a, b = xs[row.src], xs[row.dst]
        step = 1 if b > a else -1
        end = a + step * max(2, round(abs(b - a) * 0.6)) if row.lost else b - step  # ✗ or head
        put(a, "├" if step > 0 else "┤", row.style)
        for x in range(a + step, end, step):
            put(x, "─", row.style)
        put(end, "✗" if row.lost else "▶" if step > 0 else "◀", row.style)
        if row.reordered:
            put(b, "↯", REORDERED)
        for margin in (2, 1):  # one dash on either side; between close lanes, none
            lo, hi = (a + margin, end - margin) if step > 0 else (end + margin, a - margin)
            drawn = next((label for label in row.labels if len(label) <= hi - lo + 1), "")
            if drawn:
                break
        start = lo + (hi - lo + 1 - len(drawn)) // 2
        for k, ch in enumerate(drawn):
            put(start + k, ch, row.style)
    elif row.src is not None:
        for lane in (row.src, *row.also):
            start = xs[lane] - (len(row.glyph) - 1) // 2
            for k, ch in enumerate(row.glyph):
                put(start + k, ch, row.style)
    line = _join(cells)
    line.pad_right(notes_x - line.cell_len)
    full = row.labels[0] if row.labels else ""
    spilled = "" if drawn == full else row.topic if drawn else full if row.spill else ""
    note = Text(spilled + " ", style=row.style) if spilled else Text()
    note.append_text(row.note)
    first, *rest = _wrap(note, width - notes_x)
    lines = [line + first]
    for part in rest:
        lanes = [(" ", "")] * notes_x
        for lane, x in enumerate(xs):
            lanes[x] = ("┆" if lane in row.down else "│", LANE)
        more = _join(lanes)
        more.pad_right(notes_x + 2 - more.cell_len)
        lines.append(more + part)
    for text in lines:
        text.rstrip()
    return lines


def _wrap(note: Text, room: int) -> list[Text]:
    """A note on as many lines as it needs at `room` columns (the later ones indented by two),
    broken between words; one line when there is little room anyway."""
    if note.cell_len <= room or room < 24:
        return [note]
    plain, parts, start, width = note.plain, [], 0, room
    while len(plain) - start > width:
        # after a word, or before a query parameter; else wherever the line is full
        cut = max(plain.rfind(ch, start, start + width + 1) for ch in " ?&")
        cut = cut if cut > start + width // 2 else start + width
        parts.append(note[start:cut])
        start = cut + (plain[cut:cut + 1] == " ")
        width = room - 2
    parts.append(note[start:])
    return parts


def _join(cells: list[tuple[str, str]]) -> Text:
    """One line that is never wrapped: it ends in … when it is longer than the width."""
    line = Text(no_wrap=True, overflow="ellipsis")
    for style, run in itertools.groupby(cells, key=lambda cell: cell[1]):
        line.append("".join(ch for ch, _ in run), style=style or None)
    line.rstrip()
    return line


def _diagram(layout: _Layout, width: int, max_rows: int | None) -> list[Text]:
    if not layout.lanes:
        return [Text("(no events yet)", style="dim")]
    xs, notes_x = _geometry(layout.lanes, width)
    lines = _header(layout.lanes, layout.clients, xs, notes_x)
    shown: list[list[Text]] = []  # the newest rows' lines that fit in max_rows lines
    used = 0
    for row in reversed(layout.rows):
        drawn = _draw_row(row, xs, notes_x, width)
        if max_rows is not None and shown and used + len(drawn) > max_rows:
            break
        shown.append(drawn)
        used += len(drawn)
    hidden = len(layout.rows) - len(shown)
    if hidden:
        lines.append(Text(f"… {hidden} earlier events", style="dim", no_wrap=True, overflow="ellipsis"))
    down = layout.rows[hidden].down if layout.rows else frozenset()
    lines.extend(_draw_row(Row(None, down=down), xs, notes_x, width))
    for drawn in reversed(shown):
        lines.extend(drawn)
    return lines


def _copies_table(copies: dict[tuple, dict], limit: int | None = None) -> Table | None:
    """One row per document of a shard, one column per node; * marks the primary's copy and a
    copy whose version differs from the primary's is bold red. At most `limit` rows: the last
    says how many more there are."""
    nodes = sorted({node for shard in copies.values() for node in shard["docs"]}, key=_natural)
    if not nodes:
        return None
    title = "shard copies (* primary)"
    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False, show_edge=False, min_width=len(title))
    table.add_column("shard", no_wrap=True)
    table.add_column("doc", no_wrap=True)
    for node in nodes:
        table.add_column(node, justify="center", no_wrap=True)
    lines = []
    shards = sorted(copies.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    if any(docs for _, held in shards for docs in held["docs"].values()):
        shards = [(key, held) for key, held in shards if any(held["docs"].values())]
    for (index, shard), held in shards:
        docs = sorted({d for node_docs in held["docs"].values() for d in node_docs}, key=_natural)
        primary = held["docs"].get(held["primary"]) if held["primary"] else None
        for n, doc in enumerate(docs or ["–"]):
            cells = []
            for node in nodes:
                if node not in held["docs"]:
                    cells.append(Text(""))
                    continue
                d = held["docs"][node].get(doc)
                text = "–" if d is None else _ver(d) + (" del" if d.get("deleted") else "")
                is_primary = node == held["primary"]
                diverges = primary is not None and not is_primary and _version(d) != _version(primary.get(doc))
                cells.append(Text(text + ("*" if is_primary else ""),
                                  style="bold red" if diverges else "dim" if d is None else ""))
            lines.append((Text(f"[{index}][{shard}]" if n == 0 else ""), Text(doc), *cells))
    if limit is not None and len(lines) > limit:
        more = len(lines) - limit + 1
        lines[limit - 1:] = [(Text(f"… {more} more", style="dim"),)]
    for line in lines:
        table.add_row(*line)
    return table


def _version(d: dict | None) -> int | None:
    return None if d is None else d.get("version")


def _counters(layout: _Layout) -> list[Text]:
    styles = {"out of order": REORDERED, "discard": STALE, "conflict": CONFLICT, "drop": LOST,
              "duplicate": DUPLICATE, "hold": HELD}
    names = [("send", "sent"), ("deliver", "delivered"), ("out of order", "out of order"),
             ("discard", "discarded"), ("conflict", "conflicts"), ("drop", "dropped"),
             ("duplicate", "duplicated"), ("hold", "held")]
    items = []
    for key, name in names:
        n = layout.counts[key]
        item = Text(f"{name} ", style="" if n else "dim")
        item.append(str(n), style=(styles.get(key, "bold") if n else "dim"))
        items.append(item)
    return items


# Every symbol the diagram draws, what it means and its colour; the legend lists those drawn.
LEGEND = (("●", "write, applied", APPLIED), ("○", "stale, discarded", STALE),
          ("409", "conflict", CONFLICT), ("✗", "lost", LOST), ("⊘", "refused, failed", LOST),
          ("◆", "duplicate", DUPLICATE), ("‖", "held", HELD), ("▶", "released", HELD),
          ("↯", "out of order", REORDERED), ("✦", "fault injected", FAULT),
          ("↻", "recovery", PROMOTE), ("★", "promoted", PROMOTE), ("▼", "down", LOST),
          ("▲", "up", APPLIED), ("†", "tombstone expired", STALE),
          ("┆", "lane of a node that is down", LANE))

# The same drawing in ASCII, one character for one (`--glyphs ascii`).
ASCII = str.maketrans("●○✗⊘◆‖▶◀↯✦↻★▼▲†┆│├┤─…→·–—✔✘", "*ox!+=><~F@PV^%:|++-.>/--vx")


def _symbols(rows: list[Row]) -> set[str]:
    """The legend's symbols that these rows draw."""
    drawn: set[str] = set()
    for row in rows:
        drawn.add(row.glyph)
        if row.lost:
            drawn.add("✗")
        if row.reordered:
            drawn.add("↯")
        if row.down:
            drawn.add("┆")
        if row.style == CONFLICT and any(label.startswith("409") for label in row.labels):
            drawn.add("409")
    return drawn


def _legend(symbols: set[str]) -> list[Text]:
    return [Text(f"{symbol} {words}", style=style) for symbol, words, style in LEGEND
            if symbol in symbols]


def _flow(items: list[Text], width: int, sep: str = "  ") -> list[Text]:
    """Items on as few lines as fit the width, never breaking an item."""
    lines: list[Text] = []
    line = Text()
    for item in items:
        if line.plain and line.cell_len + len(sep) + item.cell_len > width:
            lines.append(line)
            line = Text()
        if line.plain:
            line.append(sep, style="dim")
        line.append_text(item)
    if line.plain:
        lines.append(line)
    return lines


def _heading(title: str | None, doc: str | None, shard: int | None) -> Text | None:
    filters = [f for f in (doc is not None and f"doc {doc}", shard is not None and f"shard {shard}") if f]
    if title is None and not filters:
        return None
    heading = Text(title or "trace", style="bold", no_wrap=True, overflow="ellipsis")
    if filters:
        heading.append(" — only " + ", ".join(filters), style="dim")
    return heading


# --- parts of the view, for a screen that lays them out itself (`occsim play`) ----------------


def diagram_lines(events: Iterable[dict], width: int, max_rows: int | None = None) -> list[Text]:
    """The Lamport diagram alone (no copies table, counters or legend): its last `max_rows`."""
    return _diagram(_Layout(events, None, None), width, max_rows)


def copies_table(events: Iterable[dict]) -> Table | None:
    """The copies table alone, of the shards that hold documents (None when none does)."""
    copies = _Layout(events, None, None).copies
    return _copies_table({key: held for key, held in copies.items()
                          if any(held["docs"].values())})


# --- explain: one event as an OCC sentence ---------------------------------------------------


def explain(event: dict, events_before: Sequence[dict]) -> str | None:
    """One sentence in OCC terms for a step-by-step replay, or None for uninteresting events."""
    history = _enrich([*events_before, event])
    late = {id(d): newer for d, newer in out_of_order(history)}
    return _sentence(history[-1], history[:-1], late)


def explain_all(events: Sequence[dict]) -> list[str | None]:
    """`explain` for every event of a trace, in one pass over it."""
    history = _enrich(list(events))
    late = {id(d): newer for d, newer in out_of_order(history)}
    return [_sentence(e, history[:i], late) for i, e in enumerate(history)]


def _sentence(e: dict, before: list[dict], late: dict[int, dict]) -> str | None:
    """The sentence for `e` (enriched), after the enriched events `before` it; `late` maps an
    out-of-order delivery's id to the newer delivery it came after."""
    kind, node, doc = e["kind"], e.get("node"), e.get("doc")
    op = f"doc {doc} {_ver_words(e)}"
    if kind == "primary_write":
        what = "the delete of doc" if e.get("op") == "delete" else "doc"
        numbers = [f"version {e.get('version')}"] + [
            f"{k} {e[k]}" for k in ("seq_no", "term") if e.get(k) is not None and e[k] >= 0]
        return f"{node}, primary of {_shard_name(e)}, assigns {what} {doc} " + ", ".join(numbers)
    if kind == "apply":
        held = next((b for b in reversed(before) if b["kind"] in ("apply", "primary_write")
                     and b.get("node") == node and b.get("index") == e.get("index") and b.get("doc") == doc), None)
        by_seq_no = profile_of(before, default=6) >= 6  # 5.x replicas compare versions
        return f"{node} applies {op}{_carrier(e, before)}: {_newer_than(e, held, by_seq_no)}"
    if kind == "discard":
        held = (e.get("held_seq_no", -1), e.get("held_version", -1))
        late = "arrives late" if held > (e.get("seq_no", -1), e.get("version", -1)) else "is not newer"
        return (f"{node} holds doc {doc} at v{e.get('held_version')}; v{e.get('version')}"
                f"{_carrier(e, before)} {late}; {node} keeps v{e.get('held_version')} and discards it")
    if kind == "reject":
        return f"{node} rejects {op}{_carrier(e, before)}: {e.get('reason', 'older primary term')}"
    if kind == "conflict":
        return f"{node} refuses the write to doc {doc} with 409: {e.get('reason', 'version conflict')}"
    if kind == "drop":
        return f"the network loses {_message(e)}"
    if kind == "hold":
        return f"the network holds {_message(e)}; later writes can overtake it"
    if kind == "release":
        return f"the network releases {_message(e)}"
    if kind == "duplicate":
        return f"the network delivers {_message(e)} a second time"
    if kind == "deliver":
        if e.get("mkind") != "replicate":
            if str(e.get("mkind", "")).endswith("_ok"):
                return None
            about = f" about doc {doc}" if doc is not None else ""
            return f"{e.get('dst')} receives a {e.get('mkind', 'message')} message from {e.get('src')}{about}"
        newer = late.get(id(e))
        if newer is not None:
            return (f"{e.get('dst')} receives {op} from {e.get('src')} after {_ver_words(newer)}: "
                    f"out of order")
        return f"{e.get('dst')} receives {op} from {e.get('src')}"
    if kind == "ack":
        outcome = e.get("outcome", "answered")
        what = f" {op}" if doc is not None and e.get("version") is not None else ""
        return f"{e.get('src')} tells {e.get('dst')} it {outcome}{what}"
    if kind == "client_request":
        return f"{e.get('client', 'client')} sends {e.get('method')} {e.get('path')} to {node}"
    if kind == "response":
        return _answer(e, before)
    if kind == "node_down":
        if e.get("abrupt"):
            return f"{node}'s process dies at once (SIGKILL): what it had not sent is lost"
        if e.get("reason"):
            return (f"the master no longer hears from {node} ({e['reason']}) and removes it from "
                    f"the cluster; {node} itself may still be running")
        return f"{node} goes down"
    if kind == "node_up":
        if e.get("reason"):
            return f"{node} answers the master's pings again: the master takes it back"
        return f"{node} comes up"
    if kind == "tombstone_expired":
        return (f"on {node}, the tombstone of doc {doc} (its v{e.get('version')} delete) is older "
                f"than index.gc_deletes ({e.get('gc_deletes'):g}s) and no longer counts: doc {doc} "
                "has no version left to compare a late write with")
    if kind == "promote":
        return f"{node} becomes primary of {_shard_name(e)} with term {e.get('term')}"
    if kind == "fault":
        return _fault_sentence(e)
    if kind == "replica_failed":
        return f"{node} counts the copy on {e.get('dst')} as failed: {e.get('reason', '')}"
    if kind == "refresh":
        return f"{node} refreshes its copy of {_shard_name(e)}: searches now see its latest writes"
    if kind == "search":
        found = ", ".join(f"doc {d} v{v}" for d, v, _ in e.get("docs") or ()) or "nothing"
        return (f"{node} searches its copy of {_shard_name(e)} as of its last refresh and "
                f"finds {found}")
    return None


_INJECTED = {"kill": "is killed (SIGKILL)", "stop": "is stopped (SIGTERM)",
             "restart": "is restarted", "pause": "is frozen (SIGSTOP)",
             "resume": "is unfrozen (SIGCONT)"}


def _fault_sentence(e: dict) -> str:
    """A fault someone injected, or an action of the cluster itself (recovery, fencing) that
    the trace records under the same kind."""
    action, target, detail = e.get("action"), e.get("target", ""), str(e.get("detail") or "")
    if action in _INJECTED:
        return f"fault injected: {target} {_INJECTED[action]}"
    if action == "partition":
        one_way = " (one way)" if detail.startswith("→") else ""
        return f"fault injected: the network cuts {target} off from {detail[1:]}{one_way}"
    if action == "heal":
        return "fault injected: the network heals; every partition is removed"
    if action == "recovery":
        how = ("sends it the whole shard again (reset)" if detail == "reset"
               else "sends it the operations it missed (catch-up)")
        return (f"{e.get('node')}, primary of {_shard_name(e)} in term {e.get('term')}, "
                f"recovers the copy on {target}: it {how}")
    if action == "fenced":
        return (f"{target} is fenced: the master does not confirm it as primary of "
                f"{_shard_name(e)} in term {e.get('term')}, so it cannot acknowledge the write "
                f"to doc {e.get('doc')}")
    return f"{action} {target}".rstrip() + (f" ({detail})" if detail else "")


def _newer_than(e: dict, held: dict | None, by_seq_no: bool) -> str:
    """Why a replica applies an operation: it is newer than what the copy held, compared by
    seq_no from 6.x (where the operations have one), else by version."""
    doc = e.get("doc")
    if held is None:
        return f"it held no copy of doc {doc} yet"
    delete = " delete" if held.get("op") == "delete" else ""
    seq_no, held_seq_no = e.get("seq_no"), held.get("seq_no")
    if by_seq_no and None not in (seq_no, held_seq_no) and min(seq_no, held_seq_no) >= 0:
        return (f"#{seq_no} is newer than the #{held_seq_no} (v{held.get('version')}{delete}) "
                "it held")
    if (e.get("version") or 0) > (held.get("version") or 0):
        return f"v{e.get('version')} is newer than the v{held.get('version')}{delete} it held"
    if delete:
        return f"the tombstone of its v{held.get('version')} delete has expired"
    return f"it held v{held.get('version')}"


def _answer(e: dict, before: list[dict]) -> str:
    """A node's answer to a client: the outcome, and for a write whether the document has
    moved on since (a later write acknowledged first)."""
    node, client, status, doc = e["node"], e.get("client", "client"), e.get("status"), e.get("doc")
    if not (isinstance(status, int) and status < 300):
        why = (e.get("reason") or e.get("result")
               or {404: "not found", 409: "version conflict"}.get(status, ""))
        return f"{node} answers {client}: {status}" + (f": {why}" if why else "")
    if e.get("version") is None:
        return f"{node} answers {client}: {status}" + (f" {e['result']}" if e.get("result") else "")
    if not e.get("result"):
        return f"{node} answers {client}: {status} with doc {doc} at {_ver_words(e)}"
    what = "the delete of doc" if e["result"] == "deleted" else "doc"
    said = (f"{node} answers {client}: {status} {e['result']}: {what} {doc} {_ver_words(e)} "
            "is acknowledged")
    latest = next((b for b in reversed(before) if b["kind"] == "primary_write"
                   and b.get("index") == e.get("index") and b.get("doc") == doc), None)
    if latest is not None and _later(latest, e):
        said += f"; doc {doc} is already at {_ver_words(latest)}, written since"
    return said


def _later(write: dict, answer: dict) -> bool:
    """Whether a primary's write came after the one an answer acknowledges: by primary term and
    seq_no when the answer has them (6.x on), else by version."""
    if answer.get("seq_no") is None or answer.get("term") is None:
        return (write.get("version") or 0) > (answer.get("version") or 0)
    return (write.get("term") or 0, write.get("seq_no", -1)) > (answer["term"], answer["seq_no"])


def _ver_words(e: dict) -> str:
    """ "v3 (#2)" """
    seq_no = e.get("seq_no")
    return f"v{e.get('version')}" + (f" (#{seq_no})" if seq_no is not None and seq_no >= 0 else "")


def _carrier(e: dict, before: list[dict]) -> str:
    """ " from n1": the sender of the delivery that brought a replica its operation."""
    for b in reversed(before):
        if b["kind"] == "deliver" and b.get("dst") == e.get("node") and all(
                b.get(k) == e.get(k) for k in ("index", "doc", "version", "seq_no")):
            return f" from {b.get('src')}"
    return ""


def _message(e: dict) -> str:
    """ "n1's replicate of doc 8 v2 (#1) to n2" """
    what = f" of doc {e['doc']} {_ver_words(e)}" if e.get("doc") and e.get("version") is not None else ""
    return f"{e.get('src')}'s {e.get('mkind', 'message')}{what} to {e.get('dst')}"


# --- output ----------------------------------------------------------------------------------


def _recorded(view: TraceView, width: int, color_system: str | None) -> Console:
    console = Console(record=True, width=width, color_system=color_system, file=io.StringIO())
    console.print(view)
    return console


def _plain(view: TraceView, width: int) -> str:
    text = _recorded(view, width, None).export_text()
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def render_text(events: Iterable[dict], *, width: int = 100, doc: str | None = None,
                shard: int | None = None, glyphs: str = "unicode") -> str:
    """The whole view as plain text at a fixed width (no colour)."""
    return _plain(TraceView(list(events), doc=doc, shard=shard, glyphs=glyphs), width)


def save(events: Iterable[dict], path: str, fmt: str, *, width: int = 120, doc: str | None = None,
         shard: int | None = None, title: str | None = None, glyphs: str = "unicode") -> None:
    """Save the view as "text", "svg" or "html"."""
    view = TraceView(list(events), doc=doc, shard=shard, title=title, glyphs=glyphs)
    if fmt == "text":
        with open(path, "w", encoding="utf-8") as out:
            out.write(_plain(view, width))
        return
    console = _recorded(view, width, "truecolor")
    if fmt == "svg":
        console.save_svg(path, title=title or "occsim trace")
    elif fmt == "html":
        console.save_html(path)
    else:
        raise ValueError(f"unknown format {fmt!r}: expected text, svg or html")


def save_html_pages(runs: list[tuple[str, list[dict]]], path: str, *, width: int = 120,
                    doc: str | None = None, shard: int | None = None) -> None:
    """Several runs' diagrams on one HTML page, each under its title (`--twin`)."""
    console = Console(record=True, width=width, color_system="truecolor", file=io.StringIO())
    for title, events in runs:
        console.print(TraceView(list(events), doc=doc, shard=shard, title=title))
    console.save_html(path)


if __name__ == "__main__":
    def _demo() -> list[dict]:
        """Profile 6, [test][0] on n1 (primary), n2, n3: alice's v2 to n2 is held, bob's v3
        overtakes it, and n2 discards v2 when it finally arrives."""
        events: list[dict] = []

        def ev(kind: str, node: str, **fields) -> None:
            events.append({"kind": kind, "node": node, "t": 1 + len(events) / 100, "lc": len(events) + 1,
                           "seq": len(events), **fields})

        op = {"index": "test", "shard": 0, "doc": "8", "op": "index", "term": 1}

        def replicate(msg: str, dst: str, version: int, seq_no: int, held: bool = False) -> None:
            fields = {"msg": msg, "src": "n1", "dst": dst, "mkind": "replicate", **op,
                      "version": version, "seq_no": seq_no}
            ev("send", "n1", **fields, delay_ms=40)
            if held:
                ev("hold", "n1", **fields)

        def arrive(msg: str, dst: str, version: int, seq_no: int, held_version: int | None = None) -> None:
            ev("deliver", dst, msg=msg, src="n1", dst=dst, mkind="replicate", **op, version=version, seq_no=seq_no)
            if held_version is None:
                ev("apply", dst, **op, version=version, seq_no=seq_no)
            else:
                ev("discard", dst, **op, version=version, seq_no=seq_no, held_version=held_version,
                   held_seq_no=held_version - 1, reason="stale")
            ev("ack", "n1", msg=msg, src=dst, dst="n1", outcome="applied" if held_version is None else "discarded")

        ev("client_request", "n1", client="alice", msg="r1", method="PUT", path="/test/_doc/8", index="test", doc="8")
        ev("primary_write", "n1", **op, version=2, seq_no=1, result="updated")
        replicate("n1:1", "n2", 2, 1, held=True)
        replicate("n1:2", "n3", 2, 1)
        arrive("n1:2", "n3", 2, 1)
        ev("client_request", "n1", client="bob", msg="r2", method="PUT", path="/test/_doc/8?if_seq_no=1&if_primary_term=1",
           index="test", doc="8")
        ev("primary_write", "n1", **op, version=3, seq_no=2, result="updated")
        replicate("n1:3", "n2", 3, 2)
        replicate("n1:4", "n3", 3, 2)
        arrive("n1:3", "n2", 3, 2)
        arrive("n1:4", "n3", 3, 2)
        ev("response", "n1", client="bob", msg="r2", status=200, result="updated", **op, version=3, seq_no=2)
        ev("client_request", "n1", client="alice", msg="r3", method="PUT", path="/test/_doc/8?if_seq_no=1&if_primary_term=1",
           index="test", doc="8")
        ev("conflict", "n1", index="test", shard=0, doc="8", reason="[8]: version conflict, required seqNo [1], "
           "primary term [1]. current document has seqNo [2] and primary term [1]")
        ev("response", "n1", client="alice", msg="r3", status=409, index="test", shard=0, doc="8")
        ev("release", "n1", msg="n1:1", src="n1", dst="n2", mkind="replicate", **op, version=2, seq_no=1)
        arrive("n1:1", "n2", 2, 1, held_version=3)
        ev("response", "n1", client="alice", msg="r1", status=200, result="updated", **op, version=2, seq_no=1)
        return events

    Console().print(TraceView(_demo(), title="alice's v2 reaches n2 after bob's v3"))
