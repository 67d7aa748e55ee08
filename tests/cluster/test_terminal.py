"""The live view in a real terminal: `occsim run` and `occsim replay --step` inside tmux."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid

import pytest

from cluster import replay, trace

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


def test_run_shows_every_node_lane_and_the_late_discarded_write(tmp_path):
    trace = tmp_path / "t.jsonl"
    term = Tmux(f"{sys.executable} -m cluster.cli run seed-004 --es-compat 7 --trace {trace}")
    try:
        screen = term.wait_for("PASS seed_004_internal_version")
    finally:
        term.close()
    assert " n1 " in screen and " n2 " in screen
    assert "↯" in screen and "arrived after v4" in screen
    assert "discarded" in screen


def test_replay_steps_one_event_per_key_with_an_explanation(tmp_path):
    trace_file = tmp_path / "t.jsonl"
    subprocess.run([sys.executable, "-m", "cluster.cli", "run", "seed-004", "--sim",
                    "--no-live", "--es-compat", "7", "--trace", str(trace_file)], check=True,
                   capture_output=True)
    said = replay.steps(trace.read(trace_file))
    target = next(n for n, (_, s) in enumerate(said, 1) if "discards it" in s)
    term = Tmux(f"{sys.executable} -m cluster.cli replay {trace_file} --step")
    try:
        term.wait_for(f"[1/{len(said)}]")
        for n in range(2, target + 2):
            term.keys("n")
            term.wait_for(f"[{n}/{len(said)}]", timeout=10)
        term.keys("b")  # back to the discard
        screen = term.wait_for(f"[{target}/{len(said)}]", timeout=10)
        term.keys("q")
    finally:
        term.close()
    words = " ".join(screen.split())  # the sentence may wrap at the terminal's width
    assert "n2 holds doc 1 at v4; v3 from n1 arrives late; n2 keeps v4 and discards it" in words


def test_run_step_holds_each_request_for_a_key_and_ctrl_c_stops_with_a_verdict():
    term = Tmux(f"{sys.executable} -m cluster.cli run seed-004 --step", width=100, height=40)
    try:
        term.wait_for("[step 1] next: alice PUT /website/blog/1")
        term.keys("n")
        term.wait_for("[step 2] next: alice GET /website/blog/1")
        assert "[step 3]" not in term.screen()
        term.keys("C-c")
        screen = term.wait_for("the trace so far")
    finally:
        term.close()
    assert "STOPPED seed_004_internal_version: interrupted (Ctrl-C)" in screen
    assert "Traceback" not in screen and "KeyboardInterrupt" not in screen


def test_at_80x24_the_live_view_keeps_counters_and_legend_and_leaves_one_frame():
    term = Tmux(f"{sys.executable} -m cluster.cli run reordering_at_scale", width=80, height=24)
    try:
        screen = term.wait_for("PASS reordering_at_scale", timeout=120)
    finally:
        term.close()
    frame = screen[:screen.index("PASS reordering_at_scale")].splitlines()[-22:]
    assert any(line.startswith("sent ") for line in frame)
    assert any("↯ out of order" in line for line in frame)
    assert not any(line.rstrip().endswith("...") for line in frame)
    assert screen.count("earlier events") == 1  # the final frame only: none left half drawn
