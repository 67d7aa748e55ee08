"""`occsim play` driven with Textual's pilot at 80×24: keys pressed, the simulated story's
choices and the screen checked."""

from __future__ import annotations

import asyncio
import html
import re

import pytest

from occsim.cluster.tools.cli import main
from occsim.cluster.stories.play import PlayApp
from occsim.cluster.sim.schedule import Schedule
from occsim.cluster.stories.session import Session

SIZE = (80, 24)
V4 = "n1 → n2  replicate  doc 1  v4  #3  term 1"
V3_HELD = "held by the story: n1 → n2  replicate  doc 1  v3  #2  term 1"


def screen(app: PlayApp) -> str:
    """The screen as text, row by row, read from Textual's SVG screenshot."""
    rows: dict[float, list] = {}
    for x, y, length, body in re.findall(r'<text class="[^"]*-r\d+" x="([\d.]+)" y="([\d.]+)" '
                                         r'textLength="([\d.]+)"[^>]*>(.*?)</text>',
                                         app.export_screenshot()):
        text = html.unescape(body).replace("\xa0", " ")
        rows.setdefault(float(y), []).append((float(x), float(length) / len(text), text))
    lines = []
    for _, cells in sorted(rows.items()):
        line = ""
        for x, width, text in sorted(cells):
            line = line.ljust(round(x / width)) + text
        lines.append(line.rstrip())
    return "\n".join(lines)


async def _to_the_race(pilot) -> None:
    """Let the simulation pick until bob's v4 is in flight and the story holds alice's v3."""
    await pilot.press("n", "n", "n", "n")
    await pilot.pause()


async def test_deliver_v4_then_v3_and_see_n2_discard_it(tmp_path):
    app = PlayApp(Session("seed-004"), str(tmp_path / "s.json"))
    async with app.run_test(size=SIZE) as pilot:
        await _to_the_race(pilot)
        text = screen(app)
        assert V4 in text and V3_HELD in text
        assert "bob waits for the answer to PUT /website/blog/1 (n1)" in text
        await pilot.press("enter")  # v4, the first in the list
        await pilot.pause()
        assert "n2 applies doc 1 v4 (#3) from n1: v4 is newer than the v2 it held" in screen(app)
        await pilot.press("n", "n")  # v4's ack, then the story releases v3: deliver it
        await pilot.pause()
        assert "n2 holds doc 1 at v4; v3 from n1 arrives late; n2 keeps v4 and discards it" \
            in screen(app)
        await pilot.press("n")
        await pilot.pause()
        text = screen(app)
    assert app.snapshot.ended
    assert [c.split(" #")[0] for c in app.session.choices[4:7]] == [
        "n1→n2 doc 1 v4", "n2→n1 re: doc 1 v4", "n1→n2 doc 1 v3"]
    assert "the story has ended" in text
    assert "PASS seed_004_internal_version: every answer was the expected one" in text
    assert all(len(line) <= SIZE[0] for line in text.splitlines())


async def test_apply_all_leaves_n2_at_v3_and_the_verdict_names_it(tmp_path):
    app = PlayApp(Session("seed-004", replica_rule="apply-all"), str(tmp_path / "s.json"))
    async with app.run_test(size=SIZE) as pilot:
        await _to_the_race(pilot)
        await pilot.press("enter", "n", "n")
        await pilot.pause()
        assert "n2 applies doc 1 v3 (#2) from n1" in screen(app)  # it held v4
        await pilot.press("n")
        await pilot.pause()
        words = " ".join(screen(app).split())
    assert "replica rule apply-all" in words
    assert "copies differ: doc 1 of [website][3] is v4 on n1 (primary), v3 on n2" in words
    assert "FAIL seed_004_internal_version" in words


async def test_a_held_message_delivered_early_and_a_step_back(tmp_path):
    app = PlayApp(Session("seed-004"), str(tmp_path / "s.json"))
    async with app.run_test(size=SIZE) as pilot:
        await _to_the_race(pilot)
        before = screen(app)
        await pilot.press("down", "enter")  # the held v3, before v4
        await pilot.pause()
        text = screen(app)
        assert "n2 applies doc 1 v3 (#2) from n1: v3 is newer than the v2 it held" in text
        assert V3_HELD not in text and V4 in text
        assert app.session.choices[-1] == "n1→n2 doc 1 v3 #n1:8"
        await pilot.press("b")
        await pilot.pause()
        assert len(app.session.choices) == 4
        after = screen(app)
    assert "stepped back: n1→n2 doc 1 v3 #n1:8 is in flight again" in after
    lines = lambda t: [l for l in t.splitlines() if "replicate  doc 1" in l]  # noqa: E731
    assert lines(after) == lines(before)


