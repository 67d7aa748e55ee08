"""Schedules, exploration and the counterfactual rules, on the simulation."""

from __future__ import annotations

import gc
import io
import json
import warnings
from contextlib import redirect_stdout

import pytest

from occsim.cluster.tools import cli
from occsim.cluster.stories import explore, runner, sweep, twin
from occsim.cluster.sim import loop as simloop
from occsim.cluster.errors import ScheduleError
from occsim.cluster.sim.schedule import OrderedScheduler, Schedule


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(list(argv))
    return code, out.getvalue()


def _run(name: str, scheduler=None, **kw) -> runner.Outcome:
    return simloop.run(runner.run_scenario(name, sim=True, scheduler=scheduler,
                                           report=runner.Report(io.StringIO()), **kw))


def test_a_saved_seeded_schedule_replays_the_trace_byte_for_byte(tmp_path):
    first, again, schedule = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "s.json"
    code, _ = _cli("run", "reordering_at_scale", "--sim", "--seed", "3", "--no-live",
                   "--trace", str(first), "--save-schedule", str(schedule))
    assert code == 0
    saved = Schedule.load(str(schedule))
    assert (saved.mode, saved.seed, len(saved.choices) > 100) == ("seeded", 3, True)
    assert _cli("run", "reordering_at_scale", "--sim", "--schedule", str(schedule),
                "--no-live", "--trace", str(again))[0] == 0
    assert first.read_bytes() == again.read_bytes()


def test_the_schedule_file_decides_not_the_seed(tmp_path):
    path = tmp_path / "s.json"
    _cli("run", "reordering_at_scale", "--sim", "--seed", "3", "--no-live",
         "--save-schedule", str(path))
    data = json.loads(path.read_text())
    label, _, _ = data["choices"][0].rpartition(": ")
    data["choices"][0] = f"{label}: deliver after 0.5s"
    path.write_text(json.dumps(data))
    trace = tmp_path / "t.jsonl"
    _cli("run", "reordering_at_scale", "--sim", "--schedule", str(path), "--no-live",
         "--trace", str(trace))
    sends = [json.loads(line) for line in trace.read_text().splitlines()]
    first = next(e for e in sends if e["kind"] == "send" and e["msg"] == label.split("#")[1])
    assert first["delay_ms"] == 500.0


def test_a_hand_written_schedule_without_ids_runs_with_seed_0_and_orders_the_deliveries(tmp_path):
    path = tmp_path / "hand.json"
    path.write_text(json.dumps({"scenario": "two_writers", "replica_rule": "apply-all",
                                "choices": ["n2→n1 forward doc 1", "n1→n2 doc 1 v2",
                                            "n1→n3 doc 1 v2", "n1→n2 doc 1 v1"]}))
    trace = tmp_path / "t.jsonl"
    code, out = _cli("run", "two_writers", "--sim", "--schedule", str(path), "--no-live",
                     "--trace", str(trace))
    assert code == 1 and "every copy holds the same write" in out
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    assert events[0]["seed"] == 0 and events[0]["scheduler"] == "ordered"
    applied = [(e["node"], e["version"]) for e in events if e["kind"] == "apply"]
    assert applied[:2] == [("n2", 2), ("n3", 2)] and ("n2", 1) in applied


def test_a_schedule_that_names_no_possible_delivery_says_so():
    sched = OrderedScheduler(["n3→n1 doc 9 v9"])
    with pytest.raises(ScheduleError, match=r"choice 1 of the schedule, \[n3→n1 doc 9 v9\]"):
        _run("two_writers", sched)


