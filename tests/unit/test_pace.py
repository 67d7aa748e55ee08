"""The pacer of `occsim run --step`: a key per shown request, c runs on, q stops the run."""

from __future__ import annotations

import pytest

from occsim.cluster.view.pace import Pacer
from occsim.cluster.stories.runner import Interrupted


def _pacer(keys: str, step: bool = True) -> tuple[Pacer, list[str]]:
    said: list[str] = []
    pressed = iter(keys)
    return Pacer(step=step, announce=said.append, read_key=lambda: next(pressed, ""),
                 blocking=True), said


async def test_each_request_waits_for_a_key_until_c_runs_on():
    pacer, said = _pacer("xc")
    for what in ("alice PUT /a/_doc/1", "bob GET /a/_doc/1", "alice GET /a/_doc/1", "bob PUT"):
        await pacer(what)
    assert said == [
        "[step 1] next: alice PUT /a/_doc/1   (any key: go · c: run on · q: stop)",
        "[step 2] next: bob GET /a/_doc/1   (any key: go · c: run on · q: stop)"]
    assert (pacer.steps, pacer.stepping) == (4, False)


async def test_q_stops_the_run_and_without_step_nothing_waits():
    pacer, said = _pacer("xq")
    await pacer("one")
    with pytest.raises(Interrupted, match="stopped at step 2"):
        await pacer("two")
    pacer, said = _pacer("", step=False)
    await pacer("one")
    assert said == [] and pacer.steps == 1


async def test_step_holds_only_the_requests_the_run_shows():
    pacer, said = _pacer("xx")
    await pacer("setup PUT /a/_doc/1", False)  # a quiet request passes
    await pacer("alice PUT /a/_doc/1", True)
    await pacer("auditor GET /a/_doc/1", False)
    await pacer("bob PUT /a/_doc/1", True)
    assert [line.split(" next")[0] for line in said] == ["[step 1]", "[step 2]"]


async def test_c_lets_every_waiting_actor_run_on():
    import asyncio

    said: list[str] = []
    pacer = Pacer(step=True, announce=said.append)
    pacer._keys = asyncio.Queue()  # keys as the terminal's reader hands them over
    waiting = [asyncio.ensure_future(pacer(f"w{n} PUT /hot/_doc/1")) for n in range(3)]
    await asyncio.sleep(0)
    assert len(said) == 3
    pacer._keys.put_nowait("c")
    await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)
    assert not pacer.stepping
