"""Every delivery order of a story (`occsim explore`): re-run it in the simulation with one
schedule prefix after another, and group the runs by what they end in.

Depth-first by default: each run follows a prefix of choices and then takes, at every point,
the first message whose delivery leads to a state not seen yet; the next prefix changes the
deepest choice that still has one. A state is every party's inputs so far, in order (each
node's messages and client requests, the manager's, the clients' replies): two orders that
differ only in deliveries to different nodes reach the same state, which is explored once
(deliveries to different nodes commute; this is sound because each party acts only on its
inputs). So "distinct orders" are orders up to that reordering, and a run that reaches a state
already explored stops there. `independent_docs` also takes a node's inputs about different
documents as independent: fewer orders, but not sound in general, and the report says so. `random` and `pct` (random priorities that change at a few
points) sample orders instead, for spaces too large to finish.

An outcome class is the final copies of each document on each node, what each client was told,
and the verdict. Its representative's schedule is saved, so `occsim run --schedule` replays it.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from occsim.cluster.sim import loop as simloop
from occsim.cluster.stories.runner import Outcome, Report, find, load, run_scenario
from occsim.cluster.sim.schedule import Choice, OrderedScheduler, Redundant, Schedule
from occsim.cluster.stories.sweep import on_dask

STRATEGIES = ("dfs", "random", "pct")


@dataclass
class OutcomeClass:
    """Runs that ended the same way."""

    copies: dict  # (index, doc) -> {node: (version, seq_no, digest or "deleted")}
    answers: dict  # client -> [(status, result, version), ...]
    verdict: str
    unexpected: list[str]  # checker invariants broken that the story does not declare
    choices: list[str]  # the representative run's schedule
    count: int = 0

    @property
    def diverged(self) -> list[tuple[str, str]]:
        """The documents whose copies differ between nodes."""
        return [key for key, copies in self.copies.items() if len(set(copies.values())) > 1]


@dataclass
class Exploration:
    scenario: str
    strategy: str
    classes: list[OutcomeClass] = field(default_factory=list)
    orders: int = 0  # distinct orders run to the end
    cut: int = 0  # runs stopped at a state already explored
    complete: bool = False  # every distinct order was explored
    pending: int = 0  # when stopped: choices still to try, each leading somewhere new
    seconds: float = 0.0

    @property
    def broken(self) -> list[OutcomeClass]:
        return [c for c in self.classes if c.unexpected]


def classify(outcome: Outcome, expected: tuple[str, ...]) -> tuple:
    """What a run ended in: the copies, the answers, the verdict (hashable, with its parts)."""
    copies: dict = {}
    answers: dict = {}
    for e in outcome.trace:
        if e["kind"] == "state" and e.get("active", True):
            for d in e["docs"]:
                what = "deleted" if d.get("deleted") else d.get("digest", "")
                copies.setdefault((e["index"], d["id"]), {})[e["node"]] = (
                    d["version"], d["seq_no"], what)
        elif e["kind"] == "response" and e["node"] != "manager":
            answers.setdefault(e.get("client", "client"), []).append(
                (e.get("status"), e.get("result"), e.get("version")))
    verdict = "PASS" if outcome.passed else f"FAIL: {outcome.failure}"
    unexpected = sorted({v.invariant for v in outcome.violations} - set(expected))
    key = (tuple(sorted((k, tuple(sorted(v.items()))) for k, v in copies.items())),
           tuple(sorted((k, tuple(v)) for k, v in answers.items())), verdict)
    return key, copies, answers, verdict, unexpected


class _Explored:
    """The states one depth-first search has explored (a set)."""

    def __init__(self) -> None:
        self.keys: set = set()

    def claim(self, key: frozenset) -> bool:
        """Mark `key` explored; False if it already was."""
        if key in self.keys:
            return False
        self.keys.add(key)
        return True

    def __contains__(self, key: frozenset) -> bool:
        return key in self.keys


class TableFull(Exception):
    """The shared table of explored states has no room left: the search stops there."""


class _SharedExplored:
    """The states explored by all the processes of one parallel depth-first search: a table of
    state hashes in shared memory, which forked processes inherit. Claiming is atomic, so each
    state is explored by exactly one process and none twice. A state is its 64-bit `hash`
    (the same in forked processes, which share the string hash seed); with a few hundred
    thousand states, two that collide are about one chance in 10^8."""

    def __init__(self, slots: int, budget: int) -> None:
        slots = 1 << max(16, (slots - 1).bit_length())  # a power of two, mostly empty
        self.table = multiprocessing.RawArray("Q", slots)
        self.used = multiprocessing.RawValue("Q", 0)
        self.runs = multiprocessing.RawValue("Q", 0)  # of all the processes, at most `budget`
        self.budget = budget
        self.lock = multiprocessing.Lock()
        self.mask = slots - 1

    def take_run(self) -> bool:
        """Count one more run, if the search's budget allows it."""
        with self.lock:
            if self.runs.value >= self.budget:
                return False
            self.runs.value += 1
            return True

    def _find(self, key: frozenset, claim: bool) -> bool:
        """Whether `key` was there before; with `claim`, it is there after."""
        h = hash(key) & 0xFFFF_FFFF_FFFF_FFFF or 1  # 0 marks an empty slot
        table, i = self.table, h & self.mask
        with self.lock:
            while table[i]:
                if table[i] == h:
                    return True
                i = (i + 1) & self.mask
            if claim:
                if self.used.value * 10 > self.mask * 7:
                    raise TableFull
                table[i] = h
                self.used.value += 1
            return False

    def claim(self, key: frozenset) -> bool:
        return not self._find(key, claim=True)

    def __contains__(self, key: frozenset) -> bool:
        return self._find(key, claim=False)


