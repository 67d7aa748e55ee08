"""Schedules as data, without an event loop: labels, the seeded decisions' text, the file."""

from __future__ import annotations

import json

import pytest

from occsim.cluster.sim.schedule import (
    OrderedScheduler, Schedule, ScheduleError, _parse, _render, _same, describe)
from occsim.transport.message import Envelope
from occsim.transport.network import Decision


def test_a_message_is_labelled_by_its_link_document_and_version_and_its_reply_by_what_it_answers():
    asked: dict = {}
    request = Envelope("n1:7", "n1", "n2", "replicate", {"doc": "1", "version": 3})
    forward = Envelope("n2:4", "n2", "n1", "forward", {"doc_id": "a", "version": -3})
    reply = Envelope("n2:9", "n2", "n1", "replicate_ok", {"applied": True}, reply_to="n1:7")
    assert describe(request, asked) == "n1→n2 doc 1 v3 #n1:7"
    assert describe(forward, asked) == "n2→n1 forward doc a #n2:4"
    assert describe(reply, asked) == "n2→n1 re: doc 1 v3 #n2:9"


def test_a_hand_written_choice_may_leave_out_the_message_id():
    assert _same("n1→n2 doc 1 v3 #n1:7", "n1→n2 doc 1 v3")
    assert _same("n1→n2 doc 1 v3 #n1:7", "n1→n2 doc 1 v3 #n1:7")
    assert not _same("n1→n2 doc 1 v3 #n1:7", "n1→n2 doc 1 v3 #n1:8")
    assert not _same("n1→n2 doc 1 v3 #n1:7", "n1→n2 doc 1")


@pytest.mark.parametrize("decision", [
    Decision((0.012345678901234567,), "deliver"),
    Decision((0.1, 0.0030000000000000001), "duplicate", reordered=True),
    Decision((), "drop", "loss"),
])
def test_a_seeded_decision_reads_back_exactly_as_written(decision):
    assert _parse(_render(decision)) == decision


def test_a_schedule_file_round_trips_and_a_hand_written_one_defaults_to_seed_0(tmp_path):
    path = tmp_path / "s.json"
    Schedule("two_writers", "seeded", 7, 6, "apply-all", "fifo", False, ["a: drop (loss)"]).save(
        str(path))
    assert Schedule.load(str(path)) == Schedule("two_writers", "seeded", 7, 6, "apply-all",
                                                "fifo", False, ["a: drop (loss)"])
    path.write_text(json.dumps({"scenario": "two_writers", "choices": ["n1→n2 doc 1 v2"]}))
    assert Schedule.load(str(path)) == Schedule("two_writers", choices=["n1→n2 doc 1 v2"])


@pytest.mark.parametrize("text, error", [
    ("[]", "is not a schedule"),
    ('{"scenario": "x", "colour": 1}', "unknown field(s) ['colour']"),
    ('{"scenario": "x", "mode": "fast"}', "mode must be seeded or ordered"),
    ('{"scenario": "x", "links": "tcp"}', "unknown rule"),
    ('{"scenario": "x", "choices": [1]}', "choices must be a list of strings"),
    ("{", "cannot read schedule"),
])
def test_a_bad_schedule_file_is_refused_with_one_clear_reason(tmp_path, text, error):
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(ScheduleError, match=None) as err:
        Schedule.load(str(path))
    assert error in str(err.value)


@pytest.mark.parametrize("split_docs", [False, True])
def test_two_deliveries_to_one_node_commute_only_when_documents_are_taken_as_independent(
        split_docs):
    a = Envelope("n1:7", "n1", "n2", "replicate", {"doc": "a", "version": 1})
    b = Envelope("n1:8", "n1", "n2", "replicate", {"doc": "b", "version": 1})
    c = Envelope("n3:2", "n3", "n1", "replicate", {"doc": "a", "version": 1})
    states = []
    for order in ([a, b, c], [c, b, a]):
        sched = OrderedScheduler(split_docs=split_docs)
        for env in order:
            sched.pool(env)
        for env in order:
            sched.delivered(env)
        states.append(frozenset(sched.history.items()))
    assert (states[0] == states[1]) is split_docs
