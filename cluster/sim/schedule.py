"""The schedule of a simulated run as data: every choice among the things that could happen
next goes through one scheduler object, and a run's choices can be saved, edited and replayed.

Two schedulers, one per way of choosing:

* `SeededScheduler` (the default): the network model's seeded draws decide each message's
  fate (deliver after a delay, drop, duplicate) as they always did; the scheduler writes each
  decision down (`n1→n2 doc 1 v3 #n1:7: deliver after 0.0123s`) and, given a saved list,
  makes the same decisions again instead of drawing them. Links that do nothing to a message
  involve no choice and are not written down.
* `OrderedScheduler`: every message between nodes waits in a pool, and whenever nothing else
  can run at this instant the scheduler picks which one is delivered next (or dropped or
  duplicated where the link's config allows it, or, with `timers`, lets time pass so that a
  timer fires first). This is what `occsim explore` enumerates, and what a hand-written
  schedule of message labels (`n1→n2 doc 1 v3`, its `#id` optional) drives.

Public API, for exploration and for interactive tools:

    sched = OrderedScheduler(prefix=["n1→n2 doc 1 v3", ...], chooser=my_chooser)
    outcome = simloop.run(runner.run_scenario(name, sim=True, scheduler=sched))
    sched.taken        # the labels of every choice made, a complete schedule to replay

`chooser(sched, options)` is called at each point past the prefix with the list of `Choice`s
(each has a human-readable `label`) and returns the index of the one to take; `sched.key_after
(choice)` is the state the choice leads to (equal keys: same inputs in the same order at every
actor, so the same future). The default chooser takes the oldest message. `Schedule` is the
file form (seed, profile, rules, choices) that `occsim run --save-schedule`/`--schedule` use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from occsim.transport.message import Envelope
from occsim.transport.network import Decision
from occsim.cluster.errors import ScheduleError

REPLICA_RULES = ("es", "apply-all")
LINK_RULES = ("any", "fifo")
FORMAT = 1


class Redundant(Exception):
    """The run reached a state another run already explored: it is stopped there."""


@dataclass
class Schedule:
    """A run's schedule: what it ran, under which rules, and every choice in order."""

    scenario: str
    mode: str = "ordered"  # "seeded" (the network model's decisions) | "ordered" (deliveries)
    seed: int = 0
    es_compat: int | None = None
    replica_rule: str = "es"
    links: str = "any"
    timers: bool = False
    choices: list[str] = field(default_factory=list)

    def save(self, path: str) -> None:
        data = {"occsim_schedule": FORMAT, **self.__dict__}
        with open(path, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, ensure_ascii=False)
            out.write("\n")

    @classmethod
    def load(cls, path: str) -> Schedule:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            raise ScheduleError(f"cannot read schedule {path}: {exc}") from None
        if not isinstance(data, dict) or "scenario" not in data:
            raise ScheduleError(f"{path} is not a schedule (it needs at least a \"scenario\")")
        data.pop("occsim_schedule", None)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ScheduleError(f"{path}: unknown field(s) {unknown}")
        schedule = cls(**data)
        if schedule.mode not in ("seeded", "ordered"):
            raise ScheduleError(f"{path}: mode must be seeded or ordered, not [{schedule.mode}]")
        if schedule.replica_rule not in REPLICA_RULES or schedule.links not in LINK_RULES:
            raise ScheduleError(f"{path}: unknown rule in {schedule.replica_rule}/{schedule.links}")
        if not isinstance(schedule.choices, list) or not all(
                isinstance(c, str) for c in schedule.choices):
            raise ScheduleError(f"{path}: choices must be a list of strings")
        return schedule


def describe(env: Envelope, asked: dict[str, str]) -> str:
    """A message's label: `n1→n2 doc 1 v3 #n1:7`; a reply says what it answers (`n2→n1 re:
    doc 1 v3 #n2:4`). `asked` keeps the requests' descriptions for their replies."""
    if env.reply_to is not None:
        what = "re: " + asked.pop(env.reply_to, env.kind)
    else:
        body = env.body if isinstance(env.body, dict) else {}
        parts = [] if env.kind == "replicate" else [env.kind]
        doc = body.get("doc", body.get("doc_id"))
        if doc is not None:
            parts.append(f"doc {doc}")
        elif "shard" in body:
            parts.append(f"shard {body['shard']}")
        if isinstance(body.get("version"), int) and body["version"] >= 0:
            parts.append(f"v{body['version']}")
        what = " ".join(parts)
        asked[env.id] = what
    return f"{env.src}→{env.dst} {what} #{env.id}"


def _same(label: str, wanted: str) -> bool:
    """Whether a schedule's choice names this label (a hand-written one may leave out #id)."""
    return label == wanted or ("#" not in wanted and label.rsplit(" #", 1)[0] == wanted)


# -- the seeded scheduler -------------------------------------------------------------------

