"""Replay: steps numbered as shown, a back key, an animation paced by --speed, and every
step's sentence as text when there is no terminal."""

from __future__ import annotations

import io
import re

from rich.console import Console

from occsim.cluster.tools import cli
from occsim.cluster.view import replay
from occsim.cluster.trace import events as trace
from tests.unit.test_view import out_of_order_trace


def _terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100, height=40,
                   color_system=None, record=True)


def test_without_a_terminal_step_prints_every_numbered_sentence(tmp_path, capsys):
    path = tmp_path / "t.jsonl"
    trace.write(path, out_of_order_trace())
    assert cli.main(["replay", str(path), "--step"]) == 0
    out = capsys.readouterr().out.splitlines()
    said = replay.steps(out_of_order_trace())
    assert out[:len(said)] == [f"[{n}/{len(said)}] {s}" for n, (_, s) in enumerate(said, 1)]
    assert out[0] == f"[1/{len(said)}] alice sends PUT /test/_doc/8 to n1"
    assert any("n2 keeps v3 and discards it" in line for line in out)


def test_the_back_key_shows_the_previous_step_again():
    keys = iter(["n", "n", "b", "q"])
    console = _terminal()
    replay.replay(out_of_order_trace(), step=True, read_key=lambda: next(keys), console=console)
    total = len(replay.steps(out_of_order_trace()))
    frames = re.findall(rf"\[(\d+)/{total}\]", console.file.getvalue())
    assert [n for i, n in enumerate(frames) if i == 0 or frames[i - 1] != n] == [
        "1", "2", "3", "2"]


def test_speed_paces_the_animation(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(replay.time, "sleep", slept.append)
    replay.replay(out_of_order_trace(), speed=2, console=_terminal())
    assert slept == [replay.STEP_SECONDS / 2] * len(replay.steps(out_of_order_trace()))
