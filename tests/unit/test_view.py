"""The trace view: hand-written traces rendered as plain text and compared with golden strings.

After an intended change to the view, regenerate the golden strings with
`python3 -m tests.unit.test_view` from the repository's top folder (it rewrites the GOLDEN block
of this file), then read the diff.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console
from rich.style import Style

from occsim.cluster.view.diagram import TraceView, explain, render_text, save


class Trace(list):
    """A list of events with one helper per step; t, lc and seq follow the order of the calls."""

    def ev(self, kind: str, node: str, **fields) -> dict:
        event = {"kind": kind, "node": node, "t": 1 + len(self) / 1000, "lc": len(self) + 1,
                 "seq": len(self), **fields}
        self.append(event)
        return event

    def request(self, client: str, node: str, msg: str, path: str, doc: str, method: str = "PUT") -> None:
        self.ev("client_request", node, client=client, msg=msg, method=method, path=path,
                index=path.split("/")[1], doc=doc)

    def send(self, msg: str, src: str, dst: str, op: dict, mkind: str = "replicate") -> dict:
        fields = {"msg": msg, "src": src, "dst": dst, "mkind": mkind, **op}
        self.ev("send", src, **fields, delay_ms=10)
        return fields

    def arrive(self, fields: dict, held: tuple[int, int] | None = None) -> None:
        """Delivery of a replicate message, then the replica's apply (or discard if `held`)."""
        dst = fields["dst"]
        self.ev("deliver", dst, **fields)
        op = {k: v for k, v in fields.items() if k not in ("msg", "src", "dst", "mkind")}
        if held is None:
            self.ev("apply", dst, **op)
        else:
            self.ev("discard", dst, **op, held_version=held[0], held_seq_no=held[1], reason="stale")


def op(doc: str, version: int, seq_no: int | None = None, shard: int = 0, index: str = "test") -> dict:
    fields = {"index": index, "shard": shard, "doc": doc, "op": "index", "version": version}
    return fields if seq_no is None else {**fields, "seq_no": seq_no, "term": 1}


def out_of_order_trace() -> Trace:
    """Profile 6, [test][0]: n1 primary, n2 n3 replicas. Alice's v2 to n2 is held; bob's v3
    overtakes it; when v2 finally reaches n2 it is out of order and discarded."""
    t = Trace()
    t.request("alice", "n1", "r1", "/test/_doc/8", "8")
    t.ev("primary_write", "n1", **op("8", 2, 1), result="updated")
    v2_n2 = t.send("n1:1", "n1", "n2", op("8", 2, 1))
    t.ev("hold", "n1", msg="n1:1", src="n1", dst="n2", mkind="replicate")
    v2_n3 = t.send("n1:2", "n1", "n3", op("8", 2, 1))
    t.arrive(v2_n3)
    t.ev("ack", "n1", msg="n1:2", src="n3", dst="n1", outcome="applied")
    t.request("bob", "n1", "r2", "/test/_doc/8?if_seq_no=1&if_primary_term=1", "8")
    t.ev("primary_write", "n1", **op("8", 3, 2), result="updated")
    v3_n2 = t.send("n1:3", "n1", "n2", op("8", 3, 2))
    v3_n3 = t.send("n1:4", "n1", "n3", op("8", 3, 2))
    t.arrive(v3_n2)
    t.arrive(v3_n3)
    t.ev("response", "n1", client="bob", msg="r2", status=200, result="updated", **op("8", 3, 2))
    t.ev("release", "n1", msg="n1:1", src="n1", dst="n2", mkind="replicate")
    t.arrive(v2_n2, held=(3, 2))
    t.ev("ack", "n1", msg="n1:1", src="n2", dst="n1", outcome="discarded")
    t.ev("response", "n1", client="alice", msg="r1", status=200, result="updated", **op("8", 2, 1))
    return t


