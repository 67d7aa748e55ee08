"""Unit tests for transport.network: link configs, distributions, faults, partitions, holds."""

import json
import random

import pytest

from occsim.transport.network import (
    DISTRIBUTIONS,
    Decision,
    HoldRule,
    LinkConfig,
    MessageInfo,
    NetworkModel,
    draw_delay_ms,
)


def _msg(src="n1", dst="n2", kind="replicate", **fields):
    return MessageInfo(src, dst, kind, fields)


def _run(model, n, src="n1", dst="n2"):
    return [model.decide(_msg(src, dst, seq_no=i), i) for i in range(n)]


# -- LinkConfig --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("10..120ms", (10.0, 120.0)),
        ("5ms", (5.0, 5.0)),
        ("0", (0.0, 0.0)),
        ("0..0", (0.0, 0.0)),
        ("0.1..0.2s", (100.0, 200.0)),
        ("1.001s", (1001.0, 1001.0)),
        (" 3 .. 4.5 ms ", (3.0, 4.5)),
    ],
)
def test_parse_delay_good(text, expected):
    assert LinkConfig.parse_delay(text) == expected


@pytest.mark.parametrize(
    "text", ["", "ms", "10", "10..20", "-1ms", "5..1ms", "10..ms", "1..2..3ms", "5us", "fast", "1.ms"]
)
def test_parse_delay_bad(text):
    with pytest.raises(ValueError, match="delay"):
        LinkConfig.parse_delay(text)


def test_link_config_defaults_are_no_delay_no_faults():
    c = LinkConfig()
    assert (c.delay_min_ms, c.delay_max_ms, c.loss, c.duplicate, c.reorder) == (0, 0, 0, 0, 0)
    assert c.extra_ms == 2.0
    assert LinkConfig(delay_max_ms=50).extra_ms == 100.0
    assert LinkConfig(reorder_extra_ms=7).extra_ms == 7


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(loss=-0.1),
        dict(loss=1.5),
        dict(duplicate=2),
        dict(reorder=-1),
        dict(loss=float("nan")),
        dict(delay_min_ms=-1),
        dict(delay_min_ms=10, delay_max_ms=5),
        dict(delay_max_ms=float("inf")),
        dict(distribution="pareto"),
        dict(reorder_extra_ms=-1),
    ],
)
def test_link_config_validation(kwargs):
    with pytest.raises(ValueError):
        LinkConfig(**kwargs)


def test_link_config_accepts_edges():
    LinkConfig(loss=0, duplicate=1, reorder=1, delay_min_ms=5, delay_max_ms=5, reorder_extra_ms=0)


# -- distributions -----------------------------------------------------------------------


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_distribution_bounds(dist):
    c = LinkConfig(delay_min_ms=10, delay_max_ms=30, distribution=dist)
    rng = random.Random(1)
    draws = [draw_delay_ms(c, rng) for _ in range(5000)]
    upper = 4 * 30 if dist == "exponential" else 30
    assert all(10 <= d <= upper for d in draws)
    if dist == "constant":
        assert set(draws) == {10}
    else:
        assert len(set(draws)) > 1000
        mean = sum(draws) / len(draws)
        assert 18 < mean < 22  # all three are centred on (min+max)/2


def test_exponential_has_a_tail_past_max_and_is_capped():
    c = LinkConfig(delay_min_ms=0, delay_max_ms=10, distribution="exponential")
    rng = random.Random(3)
    draws = [draw_delay_ms(c, rng) for _ in range(20000)]
    assert max(draws) == 40.0  # capped at 4*max, and the cap is reached
    assert any(10 < d < 40 for d in draws)


def test_normal_is_clipped_to_bounds():
    c = LinkConfig(delay_min_ms=10, delay_max_ms=30, distribution="normal")
    rng = random.Random(5)
    draws = [draw_delay_ms(c, rng) for _ in range(20000)]
    assert min(draws) == 10 and max(draws) == 30  # ~4.5% fall outside 2 sd and get clipped


def test_decisions_are_in_seconds():
    model = NetworkModel(LinkConfig(delay_min_ms=250, delay_max_ms=250, distribution="constant"))
    assert model.decide(_msg(), None) == Decision((0.25,), "deliver")


