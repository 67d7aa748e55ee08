"""`occsim up` as a user runs it: a ready table of real processes, and no orphans, ever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from occsim.cluster.stories.runner import free_port_block


def start_up(tmp_path, *args: str) -> tuple[subprocess.Popen, dict[str, int]]:
    port = free_port_block(3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "occsim.cluster.tools.cli", "up", "--nodes", "3", "--port", str(port),
         *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids = {}
    for line in proc.stdout:
        fields = line.split()
        if fields and fields[0].startswith("n") and fields[-1].isdigit():
            pids[fields[0]] = int(fields[-1])
        if line.startswith("ready in"):
            break
    assert len(pids) == 3, f"no ready table from occsim up: {pids}"
    return proc, pids


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pids, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(gone(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_occsim_up_stops_every_node(tmp_path, sig):
    proc, pids = start_up(tmp_path, "--trace", "t.jsonl")
    assert all(not gone(p) for p in pids.values())
    assert (tmp_path / ".occsim-run.json").exists()
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert wait_gone(pids.values())
    assert (tmp_path / "t.jsonl").exists()
    assert not (tmp_path / ".occsim-run.json").exists()


def test_nodes_exit_by_themselves_when_the_manager_is_killed(tmp_path):
    proc, pids = start_up(tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    assert wait_gone(pids.values()), "node processes outlived a killed manager"
