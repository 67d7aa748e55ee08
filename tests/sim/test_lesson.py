"""`occsim lesson`: questions from a simulated run's trace, answered with `--answers` and
scored, and the worksheets written from them."""

from __future__ import annotations

import io

import pytest

from occsim.cluster.stories import lesson
from occsim.cluster.sim import loop as simloop
from occsim.cluster.tools.cli import main
from occsim.cluster.stories.runner import Report, run_scenario

SEED_004 = ["a", "c", "a", "b", "c", "c"]  # the key of seed-004's lesson


def _questions(name: str, **rules) -> list[lesson.Question]:
    outcome = simloop.run(run_scenario(name, report=Report(io.StringIO()), sim=True, **rules))
    return lesson.questions(outcome.trace)[1]


def test_seed_004_asks_what_the_replica_does_with_the_late_version():
    found = _questions("seed-004")
    prompts = [q.prompt for q in found]
    late = prompts.index("n2 holds doc 1 at v4. v3 arrives from n1. What does n2 do?")
    assert found[late].choices == ("applies it", "discards it", "answers 409")
    assert found[late].key == "(b) discards it"
    assert found[late].explanation == ("n2 holds doc 1 at v4; v3 from n1 arrives late; n2 keeps "
                                       "v4 and discards it")
    assert [lesson.LETTERS[q.answer] for q in found] == SEED_004
    conflict = next(q for q in found if q.key == "(c) answers 409")
    assert conflict.prompt.startswith("bob sends PUT /website/blog/1?version=1 to n1. The "
                                      "primary n1 holds doc 1 at v2.")
    assert found[-1].prompt.startswith("inspector reads doc 1 from n2")
    assert found[-1].key == "(c) v4"


def test_under_apply_all_the_late_version_is_applied():
    found = _questions("seed-004", replica_rule="apply-all")
    late = next(q for q in found if q.prompt.startswith("n2 holds doc 1 at v4. v3 arrives"))
    assert late.key == "(a) applies it"
    assert found[-1].key == "(b) v3"  # n2 now answers v3 to the reader


def test_answers_are_scored(capsys):
    assert main(["lesson", "seed-004", "--answers", ",".join(SEED_004)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "score 6/6"
    assert "right. n2 holds doc 1 at v4; v3 from n1 arrives late" in out


def test_missing_answers_are_wrong_and_extra_ones_ignored(capsys):
    main(["lesson", "seed-004", "--answers", "a, A,x"])
    out = capsys.readouterr().out
    assert "score 1/6" in out
    assert "wrong, the answer is (c) answers 409" in out
    assert "  4. n2 holds doc 1 at v4. v3 arrives from n1. What does n2 do?  answer (b) " \
           "discards it" in out
    assert "replay: occsim run seed-004 --sim --trace lesson.jsonl && occsim replay " \
           "lesson.jsonl --step --doc 1" in out
    main(["lesson", "seed-004", "--answers", ",".join(SEED_004 + ["a", "b"])])
    assert "score 6/6" in capsys.readouterr().out


def test_worksheets(tmp_path, capsys):
    page, text = tmp_path / "seed.html", tmp_path / "seed.md"
    assert main(["lesson", "seed-004", "--worksheet", str(page)]) == 0
    assert main(["lesson", "seed-004", "--worksheet", str(text)]) == 0
    assert capsys.readouterr().out.count("6 questions and their key written") == 2
    html = page.read_text()
    assert html.count("<svg") == 6 and html.count("<h2>Question") == 6
    assert html.index("n2 holds doc 1 at v4. v3 arrives from n1.") < html.index("Answer key")
    assert "<li>(b) discards it: n2 holds doc 1 at v4; v3 from n1 arrives late" in html
    md = text.read_text()
    assert md.count("```text") == 6
    question = md.split("## Question 4")[1].split("## Question 5")[0]
    assert "held: doc 1 v3" in question and "arrived after v4" not in question  # up to then
    assert "4. (b) discards it: n2 holds doc 1 at v4" in md.split("## Answer key")[1]


def test_mistakes_are_one_line(capsys, tmp_path):
    assert main(["lesson", "nope", "--answers", "a"]) == 2
    assert main(["lesson", "seed-004", "--worksheet", str(tmp_path / "x.pdf")]) == 2
    assert main(["lesson", str(tmp_path / "missing.json"), "--answers", "a"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "occsim lesson: no scenario named [nope]; `occsim list` shows them"
    assert err[1] == "occsim lesson: --worksheet needs a file ending in .html or .md"
    assert err[2].startswith("occsim lesson: cannot read schedule")
    assert len(err) == 3


@pytest.mark.parametrize("name", ["seed-000", "tombstones", "retry_after_failover",
                                  "failover_during_writes", "reordering_at_scale"])
def test_every_story_is_a_lesson(name):
    found = _questions(name)
    assert 0 < len(found) <= lesson.MAX_QUESTIONS
    for q in found:
        assert 0 <= q.answer < len(q.choices) and q.explanation
    if name == "tombstones":  # what the primary holds is said as it is, a delete included
        assert any("The primary n1 holds doc 1 deleted at v10" in q.prompt and
                   q.key == "(c) answers 409" for q in found)
    if name == "retry_after_failover":  # a retried create, then reads after the failover
        assert "op_type=create" in found[0].prompt and found[0].key == "(c) answers 409"
        assert found[1].prompt == ("alice reads doc 1 from n2 (GET /orders/doc/1). Which "
                                   "version comes back?")
        assert found[1].choices == ("v1", "404 not found") and found[1].key == "(a) v1"
    if name == "failover_during_writes":  # reads after the primary was killed
        assert any(q.prompt.startswith("inspector reads doc w0") for q in found)


def test_a_run_without_decisive_moments_says_so(capsys):
    assert main(["lesson", "two_writers", "--answers", "a"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(
        "this run has no decisive moment to ask about; `occsim play` lets you make one")
