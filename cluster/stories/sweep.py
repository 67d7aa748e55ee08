"""Many simulated runs: a scenario across seeds (`occsim sweep`), and the determinism check
that runs one seed twice and names the first event where the two traces differ.

Every run happens in one process on virtual time (`cluster.sim`), so a thousand seeds take
seconds, and a failing seed is reproduced exactly by `occsim run SCENARIO --sim --seed N`. A
sweep may spread its seeds over several processes (forked, one per core by default): each run
is its own world, so the verdicts do not depend on how many there are. With `dask` (an address
`tcp://HOST:PORT`, the optional extra `occsim[dask]`) the runs go to an existing Dask cluster's
workers instead, which must see the same scenario files.
"""

from __future__ import annotations

import io
import itertools
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from occsim.cluster.sim import loop as simloop
from occsim.cluster.stories.runner import Outcome, Report, run_scenario


def simulate(name: str, seed: int, es_compat: int | None = None, *,
             replica_rule: str = "es", links: str = "any") -> Outcome:
    """One silent simulated run of a scenario."""
    report = Report(io.StringIO())
    return simloop.run(run_scenario(name, seed=seed, es_compat=es_compat, report=report,
                                    sim=True, replica_rule=replica_rule, links=links))


def parse_seeds(text: str) -> range:
    """`1..1000` (inclusive) or a single seed `7`."""
    low, _, high = text.partition("..")
    try:
        seeds = range(int(low), int(high or low) + 1)
    except ValueError:
        raise ValueError(f"seeds must look like 1..1000 or 7, not [{text}]") from None
    if not seeds:
        raise ValueError(f"seeds {text} is an empty range: write the lower seed first")
    return seeds


@dataclass
class SweepResult:
    runs: int
    failures: list[tuple[int, str]]
    messages: int
    seconds: float
    jobs: int = 1

    @property
    def passed(self) -> bool:
        return not self.failures


def _verdict(name: str, seed: int, es_compat: int | None, replica_rule: str = "es",
             links: str = "any") -> tuple[int, str | None, int]:
    """One run, reduced to what a sweep keeps: seed, failure (None if it passed), messages."""
    outcome = simulate(name, seed, es_compat, replica_rule=replica_rule, links=links)
    return seed, None if outcome.passed else outcome.failure or "failed", outcome.messages or 0


def on_dask(address: str, fn, *iterables) -> tuple[list, int]:
    """`map(fn, *iterables)` on the workers of the Dask cluster at `address`, and how many
    workers it has; ValueError when Dask is not installed or the cluster cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--dask needs Dask: pip install 'occsim[dask]'") from None
    try:
        client = Client(address, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"cannot reach the Dask cluster at {address}: {exc}") from None
    with client:
        workers = len(client.scheduler_info()["workers"])
        return client.gather(client.map(fn, *iterables, pure=False)), workers


def sweep(name: str, seeds: range, es_compat: int | None = None, *,
          jobs: int = 1, replica_rule: str = "es", links: str = "any",
          dask: str | None = None) -> SweepResult:
    """Run `name` once per seed, on `jobs` processes (each seed is its own deterministic
    world, so they split across cores freely); collect the failing seeds with their verdicts."""
    started = time.perf_counter()
    if dask is not None:
        n = len(seeds)
        verdicts, jobs = on_dask(dask, _verdict, [name] * n, list(seeds), [es_compat] * n,
                                 [replica_rule] * n, [links] * n)
    elif jobs > 1 and len(seeds) > 1:
        chunk = max(1, min(16, len(seeds) // (4 * jobs)))
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            verdicts = list(pool.map(_verdict, itertools.repeat(name), seeds,
                                     itertools.repeat(es_compat), itertools.repeat(replica_rule),
                                     itertools.repeat(links), chunksize=chunk))
    else:
        jobs = 1
        verdicts = [_verdict(name, seed, es_compat, replica_rule, links) for seed in seeds]
    failures = [(seed, failure) for seed, failure, _ in verdicts if failure is not None]
    messages = sum(count for _, _, count in verdicts)
    return SweepResult(len(seeds), failures, messages, time.perf_counter() - started, jobs)


def first_difference(a: list[dict], b: list[dict]) -> tuple[int, dict | None, dict | None] | None:
    """The index and the two events where traces first differ, or None when identical."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i, x, y
    if len(a) != len(b):
        i = min(len(a), len(b))
        return i, a[i] if i < len(a) else None, b[i] if i < len(b) else None
    return None


def determinism(name: str, seed: int, es_compat: int | None = None) -> str | None:
    """Run one seed twice; None when the traces are identical, else where they differ."""
    first = simulate(name, seed, es_compat).trace
    second = simulate(name, seed, es_compat).trace
    difference = first_difference(first, second)
    if difference is None:
        return None
    i, x, y = difference
    return (f"traces differ at event {i}:\n  first run:  {json.dumps(x, sort_keys=True)}\n"
            f"  second run: {json.dumps(y, sort_keys=True)}")