async def test_drop_duplicate_keys_and_a_saved_schedule_is_a_lesson(tmp_path, capsys):
    saved = tmp_path / "race.json"
    app = PlayApp(Session("seed-004"), str(saved))
    async with app.run_test(size=SIZE) as pilot:
        await _to_the_race(pilot)
        await pilot.press("down", "d")  # the held v3 can only be delivered early
        await pilot.pause()
        assert "a message held by the story can only be delivered early, not dropped" \
            in screen(app)
        assert len(app.session.choices) == 4
        await pilot.press("up", "u")
        await pilot.pause()
        assert app.session.choices[-1] == "duplicate n1→n2 doc 1 v4 #n1:10"
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Enter deliver · d drop · u duplicate" in screen(app)
        await pilot.press("s")
        await pilot.pause()
        assert f"saved 5 choices to {saved}" in " ".join(screen(app).split())
    schedule = Schedule.load(str(saved))
    assert schedule.scenario == "seed-004" and len(schedule.choices) == 5
    assert await asyncio.to_thread(main, ["lesson", str(saved), "--answers", "a"]) == 0
    out = capsys.readouterr().out
    assert "n2 holds doc 1 at v4. v4 arrives from n1. What does n2 do?" in out  # the duplicate
    assert re.search(r"^score 1/\d+$", out, re.M)


def test_play_needs_a_terminal_and_names_a_bad_scenario(capsys, tmp_path):
    assert main(["play", "seed-004"]) == 2
    assert main(["play", "nope"]) == 2
    (tmp_path / "bad.json").write_text('{"scenario": "seed-004", "choices": ["n9→n1 doc 7"]}')
    assert main(["play", str(tmp_path / "bad.json")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "occsim play: needs a terminal (occsim lesson --answers works without one)",
        "occsim play: no scenario named [nope]; `occsim list` shows them",
        "occsim play: choice 1 of the schedule, [n9→n1 doc 7], is not among what can happen "
        "next: ['n1→n2 doc 1 v1 #n1:5', 'drop n1→n2 doc 1 v1 #n1:5', "
        "'duplicate n1→n2 doc 1 v1 #n1:5']"]


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
async def test_the_screen_takes_the_width_it_is_given(size, tmp_path):
    app = PlayApp(Session("seed-004"), str(tmp_path / "s.json"))
    async with app.run_test(size=size) as pilot:
        await _to_the_race(pilot)
        text = screen(app)
    assert 0.85 * size[0] < max(len(line) for line in text.splitlines()) <= size[0]
    assert "shard copies (* primary)" in text and V4 in text


async def test_a_schedule_saved_by_play_replays_with_occsim_run(tmp_path, capsys):
    """Held v3 delivered early and v4 duplicated: `occsim run --sim --schedule` makes the
    same choices (the story, which expects n2 to discard v3, then fails the same way)."""
    saved = tmp_path / "early.json"
    app = PlayApp(Session("seed-004", replica_rule="apply-all"), str(saved))
    async with app.run_test(size=SIZE) as pilot:
        await _to_the_race(pilot)
        await pilot.press("down", "enter", "u")
        while not app.snapshot.ended:
            await pilot.press("n")
        await pilot.press("s")
        await pilot.pause()
    played = app.snapshot
    code = await asyncio.to_thread(main, ["run", "seed-004", "--sim", "--no-live",
                                          "--schedule", str(saved)])
    out = capsys.readouterr()
    assert "parted from its schedule" not in out.err + out.out
    assert played.outcome.verdict in out.out
    assert code == 1


def test_a_saved_schedule_keeps_the_story_seed_and_refuses_a_seeded_one(tmp_path, capsys):
    """external_sync_race runs with seed 3: its saved schedule says so, and replays."""
    session = Session("external_sync_race")
    for _ in range(6):
        session.choices.append(session.snapshot().options[0].label)
    saved = tmp_path / "sync.json"
    session.schedule().save(str(saved))
    assert Schedule.load(str(saved)).seed == 3
    played = session.snapshot()
    assert main(["run", "external_sync_race", "--sim", "--no-live", "--schedule",
                 str(saved)]) == 0
    assert played.outcome.verdict in capsys.readouterr().out
    seeded = tmp_path / "seeded.json"
    Schedule("seed-004", mode="seeded").save(str(seeded))
    assert main(["lesson", str(seeded), "--answers", "a"]) == 2
    assert capsys.readouterr().err == (
        f"occsim lesson: {seeded} holds a seeded run's network decisions: play and lesson "
        "follow a schedule of deliveries (saved by occsim play or occsim explore)\n")