class _Depth:
    """The depth-first chooser: the stack of choice points and the states explored."""

    def __init__(self, base: list[str], explored: _Explored | _SharedExplored) -> None:
        self.base = base  # the prefix every order here starts with
        self.stack: list[tuple[list[str], list, int]] = []  # labels, keys, index taken
        self.explored = explored

    def __call__(self, sched: OrderedScheduler, options: list[Choice]) -> int:
        keys = [sched.key_after(c) for c in options]
        for i, key in enumerate(keys):
            if self.explored.claim(key):
                self.stack.append(([c.label for c in options], keys, i))
                return i
        raise Redundant

    def pending(self) -> int:
        return sum(key not in self.explored for _, keys, _ in self.stack for key in keys)

    def next_prefix(self) -> list[str] | None:
        """The next run's prefix: the deepest choice with an alternative leading somewhere
        new; None when there is none (every distinct order was run)."""
        while self.stack:
            labels, keys, _ = self.stack[-1]
            for j, key in enumerate(keys):
                if self.explored.claim(key):
                    self.stack[-1] = (labels, keys, j)
                    return [*self.base, *(ls[i] for ls, _, i in self.stack)]
            self.stack.pop()
        return None

    def split(self) -> list[list[str]]:
        """Hand over every alternative still untried, as the prefixes of searches of their
        own (the shallowest, whose subtrees are the largest, first); this search is done."""
        prefixes = []
        for depth, (labels, keys, _) in enumerate(self.stack):
            taken = [*self.base, *(ls[i] for ls, _, i in self.stack[:depth])]
            prefixes += [[*taken, labels[j]] for j, key in enumerate(keys)
                         if self.explored.claim(key)]
        self.stack.clear()
        return prefixes


class _Sample:
    """Random orders: uniform among what can happen next (`random`), or by priorities that
    are random per message and demoted at a few random steps (`pct`)."""

    def __init__(self, rng: random.Random, pct: bool, depth: int = 3, length: int = 60) -> None:
        self.rng, self.pct = rng, pct
        self.priority: dict[str, float] = {}
        self.changes = set(rng.sample(range(length), depth - 1)) if pct else set()

    def __call__(self, sched: OrderedScheduler, options: list[Choice]) -> int:
        if not self.pct:
            return self.rng.randrange(len(options))
        weights = [self.priority.setdefault(c.label, self.rng.random()) for c in options]
        best = max(range(len(options)), key=weights.__getitem__)
        if len(sched.taken) in self.changes:
            self.priority[options[best].label] = -self.rng.random()
        return best


