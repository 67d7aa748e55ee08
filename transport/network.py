"""The network model: what the network does to each message sent on a link src->dst.

This module owns the fault vocabulary of the simulator: per-link delay distributions,
reordering (extra hold-back so later messages overtake), loss, duplication, partitions and
hold rules (messages parked until explicitly released). `NetworkModel.decide` turns one
message into a `Decision`; the transport carries it out.

It is pure: no I/O, no clocks, no global random. Each link has its own `random.Random`,
seeded from the string f"{seed}:{src}->{dst}" (string seeds are hashed with sha512, so
this does not depend on PYTHONHASHSEED), so the same seed and the same sequence of
messages on a link always give the same decisions.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

DISTRIBUTIONS = ("constant", "uniform", "exponential", "normal")

_NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_DELAY_RE = re.compile(rf"\s*{_NUM}\s*(?:\.\.\s*{_NUM}\s*)?(ms|s)?\s*")


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """How one link behaves. Defaults: no delay, no faults."""

    delay_min_ms: float = 0.0
    delay_max_ms: float = 0.0
    # constant: always delay_min; uniform in [min, max]; exponential: min + an exponential
    # draw whose mean makes the overall mean (min+max)/2, capped at 4*max; normal: mean
    # (min+max)/2, sd (max-min)/4, clipped to [min, max]
    distribution: str = "uniform"
    reorder: float = 0.0  # probability that a message gets extra hold-back so later ones overtake it
    reorder_extra_ms: float | None = None  # the extra hold-back; None: max(delay_max_ms, 1.0) * 2
    loss: float = 0.0  # probability the message is lost
    duplicate: float = 0.0  # probability a second copy is delivered (with its own delay)

    def __post_init__(self) -> None:
        for name in ("reorder", "loss", "duplicate"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:  # also rejects NaN
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
        lo, hi = self.delay_min_ms, self.delay_max_ms
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi):
            raise ValueError(f"delay must satisfy 0 <= min <= max (finite ms), got {lo!r}..{hi!r}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"unknown delay distribution [{self.distribution}], expected one of {list(DISTRIBUTIONS)}"
            )
        extra = self.reorder_extra_ms
        if extra is not None and not (math.isfinite(extra) and extra >= 0.0):
            raise ValueError(f"reorder_extra_ms must be a finite number >= 0, got {extra!r}")

    @property
    def extra_ms(self) -> float:
        """The reorder hold-back in ms actually used (resolving the None default)."""
        if self.reorder_extra_ms is not None:
            return self.reorder_extra_ms
        return max(self.delay_max_ms, 1.0) * 2

    @classmethod
    def of(cls, delay: str, distribution: str, reorder: float, loss: float,
           duplicate: float) -> LinkConfig:
        """A link as the CLI, a scenario's `Setup` and the pytest options describe it: the
        delay as text ("1..10ms") and the other faults as they are."""
        low, high = cls.parse_delay(delay)
        return cls(delay_min_ms=low, delay_max_ms=high, distribution=distribution,
                   reorder=reorder, loss=loss, duplicate=duplicate)

    @classmethod
    def parse_delay(cls, text: str) -> tuple[float, float]:
        """Parse "10..120ms", "5ms", "0.1..0.2s" or "0" into (min_ms, max_ms)."""
        m = _DELAY_RE.fullmatch(text) if isinstance(text, str) else None
        if m is None:
            raise ValueError(
                f"cannot parse delay {text!r}: expected e.g. '10..120ms', '5ms', '0.1..0.2s' or '0'"
            )
        unit = m.group(3)
        exp = "e3" if unit == "s" else ""  # scale in the text, so "1.001s" is exactly 1001.0 ms
        lo = float(m.group(1) + exp)
        hi = float(m.group(2) + exp) if m.group(2) is not None else lo
        if unit is None and (lo or hi):
            bare = text.strip()
            raise ValueError(f"delay {text!r} needs a unit: write e.g. '{bare}ms' or '{bare}s'")
        if lo > hi:
            raise ValueError(f"delay {text!r} has min > max")
        return lo, hi


def draw_delay_ms(config: LinkConfig, rng: random.Random) -> float:
    """Draw one delay in ms from the link's distribution using the given RNG."""
    lo, hi = config.delay_min_ms, config.delay_max_ms
    dist = config.distribution
    if dist == "constant" or lo == hi:
        return lo
    if dist == "uniform":
        return rng.uniform(lo, hi)
    if dist == "exponential":
        return min(lo + rng.expovariate(2.0 / (hi - lo)), 4.0 * hi)
    # normal
    return min(max(rng.normalvariate((lo + hi) / 2.0, (hi - lo) / 4.0), lo), hi)


