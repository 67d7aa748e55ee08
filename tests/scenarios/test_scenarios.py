"""Every scenario in `scenarios/` runs as a test in each profile it declares (a new scenario
file is picked up automatically), plus the `occsim list` / `occsim run` command line.

Each run starts real node processes on loopback (about 1-2.5 s per run on a 2-core machine).
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from occsim.cluster.stories import runner

ROOT = Path(__file__).resolve().parents[2]


def _cases() -> list:
    cases = []
    for path in runner.all_scenarios():
        try:
            profiles = runner.load(path).SETUP.profiles
        except Exception:  # a broken file fails its own test instead of the whole collection
            profiles = (None,)
        for profile in profiles:
            cases.append(pytest.param(path.stem, profile, id=f"{path.stem}-es{profile}"))
    return cases


@pytest.mark.parametrize(("name", "profile"), _cases())
async def test_scenario(name: str, profile: int | None) -> None:
    if profile is None:
        runner.load(runner.find(name))  # raises the loading error
    out = io.StringIO()
    outcome = await runner.run_scenario(name, es_compat=profile, report=runner.Report(out))
    assert outcome.profile == profile
    assert outcome.passed, f"{outcome.failure}\n\n{out.getvalue()}"


def _occsim(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "occsim.cluster.tools.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_list_names_every_scenario() -> None:
    done = _occsim("list")
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    stems = {path.stem for path in runner.all_scenarios()}
    assert stems and stems <= listed, f"missing from `occsim list`: {stems - listed}"
    for line in done.stdout.splitlines():  # each with its one-line summary
        assert len(line.split(None, 1)) == 2, line


def test_run_seed_000_from_the_command_line() -> None:
    done = _occsim("run", "seed-000", "--no-live")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("[test_type][8]: version conflict, current version [2] is higher or equal to the "
            "one provided [2]") in done.stdout
    verdict = done.stdout[done.stdout.index("\nPASS seed_000_external_version\n"):]
    assert "  lesson: With version_type=external the client brings the version" in verdict
    assert verdict.strip().splitlines()[-1] == "  ✔ the retry: (200, 3)"


def test_run_with_an_unsupported_profile_is_refused(tmp_path: Path) -> None:
    # a scenario that declares only profile 7, run with --es-compat 5 (a valid CLI choice)
    story = tmp_path / "only_seven.py"
    story.write_text('"""Only 7."""\nfrom occsim.cluster.scenario import Setup\n'
                     "SETUP = Setup(nodes=1, profiles=(7,))\n"
                     "async def run(cluster):\n    pass\n")
    done = _occsim("run", str(story), "--no-live", "--es-compat", "5")
    assert done.returncode != 0
    assert "supports --es-compat 7, not 5" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

    # a profile the simulator does not know at all is refused by the argument parser
    done = _occsim("run", "seed-000", "--no-live", "--es-compat", "4")
    assert done.returncode != 0
    assert "--es-compat: invalid choice: 4" in done.stderr, done.stderr


def test_free_port_block_stays_below_the_ephemeral_range() -> None:
    # Outgoing connections take ports from the ephemeral range; a node port chosen there could be
    # taken between the probe and the node's bind.
    low = runner._ephemeral_low()
    for _ in range(50):
        port = runner.free_port_block(3)
        assert 20000 <= port and port + 3 <= low


def test_a_short_name_finds_the_bundled_scenario_from_any_folder(tmp_path):
    done = subprocess.run([sys.executable, "-m", "occsim.cluster.tools.cli", "run", "seed-004",
                           "--sim", "--no-live"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