def test_zero_delay_default():
    assert NetworkModel().decide(_msg(), None) == Decision((0.0,), "deliver")


# -- determinism -------------------------------------------------------------------------

FAULTY = LinkConfig(delay_min_ms=1, delay_max_ms=50, loss=0.2, duplicate=0.2, reorder=0.2)


def test_same_seed_same_decisions():
    a = NetworkModel(FAULTY, seed=11)
    b = NetworkModel(FAULTY, seed=11)
    assert _run(a, 300) == _run(b, 300)


def test_different_seed_different_decisions():
    assert _run(NetworkModel(FAULTY, seed=11), 300) != _run(NetworkModel(FAULTY, seed=12), 300)


def test_links_have_independent_streams():
    # Interleaving traffic on another link does not change this link's decisions.
    a = NetworkModel(FAULTY, seed=4)
    b = NetworkModel(FAULTY, seed=4)
    plain = _run(a, 200)
    mixed = []
    for i in range(200):
        b.decide(_msg("n2", "n3"), None)
        mixed.append(b.decide(_msg(seq_no=i), i))
    assert plain == mixed
    assert _run(NetworkModel(FAULTY, seed=4), 200, "n1", "n3") != plain


def test_seed_is_the_documented_string():
    model = NetworkModel(LinkConfig(delay_min_ms=0, delay_max_ms=100), seed=9)
    rng = random.Random("9:n1->n2")
    rng.random(), rng.random(), rng.random()  # loss, duplicate, reorder draws
    assert model.decide(_msg(), None).delays == (rng.uniform(0, 100) / 1000,)


def test_draw_order_is_loss_duplicate_reorder_then_delays():
    c = LinkConfig(delay_min_ms=0, delay_max_ms=100, loss=0.3, duplicate=0.4, reorder=0.5, reorder_extra_ms=1000)
    model = NetworkModel(c, seed=6)
    rng = random.Random("6:n1->n2")
    for i in range(500):
        lost, dup, reorder = rng.random() < 0.3, rng.random() < 0.4, rng.random() < 0.5
        if lost:
            expected = Decision((), "drop", "loss")
        else:
            first = (rng.uniform(0, 100) + (1000 if reorder else 0)) / 1000
            delays = (first, rng.uniform(0, 100) / 1000) if dup else (first,)
            expected = Decision(delays, "duplicate" if dup else "deliver", reordered=reorder)
        assert model.decide(_msg(seq_no=i), i) == expected


# -- loss, duplicate, reorder ------------------------------------------------------------


def test_loss_rate():
    decisions = _run(NetworkModel(LinkConfig(loss=0.2), seed=1), 10_000)
    lost = [d for d in decisions if d.outcome == "drop"]
    assert all(d.reason == "loss" and d.delays == () for d in lost)
    assert abs(len(lost) / 10_000 - 0.2) < 0.02


def test_duplicate_rate():
    decisions = _run(NetworkModel(LinkConfig(delay_max_ms=10, duplicate=0.3), seed=2), 10_000)
    dups = [d for d in decisions if d.outcome == "duplicate"]
    assert all(len(d.delays) == 2 for d in dups)
    assert all(len(d.delays) == 1 for d in decisions if d.outcome == "deliver")
    assert abs(len(dups) / 10_000 - 0.3) < 0.02
    assert any(d.delays[0] != d.delays[1] for d in dups)  # each copy has its own delay


def test_certain_and_impossible_faults():
    assert {d.outcome for d in _run(NetworkModel(LinkConfig(loss=1.0)), 200)} == {"drop"}
    assert {d.outcome for d in _run(NetworkModel(LinkConfig(duplicate=1.0)), 200)} == {"duplicate"}
    assert {d.outcome for d in _run(NetworkModel(LinkConfig()), 200)} == {"deliver"}


def test_reorder_lets_a_later_message_overtake():
    # With a constant delay nothing overtakes; reordering holds some messages back.
    def overtakes(config):
        delays = [d.delays[0] for d in _run(NetworkModel(config, seed=3), 100)]
        return [(i, j) for i in range(len(delays)) for j in range(i + 1, len(delays)) if delays[j] < delays[i]]

    steady = LinkConfig(delay_min_ms=10, delay_max_ms=10, distribution="constant")
    assert overtakes(steady) == []
    jumpy = LinkConfig(delay_min_ms=10, delay_max_ms=10, distribution="constant", reorder=0.3)
    assert overtakes(jumpy)
    decisions = _run(NetworkModel(jumpy, seed=3), 100)
    assert {d.delays for d in decisions if d.reordered} == {(0.03,)}  # 10 + extra (2 * max(10, 1))
    assert {d.delays for d in decisions if not d.reordered} == {(0.01,)}


