"""Trace equivalence (cluster/trace/equivalence.py): counters, clocks and message ids do not matter; what
a node did, in its order, what a client was answered and what copies end with do."""

from __future__ import annotations

import json

from occsim.cluster.trace import equivalence as traceeq


def trace(shift: int = 0, msg: str = "n1:5") -> list[dict]:
    return [
        {"kind": "send", "node": "n1", "msg": msg, "src": "n1", "dst": "n2", "mkind": "replicate",
         "t": 0.1 + shift, "lc": 1 + shift, "seq": 0, "order": 3 + shift},
        {"kind": "apply", "node": "n2", "index": "i", "shard": 0, "doc": "d", "op": "index",
         "version": 1, "seq_no": 0, "term": 1, "digest": "abc", "t": 0.2 + shift,
         "lc": 2 + shift, "seq": 0},
        {"kind": "deliver", "node": "n2", "msg": msg, "reply_to": None, "t": 0.3, "lc": 3,
         "seq": 1},
        {"kind": "response", "node": "n1", "msg": "r1", "status": 201, "result": "created",
         "t": 0.4, "lc": 4, "seq": 1},
    ]


def test_counters_clocks_and_message_ids_are_ignored():
    assert traceeq.differences(trace(), trace(shift=7, msg="n1:99")) == []


def test_interleaving_across_nodes_is_ignored_but_not_within_a_node():
    a = trace()
    moved = [a[1], a[0], a[2], a[3]]  # n2's apply before n1's send: another interleaving
    assert traceeq.differences(a, moved) == []
    swapped = [a[0], a[2], a[1], a[3]]  # n2 delivered before it applied
    assert any(d.startswith("n2: event 0 differs") for d in traceeq.differences(a, swapped))


def test_a_different_answer_or_final_copy_is_named():
    b = trace()
    b[3] = {**b[3], "status": 200}
    assert "client answers differ" in traceeq.differences(trace(), b)
    c = trace()
    c[1] = {**c[1], "version": 2}
    assert "final copies differ" in traceeq.differences(trace(), c)
    assert "n1: 2 events against 1" in traceeq.differences(trace(), trace()[:3])


def test_dump_and_diff_of_simulated_runs(tmp_path, capsys):
    assert traceeq.dump(tmp_path / "a", range(1, 2), ["lost_update"]) == 5
    assert traceeq.dump(tmp_path / "b", range(1, 2), ["lost_update"]) == 5
    assert traceeq.main(["diff", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert capsys.readouterr().out.strip() == "runs equivalent"
    run = tmp_path / "b" / "lost_update-p7-s1.jsonl"
    events = [json.loads(line) for line in run.read_text().splitlines()]
    first = next(e for e in events if e["kind"] == "response")
    first["status"] = 599
    run.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert traceeq.main(["diff", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert "lost_update-p7-s1: client answers differ" in capsys.readouterr().out


def test_unreadable_input_is_one_line(tmp_path, capsys):
    assert traceeq.main(["diff", str(tmp_path / "none.jsonl"), str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("traceeq: cannot read") and err.count("\n") == 1
