"""The virtual-time loop: timers in time order (first come, first served at one instant),
cancellation, the jump to the next timer, and a clear error for a story that cannot end."""

from __future__ import annotations

import asyncio

import pytest

from occsim.cluster.sim import loop as simloop


def test_timers_run_in_time_order_and_in_call_order_at_one_instant():
    async def story():
        loop = asyncio.get_running_loop()
        seen = []
        for label, delay in [("b", 0.2), ("a1", 0.1), ("c", 5.0), ("a2", 0.1), ("a3", 0.1)]:
            loop.call_later(delay, seen.append, (label, loop.time() + delay))
        loop.call_soon(seen.append, ("now", loop.time()))
        await asyncio.sleep(6)
        return seen

    assert simloop.run(story()) == [("now", 0.0), ("a1", 0.1), ("a2", 0.1), ("a3", 0.1),
                                    ("b", 0.2), ("c", 5.0)]


def test_a_cancelled_timer_never_runs_and_many_are_swept_out():
    async def story():
        loop = asyncio.get_running_loop()
        ran = []
        timers = [loop.call_later(10 + i, ran.append, i) for i in range(500)]
        for timer in timers[1:]:
            timer.cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # a turn of the loop sweeps the cancelled majority out
        kept = len(loop._timers)
        await asyncio.sleep(20)
        return ran, kept, loop.time()

    ran, kept, now = simloop.run(story())
    assert ran == [0]
    assert kept < 10
    assert now == pytest.approx(20)


def test_waiting_costs_virtual_time_only_and_timeouts_fire():
    async def story():
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), timeout=3600)
        return loop.time()

    assert simloop.run(story(), start=100.0) == pytest.approx(3700.0)


def test_a_story_that_can_never_finish_is_reported():
    with pytest.raises(simloop.SimulationStalled, match="nothing is scheduled"):
        simloop.run(asyncio.Event().wait())


def test_a_story_that_waits_past_the_limit_is_reported():
    loop = simloop.VirtualTimeLoop(limit=60)
    try:
        with pytest.raises(simloop.SimulationStalled, match="passed 60s"):
            loop.run_until_complete(asyncio.sleep(61))
    finally:
        loop.close()