def test_reorder_extra_applies_to_the_first_copy_only():
    c = LinkConfig(delay_min_ms=5, delay_max_ms=5, reorder=1.0, duplicate=1.0, reorder_extra_ms=100)
    d = NetworkModel(c).decide(_msg(), None)
    assert d == Decision((0.105, 0.005), "duplicate", reordered=True)


def test_per_link_override():
    model = NetworkModel(LinkConfig())
    slow = LinkConfig(delay_min_ms=100, delay_max_ms=100)
    model.set_link("n1", "n2", slow)
    assert model.link_config("n1", "n2") is slow
    assert model.link_config("n2", "n1") == LinkConfig()
    assert model.decide(_msg(), None).delays == (0.1,)
    assert model.decide(_msg("n2", "n1"), None).delays == (0.0,)
    model.set_link("n1", "n2", None)
    assert model.decide(_msg(), None).delays == (0.0,)
    model.set_default(slow)
    assert model.config is slow
    assert model.decide(_msg("n2", "n1"), None).delays == (0.1,)


# -- partitions --------------------------------------------------------------------------


def test_partition_both_ways_and_heal():
    model = NetworkModel()
    model.partition(["n1"], ["n2", "n3"])
    for src, dst in [("n1", "n2"), ("n2", "n1"), ("n1", "n3"), ("n3", "n1")]:
        assert model.is_cut(src, dst)
        assert model.decide(_msg(src, dst), None) == Decision((), "drop", "partition")
    assert not model.is_cut("n2", "n3")
    assert model.decide(_msg("n2", "n3"), None).outcome == "deliver"
    model.heal()
    assert not model.is_cut("n1", "n2") and not model.is_cut("n2", "n1")
    assert model.decide(_msg("n1", "n2"), None).outcome == "deliver"
    assert model.rules() == []


def test_partition_never_cuts_a_node_from_itself():
    model = NetworkModel()
    model.partition(["n1", "n2"], ["n2", "n3"])
    assert not model.is_cut("n2", "n2")
    assert model.is_cut("n1", "n2") and model.is_cut("n3", "n2") and model.is_cut("n1", "n3")
    assert not model.is_cut("n1", "n1")


def test_partition_one_way():
    model = NetworkModel()
    model.partition(iter(["n1"]), iter(["n2"]), one_way=True)
    assert model.is_cut("n1", "n2")
    assert not model.is_cut("n2", "n1")
    assert model.decide(_msg("n1", "n2"), None).reason == "partition"
    assert model.decide(_msg("n2", "n1"), None).outcome == "deliver"


def test_partition_beats_hold_and_rejects_a_bare_string():
    model = NetworkModel()
    model.hold(HoldRule())
    model.partition(["n1"], ["n2"])
    assert model.decide(_msg(), "p").reason == "partition"
    assert model.held_count() == 0
    with pytest.raises(TypeError):
        model.partition("n1", ["n2"])


# -- hold rules --------------------------------------------------------------------------


def test_hold_rule_matching():
    info = _msg("n1", "n2", "replicate", index="test", doc="1", version=2)
    assert HoldRule().matches(info)
    assert not HoldRule().matches(_msg(kind="replicate_ok"))
    assert HoldRule(kind=None).matches(_msg(kind="replicate_ok"))
    assert HoldRule(src="n1", dst="n2").matches(info)
    assert not HoldRule(src="n2").matches(info)
    assert not HoldRule(dst="n3").matches(info)
    assert HoldRule(match={"doc": "1", "version": 2}).matches(info)
    assert not HoldRule(match={"doc": "1", "version": 3}).matches(info)
    assert not HoldRule(match={"doc": 1}).matches(info)
    assert not HoldRule(match={"seq_no": 1}).matches(info)  # absent field does not match