def _render(decision: Decision) -> str:
    if decision.outcome == "drop":
        return f"drop ({decision.reason})"
    after = " and ".join(repr(d) + "s" for d in decision.delays)
    return f"{decision.outcome} after {after}" + (" (reordered)" if decision.reordered else "")


def _parse(text: str) -> Decision:
    if text.startswith("drop"):
        return Decision((), "drop", text[len("drop ("):-1])
    outcome, _, rest = text.partition(" after ")
    reordered = rest.endswith(" (reordered)")
    rest = rest.removesuffix(" (reordered)")
    try:
        delays = tuple(float(d.removesuffix("s")) for d in rest.split(" and "))
    except ValueError:
        raise ScheduleError(f"cannot read the decision [{text}]") from None
    if outcome not in ("deliver", "duplicate") or len(delays) != (2 if outcome == "duplicate"
                                                                   else 1):
        raise ScheduleError(f"cannot read the decision [{text}]")
    return Decision(delays, outcome, reordered=reordered)


class SeededScheduler:
    """The network model's seeded decisions, written down; or, given `choices`, read back."""

    mode = "seeded"
    pool = None  # messages go their own way, on timers
    delivered = None

    def __init__(self, choices: list[str] | None = None, *, fifo: bool = False) -> None:
        self.replay = list(choices) if choices is not None else None
        self.fifo = fifo and choices is None  # a replayed schedule already is in order
        self.taken: list[str] = []
        self.mismatch: str | None = None  # where a replayed run parted from its schedule
        self._asked: dict[str, str] = {}
        self._last_due: dict[tuple[str, str], float] = {}

    def start(self, loop) -> None:
        self.loop = loop

    def attach(self, member) -> None:
        """Route a member's network decisions through this scheduler."""
        decide = member.network.decide

        def scheduled(info, payload):
            decision = decide(info, payload)
            if decision.outcome == "hold" or decision.reason not in ("", "loss"):
                return decision  # a hold rule or a partition: no draw, no choice
            return self.choose(payload, decision)

        member.network.decide = scheduled

    def choose(self, env: Envelope, decision: Decision) -> Decision:
        label = describe(env, self._asked)
        if self.replay is not None:
            step = len(self.taken)
            if step < len(self.replay):
                wanted, _, text = self.replay[step].rpartition(": ")
                if _same(label, wanted):
                    decision = _parse(text)
                elif self.mismatch is None:
                    self.mismatch = f"choice {step + 1}: the schedule says [{wanted}], the run " \
                                    f"sent [{label}]"
            elif self.mismatch is None:
                self.mismatch = f"the run made more choices than the schedule's {step}"
        elif self.fifo and decision.delays:
            decision = self._in_order(env, decision)
        self.taken.append(f"{label}: {_render(decision)}")
        return decision

    def _in_order(self, env: Envelope, decision: Decision) -> Decision:
        """No copy overtakes one sent earlier on its link (`--links fifo`)."""
        now = self.loop.time()
        link = (env.src, env.dst)
        delays = []
        for delay in decision.delays:
            due = max(now + delay, self._last_due.get(link, 0.0) + 1e-9)
            self._last_due[link] = due
            delays.append(due - now)
        return Decision(tuple(delays), decision.outcome, decision.reason, decision.reordered)

    def note(self, actor: str, item: object) -> None:
        """A seeded run keeps no histories."""


# -- the ordered scheduler ------------------------------------------------------------------

def _mix(history: int, item: object) -> int:
    """A party's history with one more input, as 64 bits that are the same in every process
    (Python's own `hash` of a string is not), so states found on two machines compare."""
    data = f"{history}|{item!r}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


@dataclass(frozen=True)
class Choice:
    """One thing that can happen next: deliver, drop or duplicate a message, or let time pass."""

    label: str
    action: str  # "deliver" | "drop" | "duplicate" | "wait"
    env: Envelope | None = None


def oldest_first(scheduler: OrderedScheduler, options: list[Choice]) -> int:
    return 0