def test_run_refuses_a_schedule_with_a_seed_or_other_rules(tmp_path, capsys):
    path = tmp_path / "s.json"
    Schedule("two_writers", replica_rule="apply-all").save(str(path))
    assert cli.main(["run", "two_writers", "--sim", "--schedule", str(path), "--seed", "2"]) == 2
    assert cli.main(["run", "two_writers", "--sim", "--schedule", str(path),
                     "--replica-rule", "es"]) == 2
    assert cli.main(["run", "seed-004", "--sim", "--schedule", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["occsim run: --schedule carries its own seed: leave out --seed",
                   f"occsim run: {path} ran with --replica-rule apply-all, not es",
                   f"occsim run: {path} is a schedule of [two_writers], not of [seed-004]"]


def test_real_processes_refuse_the_counterfactual_rules(capsys):
    assert cli.main(["run", "two_writers", "--links", "fifo", "--no-live"]) == 2
    assert "real node processes always follow Elasticsearch (add --sim)" in \
        capsys.readouterr().err


def test_every_order_of_two_writers_converges_under_elasticsearchs_rule():
    result = explore.explore("two_writers")
    assert result.complete and result.orders > 50
    assert [(c.count, c.diverged, c.verdict) for c in result.classes] == [
        (result.orders, [], "PASS")]


def test_apply_all_diverges_in_some_orders_and_each_class_replays_as_itself(tmp_path):
    result = explore.explore("two_writers", replica_rule="apply-all")
    assert result.complete and sum(c.count for c in result.classes) == result.orders
    diverged = [c for c in result.classes if c.diverged]
    assert diverged and all(c.unexpected == ["acked_durability"] for c in diverged)
    for cls in result.classes:
        first = _run("two_writers", OrderedScheduler(cls.choices), replica_rule="apply-all")
        again = _run("two_writers", OrderedScheduler(cls.choices), replica_rule="apply-all")
        assert first.trace == again.trace
        assert explore.classify(first, ())[1] == cls.copies


def _found(result: explore.Exploration) -> tuple:
    """What a search found, representatives aside: the orders and each class with its count."""
    return result.orders, result.complete, sorted(
        (c.count, c.verdict, repr(sorted(c.copies.items())), repr(sorted(c.answers.items())))
        for c in result.classes)


@pytest.mark.parametrize("name, rule", [("two_writers", "apply-all"), ("counter_race", "es")])
def test_a_depth_first_search_on_two_processes_finds_what_one_finds(name, rule):
    one = explore.explore(name, replica_rule=rule)
    two = explore.explore(name, replica_rule=rule, jobs=2)
    assert _found(two) == _found(one) and two.complete
    assert two.orders + two.cut >= one.orders  # no state run twice: no order counted twice


def test_processes_sharing_the_explored_states_each_claim_a_state_once():
    shared = explore._SharedExplored(1000, budget=1)
    keys = [frozenset({("n1", i), ("n2", i * 7)}) for i in range(500)]
    with explore.ProcessPoolExecutor(2, mp_context=explore.multiprocessing.get_context("fork"),
                                     initializer=explore._share, initargs=(shared,)) as pool:
        claimed = list(pool.map(_claim_all, [keys, keys[::-1]]))
    assert sum(claimed) == len(keys) and all(k in shared for k in keys)
    assert frozenset({("n3", 1)}) not in shared
    assert shared.take_run() and not shared.take_run()  # one run for the whole search


def test_a_parallel_search_within_a_budget_stops_and_says_so():
    result = explore.explore("lost_update", jobs=2, max_schedules=60)
    assert not result.complete and result.pending > 0
    assert result.orders + result.cut <= 60


def _claim_all(keys: list) -> int:
    return sum(explore._SHARED.claim(k) for k in keys)


def test_the_counter_loses_an_increment_without_a_condition_and_never_with_one():
    result = explore.explore("counter_race")
    assert result.complete and len(result.classes) == 1 and result.classes[0].verdict == "PASS"
    copies = result.classes[0].copies
    assert len({v for v, _, _ in copies["counters", "plain"].values()}) == 1


def test_explore_prints_the_classes_and_fails_on_an_undeclared_broken_invariant(tmp_path):
    code, out = _cli("explore", "two_writers", "--replica-rule", "apply-all",
                     "--save-dir", str(tmp_path))
    assert code == 1
    head, *lines = out.splitlines()
    assert "all " in head and " distinct orders explored" in head
    replay = next(line for line in lines if "diverged" in line and line.startswith("class"))
    command = lines[lines.index(replay) + 1:]
    command = next(line for line in command if line.strip().startswith("replay:"))
    assert command.endswith("--replica-rule apply-all")
    args = command.split("occsim ", 1)[1].split()
    trace = tmp_path / "t.jsonl"
    assert cli.main([*args, "--no-live", "--trace", str(trace)]) == 1
    assert trace.read_bytes()


@pytest.mark.parametrize("name", [p.stem for p in runner.all_scenarios()])
def test_explore_runs_every_scenario_with_a_limit(name):
    result = explore.explore(name, max_schedules=2)
    assert result.orders >= 1 and result.classes


def test_a_sample_strategy_counts_only_distinct_orders():
    result = explore.explore("counter_race", strategy="pct", max_schedules=20, seed=1)
    assert result.orders + result.cut == 20 and not result.complete


def test_fifo_links_deliver_in_the_order_sent():
    outcome = sweep.simulate("reordering_at_scale", 3, links="fifo")
    sent, delivered = {}, {}
    for e in outcome.trace:
        if e["kind"] in ("send", "deliver"):
            into = sent if e["kind"] == "send" else delivered
            into.setdefault((e["src"], e["dst"]), []).append(e["msg"])
    for link, msgs in delivered.items():
        assert msgs == [m for m in sent[link] if m in set(msgs)], link
    assert outcome.trace[0]["links"] == "fifo"
    assert outcome.verdict.startswith("PASS reordering_at_scale [links fifo]")


def test_the_twin_shows_the_replica_left_at_version_3():
    first, second = twin.run_pair("seed-004", seed=None, es_compat=None, replica_rule="es",
                                  links="any", twin=("replica-rule", "apply-all"))
    text = twin.side_by_side(first, second)
    row = next(line for line in text.splitlines() if line.startswith("website/1 on n2"))
    assert "v4 seq 3" in row and row.split("v4 seq 3", 1)[1].count("v3 seq 2") == 1
    assert "the traces part at event" in text and '"kind": "discard"' in text


def test_with_timers_time_passing_is_a_choice_that_replays():
    scheds = [OrderedScheduler(["time passes", "time passes"], timers=True) for _ in range(2)]
    runs = [_run("two_writers", sched) for sched in scheds]
    assert scheds[0].taken[:2] == ["time passes", "time passes"]
    assert scheds[0].taken == scheds[1].taken and runs[0].trace == runs[1].trace
    waited = next(e for e in runs[0].trace if e["kind"] == "deliver" and e["mkind"] == "forward")
    assert waited["t"] > 0  # the forward waited while time passed
    result = explore.explore("two_writers", timers=True, max_schedules=40)
    assert result.orders > 0 and not result.complete


def test_a_sweep_under_apply_all_names_the_rule_in_each_reproduce_command():
    code, out = _cli("sweep", "seed-004", "--seeds", "1..2", "--jobs", "1",
                     "--replica-rule", "apply-all")
    assert code == 1
    assert "reproduce: occsim run seed-004 --sim --seed 1 --replica-rule apply-all" in out
    assert "FAIL seed 1: the copy on n2: expected (4, 'version 4'), got (3, 'version 3')" in out


def test_the_twins_html_page_holds_both_diagrams(tmp_path):
    page = tmp_path / "twin.html"
    code, out = _cli("run", "seed-004", "--sim", "--twin", "replica-rule=apply-all",
                     "--save-html", str(page))
    assert code == 0 and f"both diagrams written to {page}" in out
    html = page.read_text()
    assert "PASS seed_004_internal_version" in html
    assert "FAIL seed_004_internal_version [replica-rule apply-all]" in html


LOSSY_STORY = '''
from occsim.cluster.scenario import Setup

SETUP = Setup(nodes=2, profiles=(7,), indices=("pages",), shards=1, replicas=1, loss=0.5,
              duplicate=0.5, replication_timeout=0.5)


async def run(cluster):
    await cluster.client("alice", node="n1").index("pages", "1", {"by": "alice"})
    await cluster.quiesce()
'''


def _lossy(tmp_path, prefix: list[str]):
    story = tmp_path / "lossy_link.py"
    story.write_text(LOSSY_STORY)
    sched = OrderedScheduler(prefix)
    return _run(str(story), sched), sched


@pytest.mark.parametrize("fate", ["drop", "duplicate"])
def test_a_chosen_drop_or_duplicate_is_in_the_trace_as_the_network_models_are(tmp_path, fate):
    outcome, sched = _lossy(tmp_path, [f"{fate} n1→n2 doc 1 v1"])
    assert sched.taken[0].startswith(f"{fate} n1→n2 doc 1 v1 #")
    msg = sched.taken[0].rsplit("#", 1)[1]
    events = [e for e in outcome.trace if e.get("msg") == msg]
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["send", fate] and events[1]["node"] == "n1"
    assert kinds.count("deliver") == (0 if fate == "drop" else 2)
    if fate == "drop":
        assert events[1]["reason"] == "loss"


def test_a_lossy_duplicating_link_is_explored_to_the_end(tmp_path):
    story = tmp_path / "lossy_link.py"
    story.write_text(LOSSY_STORY)
    result = explore.explore(str(story))  # a duplicate's second copy is not duplicated again
    assert result.complete
    held = sorted(sorted(c.copies["pages", "1"]) for c in result.classes)
    assert held == [["n1"], ["n1", "n2"]]  # n2 failed after its copy was dropped, or holds v1


def test_a_run_cut_short_leaves_no_coroutine_unawaited():
    """A cut run stops in the middle: the story's `finally` (the manager's stop) starts work in
    the loop's last turn. That work is closed, not left to warn "never awaited" when the
    garbage collector meets it (at any point: once inside a namedtuple's `__new__`, whose
    builtins lack `__import__`, and the warning itself failed with a KeyError)."""
    run = dict(name="two_writers", es_compat=None, replica_rule="es", links="any",
               timers=False, split_docs=False)

    def cut(sched, options):
        raise explore.Redundant

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            with pytest.raises(explore.Redundant):
                explore._once(run, OrderedScheduler(chooser=cut))
            gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_a_search_whose_shared_table_fills_ends_incomplete_and_says_so():
    shared = explore._SharedExplored(1, budget=100)  # the smallest table: 65,536 slots
    with pytest.raises(explore.TableFull):
        for n in range(65_536):
            shared.claim(frozenset({("n1", n)}))
    run = dict(name="two_writers", es_compat=None, replica_rule="es", links="any",
               timers=False, split_docs=False)
    explore._share(shared)
    try:
        part = explore._search(run, "dfs", 100, 0, [])
    finally:
        explore._share(None)
    assert not part.complete and not part.finals