PLAIN = LinkConfig()


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """What the model may look at: the link, the kind and the operation's fields."""

    src: str
    dst: str
    kind: str
    fields: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HoldRule:
    """Hold every matching message until released. Fields set to None match anything."""

    src: str | None = None
    dst: str | None = None
    kind: str | None = "replicate"
    match: Mapping[str, object] = field(default_factory=dict)  # all must equal the message's fields
    limit: int | None = None  # hold at most this many messages, then stop matching

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"hold limit must be >= 0 or None, got {self.limit!r}")

    def matches(self, info: MessageInfo) -> bool:
        """Whether the message fits this rule (the limit is counted by the NetworkModel)."""
        if self.src is not None and self.src != info.src:
            return False
        if self.dst is not None and self.dst != info.dst:
            return False
        if self.kind is not None and self.kind != info.kind:
            return False
        fields = info.fields
        return all(k in fields and fields[k] == v for k, v in self.match.items())


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one message: one delay per delivered copy (seconds)."""

    delays: tuple[float, ...]  # () when dropped or held; 2 entries when duplicated
    outcome: str  # "deliver" | "duplicate" | "drop" | "hold"
    reason: str = ""  # drop: "loss", "partition", "held queue full (limit N)"; hold: the rule id
    reordered: bool = False


class NetworkModel:
    """Per-link configs, partitions and hold rules; decides the fate of each message."""

    def __init__(self, config: LinkConfig = LinkConfig(), *, seed: int = 0, max_held: int = 10_000):
        if max_held < 0:
            raise ValueError(f"max_held must be >= 0, got {max_held!r}")
        self.config = config
        self._default_plain = config == PLAIN
        self.seed = seed
        self.max_held = max_held
        self._links: dict[tuple[str, str], LinkConfig] = {}
        self._rngs: dict[tuple[str, str], random.Random] = {}
        self._partitions: list[dict] = []  # in the order they were made, for rules()
        self._cut: set[tuple[str, str]] = set()  # membership only
        self._rules: dict[str, HoldRule] = {}  # insertion order = matching priority
        self._caught: dict[str, int] = {}  # per rule: messages held so far (for `limit`)
        self._held: list[tuple[str, object]] = []  # (rule id, payload) in the order held
        self._next_rule = 1

    # -- configuration -------------------------------------------------------------------

    def set_default(self, config: LinkConfig) -> None:
        """Set the config used by every link without its own override."""
        self.config = config
        self._default_plain = config == PLAIN

    def set_link(self, src: str, dst: str, config: LinkConfig | None) -> None:
        """Override the config of the link src->dst; None removes the override."""
        if config is None:
            self._links.pop((src, dst), None)
        else:
            self._links[(src, dst)] = config

    def link_config(self, src: str, dst: str) -> LinkConfig:
        """The config in force on the link src->dst."""
        return self._links.get((src, dst), self.config)

    # -- partitions ------------------------------------------------------------------------

    def partition(self, side_a: Iterable[str], side_b: Iterable[str], *, one_way: bool = False) -> None:
        """Cut every link a->b (and b->a unless one_way)."""
        if isinstance(side_a, str) or isinstance(side_b, str):
            raise TypeError("partition sides must be iterables of node names, not a str")
        a = list(dict.fromkeys(side_a))
        b = list(dict.fromkeys(side_b))
        for x in a:
            for y in b:
                if x != y:
                    self._cut.add((x, y))
                    if not one_way:
                        self._cut.add((y, x))
        self._partitions.append({"a": a, "b": b, "one_way": one_way})

    def heal(self) -> None:
        """Remove all partitions."""
        self._partitions.clear()
        self._cut.clear()

    def is_cut(self, src: str, dst: str) -> bool:
        """Whether messages from src to dst are currently cut off."""
        return (src, dst) in self._cut

    def plain(self, src: str, dst: str) -> bool:
        """Whether the link does nothing to messages (no delay, fault, cut or hold rule), so
        every message is delivered at once and `decide` need not be asked."""
        if self._rules or self._cut:
            return False
        config = self._links.get((src, dst))
        return self._default_plain if config is None else config == PLAIN

    # -- hold rules ------------------------------------------------------------------------

    def hold(self, rule: HoldRule) -> str:
        """Add a hold rule and return its id ("h1", "h2", ...)."""
        rule_id = f"h{self._next_rule}"
        self._next_rule += 1
        self._rules[rule_id] = rule
        self._caught[rule_id] = 0
        return rule_id

    def release(self, rule_id: str | None = None) -> list[object]:
        """Remove one rule (all when None) and return what it held, in the order held."""
        if rule_id is None:
            released = [payload for _, payload in self._held]
            self._held.clear()
            self._rules.clear()
            self._caught.clear()
            return released
        if rule_id not in self._rules:
            raise KeyError(f"no hold rule [{rule_id}]")
        del self._rules[rule_id]
        del self._caught[rule_id]
        released = [payload for rid, payload in self._held if rid == rule_id]
        self._held = [(rid, payload) for rid, payload in self._held if rid != rule_id]
        return released

    def held(self) -> list[object]:
        """What the hold rules keep now, in the order held."""
        return [payload for _, payload in self._held]

    def take(self, payload: object) -> None:
        """Take one held message out of its hold (it is let go early, by hand)."""
        self._held = [(rid, p) for rid, p in self._held if p is not payload]

    def held_count(self) -> int:
        """How many messages are currently held."""
        return len(self._held)

    def rules(self) -> list[dict]:
        """JSON-able description of the hold rules and partitions, for a status API."""
        out: list[dict] = []
        for rule_id, rule in self._rules.items():
            out.append({
                "type": "hold",
                "id": rule_id,
                "src": rule.src,
                "dst": rule.dst,
                "kind": rule.kind,
                "match": dict(rule.match),
                "limit": rule.limit,
                "caught": self._caught[rule_id],
                "held": sum(1 for rid, _ in self._held if rid == rule_id),
            })
        for p in self._partitions:
            out.append({"type": "partition", "a": list(p["a"]), "b": list(p["b"]), "one_way": p["one_way"]})
        return out

    # -- the decision ----------------------------------------------------------------------

    def _rng(self, src: str, dst: str) -> random.Random:
        rng = self._rngs.get((src, dst))
        if rng is None:
            rng = self._rngs[(src, dst)] = random.Random(f"{self.seed}:{src}->{dst}")
        return rng

    def _matching_rule(self, info: MessageInfo) -> str | None:
        # The oldest rule that matches and is still under its limit wins.
        for rule_id, rule in self._rules.items():
            if (rule.limit is None or self._caught[rule_id] < rule.limit) and rule.matches(info):
                return rule_id
        return None

    def decide(self, info: MessageInfo, payload: object) -> Decision:
        """Decide what the network does to one message; held payloads are kept for release()."""
        if self.is_cut(info.src, info.dst):
            return Decision((), "drop", "partition")
        rule_id = self._matching_rule(info)
        if rule_id is not None:
            if len(self._held) >= self.max_held:
                return Decision((), "drop", f"held queue full (limit {self.max_held})")
            self._caught[rule_id] += 1
            self._held.append((rule_id, payload))
            return Decision((), "hold", rule_id)

        config = self.link_config(info.src, info.dst)
        rng = self._rng(info.src, info.dst)
        # Fixed draw order on every call: loss, duplicate, reorder, then the delay(s).
        lost = rng.random() < config.loss
        duplicated = rng.random() < config.duplicate
        reordered = rng.random() < config.reorder
        if lost:
            return Decision((), "drop", "loss")
        first = draw_delay_ms(config, rng) + (config.extra_ms if reordered else 0.0)
        if duplicated:
            second = draw_delay_ms(config, rng)
            return Decision((first / 1000.0, second / 1000.0), "duplicate", reordered=reordered)
        return Decision((first / 1000.0,), "deliver", reordered=reordered)
