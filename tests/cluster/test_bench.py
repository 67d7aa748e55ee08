"""Smoke tests of `occsim bench`: it runs end to end, prints its figures as JSON, and its soak
passes. Not timed: no speed figure is asserted, only that each was measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

KEYS = ("writes_per_s", "writes_per_s_spread", "spread_ratio", "traced_p99_ms", "ready_s_10",
        "raw_fanout_writes_per_s", "ratio_vs_raw_fanout",
        "p50_ms", "p99_ms", "replication_msgs_per_s", "ready_s", "rss_mb_per_node",
        "bytes_per_doc", "sim_msgs_per_s", "sim_runs_per_s", "sim_speedup", "bulk_2000_s")
LEVELS = ("1", "16", "64", "64_spread", "raw_fanout_64", "traced_64")


def occsim(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "occsim.cluster.tools.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_bench_quick_prints_every_figure_as_json():
    done = occsim("bench", "--quick", "--json", "--duration", "0.5", "--warmup", "0.2",
                  "--starts", "1", "--memory-docs", "6000", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in KEYS:
        assert isinstance(result[key], (int, float)) and result[key] > 0, (key, result)
    assert isinstance(result["trace_overhead"], (int, float))
    assert result["trace_overhead"] >= 0
    for name in LEVELS:
        level = result["levels"][name]
        for key in ("writes_per_s", "p50_ms", "p99_ms"):
            assert level[key] > 0, (name, key, level)
        assert level["errors"] == 0, (name, level)
    assert "occsim / raw fan-out" in done.stdout


def test_soak_smoke_passes():
    done = occsim("bench", "--soak", "3", "--json", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["passed"], result["failures"]
    assert result["errors"] == 0
    assert result["acked_writes"] > 0
    assert result["violations"] == 0
    assert "PASS" in done.stdout


def test_bench_bulk_measures_only_the_bulk_figure():
    done = occsim("bench", "--bulk", "--json", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bulk_2000_s"] > 0
    assert len(result["bulk_runs_s"]) == 5
    assert sorted(result["bulk_runs_s"])[2] == result["bulk_2000_s"]
    assert "bulk_2000_s" in done.stdout