def conflict_trace() -> Trace:
    """Profile 5 (no seq_no), external versioning: bob's version 1 loses to alice's version 2."""
    t = Trace()
    t.request("alice", "n1", "r1", "/test/doc/8?version=2&version_type=external", "8")
    t.ev("primary_write", "n1", **op("8", 2), result="created")
    t.arrive(t.send("n1:1", "n1", "n2", op("8", 2)))
    t.ev("response", "n1", client="alice", msg="r1", status=201, result="created", **op("8", 2))
    t.request("bob", "n2", "r2", "/test/doc/8?version=1&version_type=external", "8")
    t.ev("deliver", "n1", msg="n2:1", src="n2", dst="n1", mkind="forward", index="test", doc="8")
    t.ev("conflict", "n1", index="test", shard=0, doc="8",
         reason="[doc][8]: version conflict, current version [2] is higher or equal to the one provided [1]")
    t.ev("deliver", "n2", msg="n1:2", src="n1", dst="n2", mkind="forward_ok", index="test", doc="8")
    t.ev("response", "n2", client="bob", msg="r2", status=409, index="test", shard=0, doc="8")
    return t


def drop_trace() -> Trace:
    """The network loses the replica n2's copy of v1: n2's copy diverges from the primary."""
    t = Trace()
    t.request("carol", "n1", "r1", "/test/_doc/1", "1")
    t.ev("primary_write", "n1", **op("1", 1, 0), result="created")
    t.send("n1:1", "n1", "n2", op("1", 1, 0))
    t.ev("drop", "n1", msg="n1:1", src="n1", dst="n2", mkind="replicate")
    t.arrive(t.send("n1:2", "n1", "n3", op("1", 1, 0)))
    t.ev("replica_failed", "n1", index="test", shard=0, dst="n2", reason="no answer in 1s")
    t.ev("response", "n1", client="carol", msg="r1", status=201, result="created", **op("1", 1, 0))
    return t


def duplicate_trace() -> Trace:
    """The network delivers a second copy of v1 to n2, which discards it (it is not newer)."""
    t = Trace()
    t.ev("primary_write", "n1", **op("1", 1, 0), result="created")
    fields = t.send("n1:1", "n1", "n2", op("1", 1, 0))
    t.ev("duplicate", "n1", msg="n1:1", src="n1", dst="n2", mkind="replicate")
    t.arrive(fields)
    t.arrive(fields, held=(1, 0))
    return t


def faults_trace() -> Trace:
    """n1 (primary) is killed, n3 is promoted, n1 comes back."""
    t = duplicate_trace()
    t.ev("fault", "manager", action="kill", target="n1", detail="SIGKILL")
    t.ev("node_down", "n1", abrupt=True)
    t.ev("promote", "n3", index="test", shard=0, term=2)
    t.ev("node_up", "n1")
    return t


def two_docs_trace() -> Trace:
    """doc 8 on shard 0 and doc 9 on shard 1 interleaved, with a fault in between."""
    t = Trace()
    t.request("alice", "n1", "r1", "/test/_doc/8", "8")
    t.ev("primary_write", "n1", **op("8", 1, 0), result="created")
    t.request("bob", "n2", "r2", "/test/_doc/9", "9")
    t.ev("primary_write", "n2", **op("9", 1, 0, shard=1), result="created")
    t.arrive(t.send("n1:1", "n1", "n2", op("8", 1, 0)))
    t.ev("fault", "manager", action="partition", target="n1|n3")
    t.arrive(t.send("n2:1", "n2", "n3", op("9", 1, 0, shard=1)))
    t.ev("response", "n1", client="alice", msg="r1", status=201, result="created", **op("8", 1, 0))
    t.ev("response", "n2", client="bob", msg="r2", status=201, result="created", **op("9", 1, 0, shard=1))
    return t


def ten_nodes_trace() -> Trace:
    """Ten nodes and two clients: [logs][3] on n10 (primary), n2 and n7."""
    t = Trace()
    for n in range(1, 11):
        t.ev("node_up", f"n{n}")
    t.request("alice", "n4", "r1", "/logs/_doc/x", "x")
    t.request("bob", "n9", "r2", "/logs/_doc/x", "x")
    t.ev("deliver", "n10", msg="n4:1", src="n4", dst="n10", mkind="forward", index="logs", doc="x")
    t.ev("primary_write", "n10", **op("x", 1, 0, shard=3, index="logs"), result="created")
    for i, dst in enumerate(("n2", "n7")):
        t.arrive(t.send(f"n10:{i}", "n10", dst, op("x", 1, 0, shard=3, index="logs")))
    t.ev("response", "n4", client="alice", msg="r1", status=201, result="created",
         **op("x", 1, 0, shard=3, index="logs"))
    return t