def explore(name: str, *, es_compat: int | None = None, replica_rule: str = "es",
            links: str = "any", strategy: str = "dfs", max_schedules: int = 10_000,
            timers: bool = False, seed: int = 0, jobs: int = 1,
            dask: str | None = None, independent_docs: bool = False) -> Exploration:
    """Run `name` in one order after another; group the runs into outcome classes. With
    `jobs` > 1 the runs are spread over that many forked processes: the sampling strategies
    each sample on their own (an order two of them sample counts once); a depth-first search
    shares its explored states between them (`_SharedExplored`), so each state is explored
    once, and finds the same orders and classes as one process (a class's representative may
    be another order of the class)."""
    started = time.perf_counter()
    run = dict(name=name, es_compat=es_compat, replica_rule=replica_rule, links=links,
               timers=timers, split_docs=independent_docs)
    if dask is not None and strategy != "dfs":
        parts, _ = on_dask(dask, _search, [run] * jobs, [strategy] * jobs,
                           [max(1, max_schedules // jobs)] * jobs,
                           list(range(seed, seed + jobs)), [[]] * jobs)
    elif jobs <= 1:
        parts = [_search(run, strategy, max_schedules, seed, [])]
    elif strategy == "dfs":
        parts = _parallel_dfs(run, max_schedules, jobs)
    else:
        budget = max(1, max_schedules // jobs)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_search, itertools.repeat(run), itertools.repeat(strategy),
                                  itertools.repeat(budget), range(seed, seed + jobs),
                                  itertools.repeat([])))
    result = Exploration(name, strategy, seconds=0.0)
    finals: dict = {}
    classes: dict = {}
    for part in parts:
        result.cut += part.cut + sum(final in finals for final in part.finals)
        for final, key in part.finals.items():
            finals.setdefault(final, key)
        for key, cls in part.classes.items():
            classes.setdefault(key, cls)
    for key in finals.values():
        classes[key].count += 1
    result.orders = len(finals)
    result.complete = all(part.complete for part in parts)
    result.pending = sum(part.pending for part in parts)
    result.classes = sorted(classes.values(), key=lambda c: -c.count)
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class _Part:
    """What one search found: each distinct order's final state and outcome class."""

    finals: dict = field(default_factory=dict)  # final state -> class key
    classes: dict = field(default_factory=dict)  # class key -> OutcomeClass (uncounted)
    cut: int = 0
    complete: bool = False
    pending: int = 0
    bases: list = field(default_factory=list)  # prefixes handed to other searches (`split`)


_SHARED: _SharedExplored | None = None  # in the processes of a parallel depth-first search


def _share(explored: _SharedExplored | None) -> None:
    """A process's part in a parallel search: the states explored by all (inherited by the
    forked workers, not pickled)."""
    global _SHARED
    _SHARED = explored


def _parallel_dfs(run: dict, budget: int, jobs: int) -> list[_Part]:
    """A depth-first search on `jobs` processes: this one searches until the stack holds a few
    untried alternatives per process, then each becomes a search of its own, taken by the next
    idle process, all claiming the states they explore in one shared table."""
    # a run claims a state per choice it makes: a few hundred in a long story
    shared = _SharedExplored(512 * budget, budget)
    _share(shared)
    try:
        first = _search(run, "dfs", budget, 0, [], split=2 * jobs)
        if not first.bases:
            return [first]
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_share, initargs=(shared,)) as pool:
            return [first, *pool.map(_search, itertools.repeat(run), itertools.repeat("dfs"),
                                     itertools.repeat(budget), itertools.repeat(0),
                                     first.bases)]
    finally:
        _share(None)


def _once(run: dict, sched: OrderedScheduler) -> Outcome:
    return simloop.run(run_scenario(
        run["name"], es_compat=run["es_compat"], report=Report(io.StringIO()), sim=True,
        replica_rule=run["replica_rule"], links=run["links"], scheduler=sched))


def _search(run: dict, strategy: str, budget: int, seed: int, base: list[str],
            split: int = 0) -> _Part:
    """Explore the orders that start with `base`, at most `budget` runs (of all the processes
    of a parallel search). With `split`, a depth-first search stops once that many
    alternatives are untried and hands them over (`_Part.bases`)."""
    expected = load(find(run["name"])).SETUP.expect_violations
    part = _Part()
    depth = _Depth(base, _SHARED or _Explored()) if strategy == "dfs" else None
    rng = random.Random(seed)
    prefix: list[str] | None = list(base)
    runs = 0
    try:
        while prefix is not None and (_SHARED.take_run() if _SHARED else runs < budget):
            runs += 1
            chooser = depth if depth is not None else _Sample(rng, strategy == "pct")
            sched = OrderedScheduler(prefix, chooser=chooser, timers=run["timers"],
                                     split_docs=run["split_docs"])
            try:
                outcome = _once(run, sched)
            except Redundant:
                part.cut += 1
            else:
                final = frozenset(sched.history.items())
                if final in part.finals:  # a sampled order already seen
                    part.cut += 1
                else:
                    key, copies, answers, verdict, unexpected = classify(outcome, expected)
                    part.finals[final] = key
                    if key not in part.classes:
                        part.classes[key] = OutcomeClass(copies, answers, verdict, unexpected,
                                                         list(sched.taken))
            if split and depth.pending() >= split:
                part.bases = depth.split()
                return _ended(part, depth, complete=True)  # the rest is the bases' searches'
            prefix = depth.next_prefix() if depth is not None else []
    except TableFull:  # the search ends here, incomplete (`pending` says what is left)
        return _ended(part, depth, complete=False)
    if not runs and depth is not None:  # the budget was spent before this search began
        part.pending = 1
        return part
    return _ended(part, depth, complete=depth is not None and prefix is None)