def test_hold_and_release_by_id_keeps_order():
    model = NetworkModel(LinkConfig(loss=1.0))  # anything not held would be lost
    h1 = model.hold(HoldRule(dst="n2"))
    h2 = model.hold(HoldRule(dst="n3"))
    assert (h1, h2) == ("h1", "h2")
    for i, dst in enumerate(["n2", "n3", "n2", "n3", "n2"]):
        assert model.decide(_msg(dst=dst), f"p{i}") == Decision((), "hold", "h1" if dst == "n2" else "h2")
    assert model.held_count() == 5
    assert model.release("h2") == ["p1", "p3"]
    assert model.held_count() == 3
    assert model.decide(_msg(dst="n3"), "late").reason == "loss"  # h2 is gone
    assert model.release("h1") == ["p0", "p2", "p4"]
    assert model.held_count() == 0
    with pytest.raises(KeyError):
        model.release("h1")
    assert model.hold(HoldRule()) == "h3"  # ids are not reused


def test_release_all_keeps_global_order():
    model = NetworkModel()
    model.hold(HoldRule(dst="n2"))
    model.hold(HoldRule(dst="n3"))
    for i, dst in enumerate(["n3", "n2", "n3", "n2"]):
        model.decide(_msg(dst=dst), i)
    assert model.release() == [0, 1, 2, 3]
    assert model.held_count() == 0 and model.rules() == []
    assert model.decide(_msg(), None).outcome == "deliver"


def test_hold_limit_then_stops_matching():
    model = NetworkModel()
    rid = model.hold(HoldRule(match={"doc": "1"}, limit=2))
    outcomes = [model.decide(_msg(doc="1"), i).outcome for i in range(4)]
    assert outcomes == ["hold", "hold", "deliver", "deliver"]
    assert model.decide(_msg(doc="2"), "x").outcome == "deliver"
    assert model.release(rid) == [0, 1]


def test_first_rule_wins_then_next_when_limit_reached():
    model = NetworkModel()
    model.hold(HoldRule(limit=1))
    model.hold(HoldRule())
    assert [model.decide(_msg(), i).reason for i in range(3)] == ["h1", "h2", "h2"]


def test_held_queue_full_drops():
    model = NetworkModel(max_held=3)
    model.hold(HoldRule())
    decisions = [model.decide(_msg(), i) for i in range(5)]
    assert [d.outcome for d in decisions] == ["hold"] * 3 + ["drop"] * 2
    assert decisions[-1] == Decision((), "drop", "held queue full (limit 3)")
    assert model.held_count() == 3
    assert model.release() == [0, 1, 2]


def test_holding_does_not_consume_randomness():
    # Held messages skip the random part, so the link's later decisions are unchanged.
    plain = _run(NetworkModel(FAULTY, seed=8), 50)
    model = NetworkModel(FAULTY, seed=8)
    model.hold(HoldRule(match={"doc": "x"}))
    mixed = []
    for i in range(50):
        model.decide(_msg(doc="x"), None)
        mixed.append(model.decide(_msg(seq_no=i), i))
    assert mixed == plain


def test_rules_is_json_serialisable():
    model = NetworkModel()
    model.hold(HoldRule(dst="n2", match={"index": "test", "shard": 0}, limit=5))
    model.partition(["n1"], ["n2", "n3"], one_way=True)
    assert model.decide(_msg("n3", "n2", index="test", shard=0), object()).outcome == "hold"
    rules = json.loads(json.dumps(model.rules()))
    assert rules == [
        {"type": "hold", "id": "h1", "src": None, "dst": "n2", "kind": "replicate",
         "match": {"index": "test", "shard": 0}, "limit": 5, "caught": 1, "held": 1},
        {"type": "partition", "a": ["n1"], "b": ["n2", "n3"], "one_way": True},
    ]


def test_a_held_message_can_be_taken_out_of_its_hold_by_hand():
    net = NetworkModel()
    net.hold(HoldRule(src="n1"))
    a, b = object(), object()
    for payload in (a, b):
        assert net.decide(MessageInfo("n1", "n2", "replicate", {}), payload).outcome == "hold"
    assert net.held() == [a, b]
    net.take(a)
    assert net.held() == [b] and net.held_count() == 1
    assert net.release() == [b]
