"""A mistake on the `occsim` command line is one clear line on stderr and a non-zero exit,
never a traceback, and never a silent success."""

from __future__ import annotations

import pytest

from occsim.cluster.tools import cli


@pytest.mark.parametrize(("argv", "complaint"), [
    (["up", "--delay", "100"], "occsim up: delay '100' needs a unit: write e.g. '100ms' or '100s'"),
    (["determinism", "seed-005"], "occsim determinism: no scenario named [seed-005]"),
    (["sweep", "seed-004", "--seeds", "5..1"], "occsim sweep: seeds 5..1 is an empty range"),
    (["check", "/dev/null"], "occsim check: /dev/null holds no trace events"),
    (["replay", "/dev/null"], "occsim replay: /dev/null holds no trace events"),
])
def test_a_mistake_is_one_line_and_exit_2(capsys, argv, complaint):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(complaint) and err.count("\n") == 1, err


def test_save_text_keeps_to_the_width_asked_for(tmp_path, capsys):
    from occsim.cluster.trace import events as trace
    from tests.unit.test_view import out_of_order_trace

    path, saved = tmp_path / "t.jsonl", tmp_path / "t.txt"
    trace.write(path, out_of_order_trace())
    assert cli.main(["replay", str(path), "--width", "80", "--save-text", str(saved)]) == 0
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert max(len(line) for line in lines) <= 80
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 80