def _ended(part: _Part, depth: _Depth | None, *, complete: bool) -> _Part:
    part.complete = complete
    part.pending = depth.pending() if depth is not None else 0
    return part


def _n(count: int, noun: str) -> str:
    """`1 order`, `2 orders`, `3 outcome classes`."""
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{count:,} {noun if count == 1 else plural}"


def _copies_line(copies: dict) -> list[str]:
    lines = []
    for (index, doc), held in sorted(copies.items()):
        each = ", ".join(f"{node} v{v} seq {s} " + ("deleted" if d == "deleted" else f"#{d[:8]}")
                         for node, (v, s, d) in sorted(held.items()))
        state = "diverged" if len(set(held.values())) > 1 else "converged"
        lines.append(f"    {index}/{doc} {state}: {each}")
    return lines


def report(result: Exploration, scenario: str, *, save_dir: str, es_compat: int | None,
           replica_rule: str, links: str, timers: bool, independent_docs: bool = False) -> str:
    """What `occsim explore` prints; writes each class's representative schedule to
    `save_dir` (named after the scenario and the class number)."""
    rate = (result.orders + result.cut) / result.seconds if result.seconds else 0.0
    rules = f"replica rule {replica_rule}, links {links}" + (", timers" if timers else "")
    if result.complete:
        head = f"all {_n(result.orders, 'distinct order')} explored"
    elif result.strategy == "dfs":
        head = (f"stopped after {result.orders:,} of at least {result.orders + 1:,} distinct "
                f"orders ({result.pending:,} choices left to try)")
    else:
        head = f"{result.orders:,} distinct orders sampled ({result.strategy})"
    diverged = sum(c.count for c in result.classes if c.diverged)
    lines = [f"{Path(scenario).stem} ({rules}): {head}; {_n(len(result.classes), 'outcome class')}"
             f", {_n(diverged, 'order')} with diverged copies; {_n(result.cut, 'run')} stopped at "
             f"a state already explored; {result.seconds:.1f}s, {rate:,.0f} schedules/s"]
    flags = (f" --es-compat {es_compat}" if es_compat else "") + \
        (f" --replica-rule {replica_rule}" if replica_rule != "es" else "") + \
        (f" --links {links}" if links != "any" else "")
    stem = Path(scenario).stem
    for number, cls in enumerate(result.classes, 1):
        path = Path(save_dir) / f"{stem}-{number}.json"
        Schedule(stem, "ordered", 0, es_compat, replica_rule, links, timers,
                 cls.choices).save(str(path))
        state = "diverged" if cls.diverged else "converged"
        lines.append(f"class {number}: {_n(cls.count, 'order')}, {state}, "
                     f"{cls.verdict}"
                     + (f" (breaks {', '.join(cls.unexpected)})" if cls.unexpected else ""))
        lines += _copies_line(cls.copies)
        for client, answers in sorted(cls.answers.items()):
            told = ", ".join(f"{status} {result_ or ''}".strip() + (f" v{v}" if v else "")
                             for status, result_, v in answers)
            lines.append(f"    {client} was told: {told}")
        lines.append(f"  replay: occsim run {stem} --sim --schedule {path}{flags}")
    if independent_docs:
        lines.append("reduction: deliveries about different documents to one node were taken as "
                     "independent (--independent-docs); this is not sound in general (a shard's "
                     "copies number every document's operations in one sequence), so an order "
                     "it skipped may end otherwise")
    return "\n".join(lines)