def divergent_state_trace() -> Trace:
    """End-of-run `state` events: n2 lags on doc 8 and lacks doc 9; n3 agrees with n1."""
    t = Trace()
    t.ev("primary_write", "n1", **op("9", 1, 3), result="created")
    copies = {
        "n1": [{"id": "8", "version": 3, "seq_no": 2, "term": 1}, {"id": "9", "version": 1, "seq_no": 3, "term": 1}],
        "n2": [{"id": "8", "version": 2, "seq_no": 1, "term": 1}],
        "n3": [{"id": "8", "version": 3, "seq_no": 2, "term": 1}, {"id": "9", "version": 1, "seq_no": 3, "term": 1}],
    }
    for node, docs in copies.items():
        t.ev("state", node, index="test", shard=0, primary=node == "n1", docs=docs)
    return t


def scrolled(events, width: int, max_rows: int) -> str:
    """A live view that keeps only the newest rows, as plain text."""
    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
    console.print(TraceView(events, max_rows=max_rows))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


CASES = {
    "out_of_order_80": lambda: render_text(out_of_order_trace(), width=80),
    "out_of_order_120": lambda: render_text(out_of_order_trace(), width=120),
    "conflict_80": lambda: render_text(conflict_trace(), width=80),
    "drop_80": lambda: render_text(drop_trace(), width=80),
    "duplicate_faults_80": lambda: render_text(faults_trace(), width=80),
    "ten_nodes_80": lambda: render_text(ten_nodes_trace(), width=80),
    "doc_filter_80": lambda: render_text(two_docs_trace(), width=80, doc="9"),
    "shard_filter_80": lambda: render_text(two_docs_trace(), width=80, shard=0),
    "scrolled_80": lambda: scrolled(out_of_order_trace(), 80, max_rows=5),
    "divergence_80": lambda: render_text(divergent_state_trace(), width=80),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    assert CASES[name]() == GOLDEN[name]


@pytest.mark.parametrize("trace", [out_of_order_trace, ten_nodes_trace])
@pytest.mark.parametrize("width", [80, 120])
def test_every_lane_named_and_no_line_too_long(trace, width: int) -> None:
    events = trace()
    text = render_text(events, width=width)
    lanes = {e.get(k) for e in events for k in ("node", "src", "dst", "client")} - {None, "manager"}
    header = " ".join(text.splitlines()[:2])
    assert {name for name in lanes if re.search(rf"(?<!\w){name}(?!\w)", header)} == lanes
    assert max(len(line) for line in text.splitlines()) <= width


def test_out_of_order_delivery_is_marked_and_coloured() -> None:
    text = render_text(out_of_order_trace(), width=80)
    (row,) = [line for line in text.splitlines() if "arrived after" in line]
    assert "↯ v2 arrived after v3 → discarded" in row
    assert row.index("├") < row.index("▶") < row.index("↯")  # from n1, ending on n2's lane
    segments = _styled_segments(TraceView(out_of_order_trace()), 80)
    assert any("↯" in text and style.color.name == "yellow" and style.bold for text, style in segments)


def test_diverging_copy_is_bold_red() -> None:
    segments = _styled_segments(TraceView(divergent_state_trace()), 80)
    lagging = [style for text, style in segments if text.strip() == "v2 #1"]
    agreeing = [style for text, style in segments if text.strip() == "v3 #2"]
    assert lagging and all(s.bold and s.color is not None and s.color.name == "red" for s in lagging)
    assert agreeing and not any(s.color and s.color.name == "red" for s in agreeing)


def test_extend_equals_building_at_once() -> None:
    events = out_of_order_trace()
    view = TraceView(events[:7])
    view.extend(events[7:])
    assert view.events == list(events)
    assert _plain(view, 100) == _plain(TraceView(events), 100)


def test_view_uses_the_width_it_is_given() -> None:
    narrow, wide = (render_text(out_of_order_trace(), width=w).splitlines()[0] for w in (80, 160))
    assert narrow.index("n3") < wide.index("n3")


def test_a_held_forward_without_a_version_is_named_by_its_kind() -> None:
    """A write forwarded to the primary carries the request's version, -3 when it names none
    (MATCH_ANY): the view calls it a forward, not "v-3"."""
    t = Trace()
    t.request("worker-a", "n2", "r1", "/products/_doc/1", "1")
    forward = t.send("n2:1", "n2", "n1", {"index": "products", "shard": 0, "op": "index",
                                          "version": -3}, mkind="forward")
    t.ev("hold", "n2", **forward)
    t.ev("release", "n2", **forward)
    text = render_text(t, width=100)
    assert "held: forward → n1" in text and "released: forward → n1" in text
    assert "v-3" not in text


def test_empty_trace() -> None:
    assert "(no events yet)" in render_text([], width=80)


def test_save_svg_is_well_formed_xml(tmp_path: Path) -> None:
    path = tmp_path / "trace.svg"
    save(out_of_order_trace(), str(path), "svg", title="out of order")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")


def test_save_html_and_text_name_the_lanes(tmp_path: Path) -> None:
    save(out_of_order_trace(), str(tmp_path / "trace.html"), "html")
    save(out_of_order_trace(), str(tmp_path / "trace.txt"), "text", width=80)
    html = (tmp_path / "trace.html").read_text(encoding="utf-8")
    assert all(name in html for name in ("alice", "bob", "n1", "n2", "n3"))
    save(out_of_order_trace(), str(tmp_path / "titled.txt"), "text", width=80, title="v2 after v3")
    assert (tmp_path / "trace.txt").read_text(encoding="utf-8") == GOLDEN["out_of_order_80"]
    assert (tmp_path / "titled.txt").read_text(encoding="utf-8") == "v2 after v3\n" + GOLDEN["out_of_order_80"]
    with pytest.raises(ValueError):
        save([], str(tmp_path / "x"), "png")


def test_a_bulk_replica_answer_is_drawn_once_as_its_ack() -> None:
    t = Trace()
    t.ev("primary_write", "n1", **op("1", 1, 0), result="created")
    t.ev("primary_write", "n1", **op("2", 1, 1), result="created")
    bulk = t.send("n1:1", "n1", "n2", {"index": "test", "shard": 0}, mkind="replicate_bulk")
    t.ev("deliver", "n2", **bulk)
    t.ev("apply", "n2", **op("1", 1, 0))
    t.ev("apply", "n2", **op("2", 1, 1))
    answer = t.send("n2:1", "n2", "n1", {"index": "test", "shard": 0}, mkind="replicate_bulk_ok")
    t.ev("deliver", "n1", **answer, reply_to="n1:1")
    t.ev("ack", "n1", src="n2", dst="n1", index="test", shard=0, items=2, outcome="applied")
    text = render_text(t, width=80)
    assert "replicate_bulk_ok" not in text
    assert [line for line in text.splitlines() if "replicate_bulk" in line]
    assert len([line for line in text.splitlines() if "applies doc" in line]) == 2
    diagram = text.split("shard copies")[0].splitlines()
    assert len([line for line in diagram if line.rstrip().endswith("applied")]) == 1


def _legend_of(text: str) -> str:
    """The lines after the counters."""
    lines = text.splitlines()
    return "\n".join(lines[max(i for i, line in enumerate(lines) if "delivered" in line) + 1:])


def test_the_legend_names_every_symbol_drawn() -> None:
    text = render_text(faults_trace(), width=80)
    legend = _legend_of(text)
    for symbol in ("●", "◆", "✦", "▼", "┆", "★", "▲"):
        assert symbol in text.split("shard copies")[0] and symbol in legend, symbol
    assert "⊘ refused, failed" in _legend_of(render_text(drop_trace(), width=80))
    assert "✗ lost" in _legend_of(render_text(drop_trace(), width=80))


def test_a_view_fitted_to_80x24_keeps_counters_and_legend() -> None:
    events = out_of_order_trace() * 1  # 15 rows of diagram: more than 24 lines in all
    events = [*events, *[{**e, "t": e["t"] + 1, "seq": e["seq"] + 100} for e in events]]
    console = Console(record=True, width=80, height=24, color_system=None, file=io.StringIO())
    console.print(TraceView(events, height=24))
    lines = console.export_text().splitlines()
    assert len(lines) <= 24
    assert "earlier events" in lines[2] or "earlier events" in lines[1]
    assert any(line.startswith("sent ") for line in lines)
    assert "↯ out of order" in lines[-1]
    assert not any(line.endswith("...") for line in lines)


def test_ascii_glyphs_draw_the_same_view_in_ascii() -> None:
    for trace in (out_of_order_trace(), faults_trace(), drop_trace()):
        unicode = render_text(trace, width=80).splitlines()
        ascii_ = render_text(trace, width=80, glyphs="ascii").splitlines()
        assert all(line.isascii() for line in ascii_)
        assert [len(line) for line in ascii_] == [len(line) for line in unicode]
    assert "~ v2 arrived after v3" in render_text(out_of_order_trace(), width=80, glyphs="ascii")


# Characters of the view beyond ASCII, each checked present in DejaVu Sans Mono (Debian's stock
# monospace font: `fc-list ":charset=XXXX" family`); ⏸ (U+23F8) and ⤫ (U+292B) are not.
FONT_SAFE = set("●○✗⊘◆‖▶◀↯✦↻★▼▲†┆│├┤─…→·–—\xa0")  # \xa0: rich's SVG spaces


def test_the_svg_uses_only_glyphs_a_stock_monospace_font_has(tmp_path: Path) -> None:
    for name, trace in (("a", out_of_order_trace()), ("b", faults_trace()), ("c", drop_trace())):
        save(trace, str(tmp_path / f"{name}.svg"), "svg")
        text = "".join(ET.parse(tmp_path / f"{name}.svg").getroot().itertext())
        assert {ch for ch in text if not ch.isascii()} <= FONT_SAFE


def test_a_long_note_goes_on_below_its_row_instead_of_being_cut() -> None:
    text = render_text(conflict_trace(), width=80)
    assert "…" not in text
    notes = " ".join(line[38:].strip() for line in text.splitlines())
    assert ("[doc][8]: version conflict, current version [2] is higher or equal to the one "
            "provided [1]") in notes


def test_an_arrow_between_close_lanes_keeps_a_short_label() -> None:
    from occsim.cluster.view.diagram import Row, _draw_row

    (line,) = _draw_row(Row(0, 1, labels=("doc 1 v3 #2", "v3 #2", "v3"), topic="doc 1"),
                        [2, 6], 9, 60)
    assert line.plain == "  ├v3▶│  doc 1"


def _explained(trace: list[dict]) -> list[str | None]:
    return [explain(event, trace[:i]) for i, event in enumerate(trace)]


def test_explain_out_of_order() -> None:
    trace = out_of_order_trace()
    sentences = dict(zip((f"{e['kind']}@{i}" for i, e in enumerate(trace)), _explained(trace)))
    assert sentences["client_request@0"] == "alice sends PUT /test/_doc/8 to n1"
    assert sentences["primary_write@1"] == "n1, primary of [test][0], assigns doc 8 version 2, seq_no 1, term 1"
    assert sentences["send@2"] is None
    assert sentences["hold@3"] == "the network holds n1's replicate of doc 8 v2 (#1) to n2; later writes can overtake it"
    assert sentences["apply@6"] == "n3 applies doc 8 v2 (#1) from n1: it held no copy of doc 8 yet"
    assert sentences["ack@7"] == "n3 tells n1 it applied doc 8 v2 (#1)"
    assert sentences["apply@15"] == "n3 applies doc 8 v3 (#2) from n1: #2 is newer than the #1 (v2) it held"
    assert sentences["response@16"] == "n1 answers bob: 200 updated: doc 8 v3 (#2) is acknowledged"
    assert sentences["release@17"] == "the network releases n1's replicate of doc 8 v2 (#1) to n2"
    assert sentences["deliver@18"] == "n2 receives doc 8 v2 (#1) from n1 after v3 (#2): out of order"
    assert sentences["discard@19"] == "n2 holds doc 8 at v3; v2 from n1 arrives late; n2 keeps v3 and discards it"


def test_explain_conflict_drop_duplicate_faults() -> None:
    said = _explained(conflict_trace())
    assert said[6] == "bob sends PUT /test/doc/8?version=1&version_type=external to n2"
    assert said[7] == "n1 receives a forward message from n2 about doc 8"
    assert said[8] == ("n1 refuses the write to doc 8 with 409: [doc][8]: version conflict, "
                       "current version [2] is higher or equal to the one provided [1]")
    assert said[9] is None  # forward_ok: the response says it
    assert said[10] == "n2 answers bob: 409: version conflict"
    assert _explained(drop_trace())[3] == "the network loses n1's replicate of doc 1 v1 (#0) to n2"
    faults = faults_trace()
    said = _explained(faults)
    assert said[2] == "the network delivers n1's replicate of doc 1 v1 (#0) to n2 a second time"
    assert said[6] == "n2 holds doc 1 at v1; v1 from n1 is not newer; n2 keeps v1 and discards it"
    assert said[7:] == ["fault injected: n1 is killed (SIGKILL)",
                        "n1's process dies at once (SIGKILL): what it had not sent is lost",
                        "n3 becomes primary of [test][0] with term 2", "n1 comes up"]
    assert explain(divergent_state_trace()[1], []) is None  # state


def _styled_segments(view: TraceView, width: int) -> list:
    console = Console(width=width, color_system="truecolor", file=io.StringIO())
    return [(s.text, s.style or Style.null()) for s in console.render(view)]


def _plain(view: TraceView, width: int) -> str:
    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
    console.print(view)
    return console.export_text()


def regenerate() -> None:
    """Rewrite the GOLDEN block of this file from the current rendering of every case."""
    path = Path(__file__)
    body = "".join(f'    {name!r}: """\\\n{CASES[name]()}""",\n' for name in sorted(CASES))
    source = path.read_text(encoding="utf-8")
    start, end = "# --- golden: generated by regenerate() ---\n", "# --- end of golden ---\n"
    head, rest = source.split(start)
    path.write_text(f"{head}{start}GOLDEN = {{\n{body}}}\n{end}{rest.split(end)[1]}", encoding="utf-8")
    print(f"rewrote {len(CASES)} golden strings in {path}")


# --- golden: generated by regenerate() ---
GOLDEN = {
    'conflict_80': """\
 alice       bob         n1         n2
   │          │          │          │
   ├─────PUT doc 8──────▶│          │  PUT /test/doc/8?version=2
   │          │          │          │    &version_type=external
   │          │          ●          │  n1 writes doc 8 → v2
   │          │          ├───v2────▶│  doc 8 applied
   │◀───201 created v2───┤          │
   │          ├─────PUT doc 8──────▶│  PUT /test/doc/8?version=1
   │          │          │          │    &version_type=external
   │          │          │◀─forward─┤  doc 8
   │          │         409         │  [doc][8]: version conflict, current
   │          │          │          │    version [2] is higher or equal to the
   │          │          │          │    one provided [1]
   │          │          ├─────────▶│  forward_ok doc 8
   │          │◀────────409─────────┤

shard copies (* primary)
shard       doc   n1    n2
──────────────────────────
[test][0]   8     v2*   v2
sent 1  delivered 3  out of order 0  discarded 0  conflicts 1  dropped 0
duplicated 0  held 0
● write, applied · 409 conflict
""",
    'divergence_80': """\
  n1              n2              n3
  │               │               │
  ●               │               │  n1 writes doc 9 → v1 #3

shard copies (* primary)
shard       doc     n1      n2      n3
────────────────────────────────────────
[test][0]   8     v3 #2*   v2 #1   v3 #2
            9     v1 #3*     –     v1 #3
sent 0  delivered 0  out of order 0  discarded 0  conflicts 0  dropped 0
duplicated 0  held 0
● write, applied
""",
    'doc_filter_80': """\
trace — only doc 9
 alice    bob      n1      n2      n3
   │       │       │       │       │
   │       ├──PUT doc 9───▶│       │  PUT /test/_doc/9
   │       │       │       ●       │  n2 writes doc 9 → v1 #0
   │       │       ✦       │       ✦  fault: partition n1|n3
   │       │       │       ├──v1──▶│  doc 9 applied
   │       │◀────201 v1────┤       │  created v1

shard copies (* primary)
shard       doc     n2      n3
────────────────────────────────
[test][1]   9     v1 #0*   v1 #0
sent 1  delivered 1  out of order 0  discarded 0  conflicts 0  dropped 0
duplicated 0  held 0
● write, applied · ✦ fault injected
""",
    'drop_80': """\
 carol        n1         n2         n3
   │          │          │          │
   ├──PUT 1──▶│          │          │  PUT /test/_doc/1
   │          ●          │          │  n1 writes doc 1 → v1 #0
   │          ├──v1──✗   │          │  doc 1 lost on the way to n2
   │          ├────doc 1 v1 #0─────▶│  applied
   │          │          ⊘          │  n1 fails the copy on n2: no answer in 1s
   │◀─201 v1──┤          │          │  created v1

shard copies (* primary)
shard       doc     n1     n2    n3
─────────────────────────────────────
[test][0]   1     v1 #0*   –    v1 #0
sent 2  delivered 1  out of order 0  discarded 0  conflicts 0  dropped 1
duplicated 0  held 0
● write, applied · ✗ lost · ⊘ refused, failed
""",
    'duplicate_faults_80': """\
  n1              n2              n3
  │               │               │
  ●               │               │  n1 writes doc 1 → v1 #0
  ◆               │               │  duplicated: doc 1 v1 #0 → n2
  ├─doc 1 v1 #0──▶│               │  applied
  ├─doc 1 v1 #0──▶│               │  duplicate → stale, kept v1
  ✦               │               │  fault: kill n1 (SIGKILL)
  ▼               │               │  n1 down (abrupt)
  ┆               │               ★  n3 promoted: primary of [test][0], term 2
  ▲               │               │  n1 up

shard copies (* primary)
shard       doc    n1      n2     n3
────────────────────────────────────
[test][0]   1     v1 #0   v1 #0   –*
sent 1  delivered 2  out of order 0  discarded 1  conflicts 0  dropped 0
duplicated 1  held 0
● write, applied · ◆ duplicate · ✦ fault injected · ★ promoted · ▼ down · ▲ up
┆ lane of a node that is down
""",
    'out_of_order_120': """\
 alice    bob      n1      n2      n3                                          shard copies (* primary)
   │       │       │       │       │                                           shard       doc     n1      n2      n3
   ├──PUT doc 8───▶│       │       │  PUT /test/_doc/8                         ────────────────────────────────────────
   │       │       ●       │       │  n1 writes doc 8 → v2 #1                  [test][0]   8     v3 #2*   v3 #2   v3 #2
   │       │       ‖       │       │  held: doc 8 v2 #1 → n2                   sent 4  delivered 4  out of order 1
   │       │       ├─doc 8 v2 #1──▶│  applied                                  discarded 1  conflicts 0  dropped 0
   │       │       │◀─────ack──────┤  applied                                  duplicated 0  held 1
   │       ├─PUT──▶│       │       │  PUT /test/_doc/8?if_seq_no=1
   │       │       │       │       │    &if_primary_term=1
   │       │       ●       │       │  n1 writes doc 8 → v3 #2
   │       │       ├──v3──▶│       │  doc 8 applied
   │       │       ├─doc 8 v3 #2──▶│  applied
   │       │◀─200──┤       │       │  updated v3
   │       │       ▶       │       │  released: doc 8 v2 #1 → n2
   │       │       ├──v2──▶↯       │  doc 8 ↯ v2 arrived after v3 → discarded
   │       │       │◀─ack──┤       │  discarded
   │◀────200 v2────┤       │       │  updated v2
● write, applied · ‖ held · ▶ released · ↯ out of order
""",
    'out_of_order_80': """\
 alice    bob      n1      n2      n3
   │       │       │       │       │
   ├──PUT doc 8───▶│       │       │  PUT /test/_doc/8
   │       │       ●       │       │  n1 writes doc 8 → v2 #1
   │       │       ‖       │       │  held: doc 8 v2 #1 → n2
   │       │       ├─doc 8 v2 #1──▶│  applied
   │       │       │◀─────ack──────┤  applied
   │       ├─PUT──▶│       │       │  PUT /test/_doc/8?if_seq_no=1
   │       │       │       │       │    &if_primary_term=1
   │       │       ●       │       │  n1 writes doc 8 → v3 #2
   │       │       ├──v3──▶│       │  doc 8 applied
   │       │       ├─doc 8 v3 #2──▶│  applied
   │       │◀─200──┤       │       │  updated v3
   │       │       ▶       │       │  released: doc 8 v2 #1 → n2
   │       │       ├──v2──▶↯       │  doc 8 ↯ v2 arrived after v3 → discarded
   │       │       │◀─ack──┤       │  discarded
   │◀────200 v2────┤       │       │  updated v2

shard copies (* primary)
shard       doc     n1      n2      n3
────────────────────────────────────────
[test][0]   8     v3 #2*   v3 #2   v3 #2
sent 4  delivered 4  out of order 1  discarded 1  conflicts 0  dropped 0
duplicated 0  held 1
● write, applied · ‖ held · ▶ released · ↯ out of order
""",
    'scrolled_80': """\
 alice    bob      n1      n2      n3
… 9 earlier events
   │       │       │       │       │
   │       │◀─200──┤       │       │  updated v3
   │       │       ▶       │       │  released: doc 8 v2 #1 → n2
   │       │       ├──v2──▶↯       │  doc 8 ↯ v2 arrived after v3 → discarded
   │       │       │◀─ack──┤       │  discarded
   │◀────200 v2────┤       │       │  updated v2

shard copies (* primary)
shard       doc     n1      n2      n3
────────────────────────────────────────
[test][0]   8     v3 #2*   v3 #2   v3 #2
sent 4  delivered 4  out of order 1  discarded 1  conflicts 0  dropped 0
duplicated 0  held 1
● write, applied · ‖ held · ▶ released · ↯ out of order
""",
    'shard_filter_80': """\
trace — only shard 0
 alice    bob      n1      n2      n3
   │       │       │       │       │
   ├──PUT doc 8───▶│       │       │  PUT /test/_doc/8
   │       │       ●       │       │  n1 writes doc 8 → v1 #0
   │       │       ├──v1──▶│       │  doc 8 applied
   │       │       ✦       │       ✦  fault: partition n1|n3
   │◀────201 v1────┤       │       │  created v1

shard copies (* primary)
shard       doc     n1      n2
────────────────────────────────
[test][0]   8     v1 #0*   v1 #0
sent 1  delivered 1  out of order 0  discarded 0  conflicts 0  dropped 0
duplicated 0  held 0
● write, applied · ✦ fault injected
""",
    'ten_nodes_80': """\
 alice     n1      n3      n5      n7      n9
      bob      n2      n4      n6      n8     n10
   │   │   │   │   │   │   │   │   │   │   │   │
   │   │   ▲   │   │   │   │   │   │   │   │   │  n1 up
   │   │   │   ▲   │   │   │   │   │   │   │   │  n2 up
   │   │   │   │   ▲   │   │   │   │   │   │   │  n3 up
   │   │   │   │   │   ▲   │   │   │   │   │   │  n4 up
   │   │   │   │   │   │   ▲   │   │   │   │   │  n5 up
   │   │   │   │   │   │   │   ▲   │   │   │   │  n6 up
   │   │   │   │   │   │   │   │   ▲   │   │   │  n7 up
   │   │   │   │   │   │   │   │   │   ▲   │   │  n8 up
   │   │   │   │   │   │   │   │   │   │   ▲   │  n9 up
   │   │   │   │   │   │   │   │   │   │   │   ▲  n10 up
   ├────PUT doc x─────▶│   │   │   │   │   │   │  PUT /logs/_doc/x
   │   ├────────────PUT doc x─────────────▶│   │  PUT /logs/_doc/x
   │   │   │   │   │   ├────forward doc x─────▶│
   │   │   │   │   │   │   │   │   │   │   │   ●  n10 writes doc x → v1 #0
   │   │   │   │◀─────────doc x v1 #0──────────┤  applied
   │   │   │   │   │   │   │   │   │◀──v1 #0───┤  doc x applied
   │◀──201 created v1──┤   │   │   │   │   │   │

shard copies (* primary)
shard       doc    n2      n7      n10
────────────────────────────────────────
[logs][3]   x     v1 #0   v1 #0   v1 #0*
sent 2  delivered 3  out of order 0  discarded 0  conflicts 0  dropped 0
duplicated 0  held 0
● write, applied · ▲ up
""",
}
# --- end of golden ---


if __name__ == "__main__":
    regenerate()


def test_refresh_and_search_rows_and_sentences() -> None:
    trace = Trace()
    trace.ev("primary_write", "n1", **op("1", 1, 0), result="created")
    trace.ev("refresh", "n2", index="test", shard=0)
    trace.ev("search", "n2", index="test", shard=0, hits=1, docs=[["1", 1, 0]])
    trace.ev("search", "n1", index="test", shard=0, hits=0, docs=[])
    text = render_text(trace, width=100)
    assert "↻" in text and "n2 refreshes [test][0]" in text
    assert "⌕" in text and "n2 searches [test][0]: doc 1 v1 #0" in text
    assert "n1 searches [test][0]: no hits" in text
    said = _explained(trace)
    assert said[1] == "n2 refreshes its copy of [test][0]: searches now see its latest writes"
    assert said[2] == ("n2 searches its copy of [test][0] as of its last refresh and finds "
                       "doc 1 v1")
    assert said[3].endswith("finds nothing")
    narrowed = render_text(trace, width=100, doc="1")
    assert "n2 searches [test][0]: doc 1 v1 #0" in narrowed and "no hits" not in narrowed
