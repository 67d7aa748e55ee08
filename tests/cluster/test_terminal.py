"""The live view in a real terminal: `occsim run` and `occsim replay --step` inside tmux."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from occsim.cluster.view import replay
from occsim.cluster.trace import events as trace

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """A detached tmux session of a fixed size running one command, on a tmux server of its own.

    Its own server (a socket of its own), because a shared one exits when its last session is
    killed and a session started in that moment fails with "server exited unexpectedly".
    `remain-on-exit` from the server's start (tmux.conf beside this file), because a command
    that ends before `new-session` returns would otherwise take the server with it, and the
    test would read only tmux's message. (What such a command printed may still be lost:
    tmux can close its terminal before reading it.)"""

    def __init__(self, command: str, width: int = 150, height: int = 60) -> None:
        self.name = f"occsim-{uuid.uuid4().hex[:8]}"
        self.socket = Path(tempfile.gettempdir()) / f"{self.name}.tmux"
        config = Path(__file__).with_name("tmux.conf")
        self.tmux = ["tmux", "-S", str(self.socket), "-f", str(config)]
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", str(width),
                        "-y", str(height), command], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-J", "-S", "-2000", "-t",
                               self.name], capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def tmux_says(self, form: str) -> str:
        """A tmux format (`#{pane_dead}` …) expanded for this session."""
        return subprocess.run([*self.tmux, "display-message", "-p", "-t", self.name, form],
                              capture_output=True, text=True).stdout.strip()

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
        self.socket.unlink(missing_ok=True)


def test_play_in_an_80_by_24_terminal(tmp_path):
    """`occsim play seed-004`: let the simulation pick up to the race, deliver v4 from the
    list, then v3, and read n2's discard and the verdict on the screen."""
    from occsim.cluster.sim.schedule import Schedule

    saved = tmp_path / "race.json"
    term = Tmux(f"{sys.executable} -m occsim.cluster.tools.cli play seed-004 --save {saved}", 80, 24)
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
    term = Tmux(f"{sys.executable} -m occsim.cluster.tools.cli run seed-004 --es-compat 7 --trace {trace}")
    try:
        screen = term.wait_for("PASS seed_004_internal_version")
    finally:
        term.close()
    assert " n1 " in screen and " n2 " in screen
    assert "↯" in screen and "arrived after v4" in screen
    assert "discarded" in screen


def test_replay_steps_one_event_per_key_with_an_explanation(tmp_path):
    trace_file = tmp_path / "t.jsonl"
    subprocess.run([sys.executable, "-m", "occsim.cluster.tools.cli", "run", "seed-004", "--sim",
                    "--no-live", "--es-compat", "7", "--trace", str(trace_file)], check=True,
                   capture_output=True)
    said = replay.steps(trace.read(trace_file))
    target = next(n for n, (_, s) in enumerate(said, 1) if "discards it" in s)
    term = Tmux(f"{sys.executable} -m occsim.cluster.tools.cli replay {trace_file} --step")
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
    term = Tmux(f"{sys.executable} -m occsim.cluster.tools.cli run seed-004 --step", width=100, height=40)
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
    term = Tmux(f"{sys.executable} -m occsim.cluster.tools.cli run reordering_at_scale", width=80, height=24)
    try:
        screen = term.wait_for("PASS reordering_at_scale", timeout=120)
    finally:
        term.close()
    frame = screen[:screen.index("PASS reordering_at_scale")].splitlines()[-22:]
    assert any(line.startswith("sent ") for line in frame)
    assert any("↯ out of order" in line for line in frame)
    assert not any(line.rstrip().endswith("...") for line in frame)
    assert screen.count("earlier events") == 1  # the final frame only: none left half drawn


def test_up_live_draws_each_request_and_check_reads_the_growing_trace(tmp_path):
    import urllib.request

    from occsim.cluster.stories.runner import free_port_block

    port, trace_file = free_port_block(2), tmp_path / "up.jsonl"
    term = Tmux(f"cd {tmp_path} && PYTHONPATH={ROOT} {sys.executable} -m occsim.cluster.tools.cli up --live "
                f"--nodes 2 --port {port} --trace {trace_file}", width=120, height=40)
    try:
        term.wait_for("ready in")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/test_index/test_type/8", method="PUT",
            data=b'{"a": 1}', headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(request, timeout=30).status == 201
        term.wait_for("PUT doc 8", timeout=10)
        deadline = time.monotonic() + 10
        while "primary_write" not in trace_file.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, "the write never reached the trace file"
            time.sleep(0.05)
        check = subprocess.run([sys.executable, "-m", "occsim.cluster.tools.cli", "check", str(trace_file)],
                               capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "no final copies yet" in check.stdout
        term.keys("C-c")
        term.wait_for("events written to")
    finally:
        term.close()
    final = subprocess.run([sys.executable, "-m", "occsim.cluster.tools.cli", "check", str(trace_file)],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert (final.returncode, final.stdout) == (0, "No invariant violations.\n")


def test_p_pauses_a_live_run_before_its_next_request_and_c_runs_on():
    term = Tmux(f"{sys.executable} -m occsim.cluster.tools.cli run reordering_at_scale", width=120, height=40)
    try:
        term.wait_for("│", timeout=60)  # the live view is drawing
        term.keys("p")
        term.wait_for("paused: the run stops before its next request")
        screen = term.wait_for("(any key: go · c: run on · q: stop)")
        assert "PASS reordering_at_scale" not in screen
        term.keys("c")
        term.wait_for("PASS reordering_at_scale", timeout=120)
    finally:
        term.close()


def test_a_command_that_ends_at_once_leaves_its_session_behind():
    """The harness itself: a pane's command may end before `new-session` returns (an `occsim`
    that fails at start does); its session stays, with the dead pane, to be read. (Not always
    with its exit status: tmux can close the pane's terminal before it reaps the command.)"""
    term = Tmux("exit 3", width=80, height=24)
    try:
        deadline = time.monotonic() + 10
        while (dead := term.tmux_says("#{pane_dead}")) != "1":
            assert time.monotonic() < deadline, f"pane_dead is {dead!r}"
            time.sleep(0.05)
    finally:
        term.close()