class OrderedScheduler:
    """Delivers one pooled message at a time, the one its prefix or its chooser picks."""

    mode = "ordered"

    def __init__(self, prefix: list[str] | None = None, *,
                 chooser: Callable[[OrderedScheduler, list[Choice]], int] = oldest_first,
                 fifo: bool = False, loss: bool = False, duplicate: bool = False,
                 timers: bool = False, max_waits: int = 3, split_docs: bool = False) -> None:
        self.prefix = list(prefix or [])
        self.chooser = chooser
        self.fifo, self.loss, self.duplicate = fifo, loss, duplicate
        self.timers, self.waits_left = timers, max_waits
        # not sound in general: a node's inputs about different documents taken as independent
        # (they share its shard's sequence numbers and checkpoint)
        self.split_docs = split_docs
        self._doc_of: dict[str, str] = {}  # request id -> its document (for its reply)
        self.taken: list[str] = []
        self.mismatch: str | None = None
        self.stopped = False
        self.history: dict[str, int] = {}  # actor -> hash of its inputs so far, in order
        # in flight: each message, its label, and whether it is a duplicate's second copy
        # (which is only delivered: the network model duplicates a message once, never a copy)
        self._pool: list[tuple[Envelope, str, bool]] = []
        self._asked: dict[str, str] = {}
        self._requests = 0

    # -- wiring (cluster.sim) -------------------------------------------------------------
    def start(self, loop) -> None:
        self.loop = loop
        loop.idle = self.step

    def attach(self, member) -> None:
        """Members keep their own network model: holds and partitions work as always."""

    def pool(self, env: Envelope) -> None:
        """A message between nodes is in flight: it waits here to be chosen."""
        self._pool.append((env, describe(env, self._asked), False))
        body = env.body if isinstance(env.body, dict) else {}
        doc = body.get("doc", body.get("doc_id"))
        if self.split_docs and doc is not None:
            self._doc_of[env.id] = str(doc)

    def _actor(self, env: Envelope) -> str:
        """Whose input an envelope is: its node's, or with `split_docs` its node's for the
        document it is about."""
        doc = self._doc_of.get(env.id if env.reply_to is None else env.reply_to)
        return env.dst if doc is None else f"{env.dst}/{doc}"

    def delivered(self, env: Envelope) -> None:
        """The wire handed `env` to its receiver."""
        self.observe(self._actor(env), env.id)

    def observe(self, actor: str, item: object) -> None:
        """An actor got an input (a delivered message, a client request, a reply)."""
        self.history[actor] = _mix(self.history.get(actor, 0), item)

    def note(self, actor: str, item: object) -> None:
        """A client's request reached `actor` ("request": numbered in the order the story
        sent them), or a reply reached the clients."""
        if item == "request":
            self._requests += 1
            item = ("request", self._requests)
        self.observe(actor, item)

    # -- choosing -------------------------------------------------------------------------
    def options(self) -> list[Choice]:
        """What can happen next, oldest message first; time passing last."""
        out, links = [], set()
        for env, label, second in self._pool:
            if self.fifo:
                if (env.src, env.dst) in links:
                    continue
                links.add((env.src, env.dst))
            out.append(Choice(label, "deliver", env))
            if second:
                continue
            if self.loss:
                out.append(Choice("drop " + label, "drop", env))
            if self.duplicate:
                out.append(Choice("duplicate " + label, "duplicate", env))
        if self.timers and self.waits_left > 0 and out and self.loop.has_timers():
            out.append(Choice("time passes", "wait"))
        return out

    def key_after(self, choice: Choice) -> frozenset:
        """The state `choice` leads to, as every actor's input history."""
        history = dict(self.history)
        if choice.action == "wait":
            history = {actor: _mix(h, ("time", self.waits_left)) for actor, h in history.items()}
            history["*"] = _mix(history.get("*", 0), self.waits_left)
        else:
            env = choice.env
            actor = self._actor(env)
            h = history.get(actor, 0)
            if choice.action != "deliver":
                h = _mix(h, (choice.action, env.id))
            if choice.action != "drop":
                h = _mix(h, env.id)
            history[actor] = h
        return frozenset(history.items())

    def step(self) -> bool:
        """The loop has nothing to run at this instant: make one choice. False lets virtual
        time move on to the next timer."""
        if self.stopped or not self._pool:
            return False
        options = self.options()
        index = self._pick(options)
        choice = options[index]
        self.taken.append(choice.label)
        if choice.action == "wait":
            self.waits_left -= 1
            self.history = dict(self.key_after(choice))
            return False
        self._pool.pop(next(i for i, (env, _, _) in enumerate(self._pool)
                            if env is choice.env))
        if choice.action != "deliver":  # the sender records it, as the network model does
            sender = self.network.endpoints.get(choice.env.src)
            if sender is not None:
                sender.note(choice.action, choice.env,
                            **({"reason": "loss"} if choice.action == "drop" else {}))
        if choice.action == "drop":
            self.observe(self._actor(choice.env), ("drop", choice.env.id))
            return self.step()
        if choice.action == "duplicate":
            self.observe(self._actor(choice.env), ("duplicate", choice.env.id))
            self._pool.append((choice.env, self._label_of(choice), True))
        self.loop.call_soon(self.network.deliver, choice.env)
        return True

    @staticmethod
    def _label_of(choice: Choice) -> str:
        return choice.label if choice.action == "deliver" else choice.label.split(" ", 1)[1]

    def _pick(self, options: list[Choice]) -> int:
        step = len(self.taken)
        if step < len(self.prefix):
            wanted = self.prefix[step]
            for i, choice in enumerate(options):
                if _same(choice.label, wanted):
                    return i
            self.stopped = True
            raise ScheduleError(f"choice {step + 1} of the schedule, [{wanted}], is not among "
                                f"what can happen next: {[c.label for c in options]}")
        try:
            return self.chooser(self, options)
        except Redundant:
            self.stopped = True
            raise
