"""A simulated story driven one choice at a time, for `occsim play` and `occsim lesson`.

`Session` keeps the scenario, its rules and the choices made so far (a schedule prefix).
`Session.snapshot()` re-runs the story on virtual time with that prefix (a run takes
milliseconds and is deterministic, so stepping back is replaying a shorter prefix) and returns
what the student sees at that point: the trace so far, and the list of what can happen next.
The choices go through `cluster.schedule.OrderedScheduler`; `PlayScheduler` adds two things a
student needs there: every message may be dropped or duplicated, and a message a story holds
back ("held by the story") may be delivered early.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from occsim.cluster.sim import loop as simloop
from occsim.cluster.stories.runner import Outcome, Report, find, load, run_scenario
from occsim.cluster.errors import ScheduleError
from occsim.cluster.sim.schedule import Choice, OrderedScheduler, Schedule, describe

HELD = "held by the story: "


class PlayScheduler(OrderedScheduler):
    """An ordered scheduler where the student may also drop, duplicate, or deliver a held
    message early. Past its prefix, it notes what could happen next and then lets the oldest
    message go first, so the run always finishes."""

    # the student may drop or duplicate any message, whatever the link's config says
    loss = property(lambda self: True, lambda self, value: None)
    duplicate = property(lambda self: True, lambda self, value: None)

    def __init__(self, prefix: list[str], *, timers: bool = False) -> None:
        super().__init__(prefix, chooser=self._note, timers=timers)
        self.members: list = []
        self.next: list[Choice] | None = None  # what could happen after the prefix
        self.boundary: int | None = None       # the first trace `order` after the prefix

    def attach(self, member) -> None:
        self.members.append(member)

    def options(self) -> list[Choice]:
        out = super().options()
        for member in self.members:
            for env in member.network.held():
                out.append(Choice(HELD + describe(env, self._asked), "release", env))
        return out

    def _pick(self, options: list[Choice]) -> int:
        step = len(self.taken)
        if step < len(self.prefix):
            wanted = self.prefix[step].removeprefix(HELD)
            held = next((c for c in options if c.action == "release"
                         and c.label.removeprefix(HELD).rsplit(" #", 1)[0]
                         == wanted.rsplit(" #", 1)[0]), None)
            if held is not None:
                return self._let_go(held, options)
            return super()._pick(options)
        index = super()._pick(options)
        choice = options[index]
        return self._let_go(choice, options) if choice.action == "release" else index

    def _let_go(self, held: Choice, options: list[Choice]) -> int:
        """Take a held message out of its hold and deliver it now: `options` is rebuilt in
        place and the index of its delivery returned."""
        member = next(m for m in self.members if any(env is held.env for env in m.network.held()))
        member.network.take(held.env)
        member.endpoint.release_one(held.env)
        options[:] = self.options()
        return next(i for i, c in enumerate(options)
                    if c.action == "deliver" and c.env.id == held.env.id)

    def _note(self, _: OrderedScheduler, options: list[Choice]) -> int:
        if self.next is None:
            self.next = list(options)
            self.boundary = _peek(self.members[0].recorder.sequencer)
        return 0


def _peek(counter) -> int:
    """The next number an `itertools.count` gives, without taking it (its repr is `count(N)`)."""
    return int(repr(counter)[len("count("):-1])


@dataclass
class Snapshot:
    """The story at one point: what happened so far, and what can happen next (empty when the
    story has ended)."""

    trace: list[dict]         # the events so far (the whole run's when it ended)
    options: list[Choice]
    outcome: Outcome          # the run continued oldest-first to its end
    choices: list[str]        # the prefix that leads here

    @property
    def ended(self) -> bool:
        return not self.options

    def verdict(self) -> str:
        """The story's and the checker's verdict in plain words, and any copies that differ."""
        o = self.outcome
        lines = [f"PASS {o.name}: every answer was the expected one and the checker found "
                 "nothing wrong" if o.passed else f"FAIL {o.name}: {o.failure}"]
        lines += [f"checker: {v.message}" for v in o.violations]
        lines += [f"copies differ: {d}" for d in divergence(o.trace)]
        return "\n".join(lines)


def divergence(trace: list[dict]) -> list[str]:
    """ "doc 1 of [website][3] is v4 on n1 (primary), v3 on n2" for every document whose
    copies ended at different versions (from the run's final `state` events)."""
    held: dict[tuple, dict[str, str]] = {}
    for e in trace:
        if e["kind"] == "state" and e.get("active", True):
            for d in e.get("docs", ()):
                where = e["node"] + (" (primary)" if e.get("primary") else "")
                held.setdefault((e["index"], e["shard"], str(d["id"])), {})[where] = (
                    "deleted" if d.get("deleted") else f"v{d['version']}")
    return [f"doc {doc} of [{index}][{shard}] is "
            + ", ".join(f"{v} on {node}" for node, v in sorted(copies.items()))
            for (index, shard, doc), copies in sorted(held.items())
            if len(set(copies.values())) > 1]


@dataclass
class Session:
    """A scenario under some rules, and the choices the student made."""

    scenario: str
    es_compat: int | None = None
    replica_rule: str = "es"
    links: str = "any"
    choices: list[str] = field(default_factory=list)
    seed: int | None = None  # None: the scenario's own

    @classmethod
    def from_schedule(cls, schedule: Schedule, path: str) -> Session:
        if schedule.mode != "ordered":
            raise ScheduleError(f"{path} holds a seeded run's network decisions: play and "
                                "lesson follow a schedule of deliveries (saved by occsim play "
                                "or occsim explore)")
        return cls(schedule.scenario, schedule.es_compat, schedule.replica_rule,
                   schedule.links, list(schedule.choices), schedule.seed)

    def snapshot(self) -> Snapshot:
        sched = PlayScheduler(self.choices)
        outcome = simloop.run(run_scenario(
            self.scenario, seed=self.seed, es_compat=self.es_compat, report=Report(io.StringIO()), sim=True,
            replica_rule=self.replica_rule, links=self.links, scheduler=sched))
        self.choices[:] = sched.taken[:len(self.choices)]  # as the schedule records them
        if sched.next is None:
            return Snapshot(outcome.trace, [], outcome, list(sched.taken))
        trace = [e for e in outcome.trace if e.get("order", 0) < sched.boundary]
        return Snapshot(trace, sched.next, outcome, list(self.choices))

    def schedule(self) -> Schedule:
        """The file form (`Schedule.save`) of the choices made."""
        seed = load(find(self.scenario)).SETUP.seed if self.seed is None else self.seed
        return Schedule(self.scenario, seed=seed, es_compat=self.es_compat,
                        replica_rule=self.replica_rule, links=self.links,
                        choices=list(self.choices))


def open_session(scenario: str, *, es_compat: int | None = None, replica_rule: str = "es",
                 links: str = "any") -> Session:
    """A session of a scenario name, or of a schedule file saved by `occsim play` (its own
    scenario, profile and rules then apply). Raises ScheduleError for a bad file."""
    if scenario.endswith(".json"):
        return Session.from_schedule(Schedule.load(scenario), scenario)
    return Session(scenario, es_compat, replica_rule, links)
