"""The live view in a real terminal: `occsim run` and `occsim replay --step` inside tmux."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid

import pytest

from cluster import trace
from cluster.view import explain

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """A detached tmux session of a fixed size running one command."""

    def __init__(self, command: str, width: int = 150, height: int = 60) -> None:
        self.name = f"occsim-{uuid.uuid4().hex[:8]}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(width),
                        "-y", str(height), command], check=True)
        subprocess.run(["tmux", "set-option", "-t", self.name, "remain-on-exit", "on"],
                       check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-J", "-S", "-2000", "-t",
                               self.name], capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def test_play_in_an_80_by_24_terminal(tmp_path):
    """`occsim play seed-004`: let the simulation pick up to the race, deliver v4 from the
    list, then v3, and read n2's discard and the verdict on the screen."""
    from cluster.schedule import Schedule

    saved = tmp_path / "race.json"
    term = Tmux(f"{sys.executable} -m cluster.cli play seed-004 --save {saved}", 80, 24)
    try:
        term.wait_for("n1 → n2  replicate  doc 1  v1")
        for step in range(1, 5):
            term.keys("n")
            term.wait_for(f"step {step}", timeout=30)
        screen = term.wait_for("held by the story: n1 → n2  replicate  doc 1  v3")
        assert "n1 → n2  replicate  doc 1  v4  #3  term 1" in screen
        term.keys("Enter")
        term.wait_for("n2 applies doc 1 v4 (#3) from n1", timeout=30)
        term.keys("n")
        term.wait_for("step 6", timeout=30)
        term.keys("Enter")
        screen = term.wait_for("n2 keeps v4 and discards it", timeout=30)
        term.keys("n")
        screen = term.wait_for("the story has ended", timeout=30)
        assert "PASS seed_004_internal_version" in screen
        term.keys("s")
        term.wait_for("saved 8 choices", timeout=30)
        term.keys("q")
    finally:
        term.close()
    assert len(Schedule.load(str(saved)).choices) == 8
    assert max(len(line) for line in screen.splitlines()) <= 80


def test_run_shows_every_node_lane_and_the_late_discarded_write(tmp_path):
    trace = tmp_path / "t.jsonl"
    term = Tmux(f"{sys.executable} -m cluster.cli run seed-004 --es-compat 7 --trace {trace}")
    try:
        screen = term.wait_for("PASS seed_004_internal_version")
    finally:
        term.close()
    assert " n1 " in screen and " n2 " in screen
    assert "⤫" in screen and "arrived after v4" in screen
    assert "discarded" in screen


def test_replay_steps_one_event_per_key_with_an_explanation(tmp_path):
    trace_file = tmp_path / "t.jsonl"
    subprocess.run([sys.executable, "-m", "cluster.cli", "run", "seed-004", "--sim",
                    "--no-live", "--es-compat", "7", "--trace", str(trace_file)], check=True,
                   capture_output=True)
    events = trace.read(trace_file)
    explained = [i for i, e in enumerate(events) if explain(e, events[:i])]
    target = next(i for i in explained if "discards it" in explain(events[i], events[:i]))
    term = Tmux(f"{sys.executable} -m cluster.cli replay {trace_file} --step")
    try:
        term.wait_for(f"[{explained[0] + 1}/{len(events)}]")
        for i in explained[1:explained.index(target) + 1]:
            term.keys("n")
            screen = term.wait_for(f"[{i + 1}/{len(events)}]", timeout=10)
        term.keys("q")
    finally:
        term.close()
    words = " ".join(screen.split())  # the sentence may wrap at the terminal's width
    assert "n2 holds doc 1 at v4; v3 from n1 arrives late; n2 keeps v4 and discards it" in words
