"""Trace files: what `trace.write` writes reads back as it was, and a file that does not hold
trace events is refused with its path and line, by `trace.read` and by the commands that read
traces (`occsim check`, `occsim replay`), which exit 2 instead of raising."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from occsim.cluster.tools import cli
from occsim.cluster.trace import events as trace

GOOD = [{"kind": "cluster", "node": "manager", "t": 0.0, "lc": 1, "seq": 0, "es_compat": 7},
        {"kind": "primary_write", "node": "n1", "t": 0.5, "lc": 2, "seq": 0, "index": "i",
         "shard": 0, "doc": "1", "op": "index", "version": 1, "seq_no": 0, "term": 1,
         "result": "created"}]


def test_written_trace_reads_back(tmp_path):
    path = tmp_path / "t.jsonl"
    trace.write(path, GOOD)
    assert trace.read(path) == GOOD


@pytest.mark.parametrize(("line", "complaint"), [
    ("nope", "not a JSON line"),
    ("[1, 2]", "a JSON object with a string [kind]"),
    ('{"node": "n1"}', "a JSON object with a string [kind]"),
    ('{"kind": "send", "doc": ["x"]}', '[doc] must be a string or a number, not ["x"]'),
    ('{"kind": "send", "node": {"n": 1}}', "[node] must be a string or a number"),
    ('{"kind": "send", "index": true}', "[index] must be a string or a number, not true"),
    ('{"kind": "send", "t": "soon"}', '[t] must be a number, not "soon"'),
    ('{"kind": "cluster", "es_compat": "7"}', "[es_compat] must be a major version"),
    ('{"kind": "cluster", "format": 2, "es_compat": 7}', "a trace of format 2; this occsim "
                                                          "reads formats 0 to 1"),
    ('{"kind": "cluster", "format": "1", "es_compat": 7}', 'a trace of format "1"'),
])
def test_a_bad_line_is_refused_with_its_place(tmp_path, line: str, complaint: str):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(GOOD[0]) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(trace.TraceError) as caught:
        trace.read(path)
    assert str(caught.value).startswith(f"{path}:3: ")
    assert complaint in str(caught.value)


@pytest.mark.parametrize("command", ["check", "replay"])
def test_commands_reading_a_bad_trace_exit_2_with_the_reason(tmp_path, capsys, command):
    path = tmp_path / "t.jsonl"
    path.write_text('{"kind": "primary_write", "doc": ["x"]}\n', encoding="utf-8")
    assert cli.main([command, str(path)]) == 2
    assert capsys.readouterr().err == (f"occsim {command}: {path}:1: [doc] must be a string "
                                       'or a number, not ["x"]\n')
    assert cli.main([command, str(tmp_path / "missing.jsonl")]) == 2
    assert "No such file or directory" in capsys.readouterr().err


def test_check_of_a_good_trace_still_passes(tmp_path, capsys):
    path = tmp_path / "t.jsonl"
    trace.write(path, GOOD)
    assert cli.main(["check", str(path)]) == 0
    assert capsys.readouterr().out.startswith("No invariant violations.\n")


def test_a_run_names_the_trace_format_in_its_first_event(tmp_path):
    path = tmp_path / "t.jsonl"
    assert cli.main(["run", "seed-004", "--sim", "--no-live", "--trace", str(path)]) == 0
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert (first["kind"], first["format"]) == ("cluster", trace.FORMAT)


@pytest.mark.parametrize("name", ["lost_after_two_failovers.jsonl",
                                  "red_after_every_copy_away.jsonl"])
def test_a_trace_written_before_the_format_version_still_reads(name: str, capsys):
    path = Path(__file__).parents[1] / "data" / name
    assert "format" not in trace.read(path)[0]
    assert cli.main(["check", str(path)]) in (0, 1)  # 2: unreadable
    assert capsys.readouterr().err == ""
