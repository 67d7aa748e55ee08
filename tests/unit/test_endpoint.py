"""The transport endpoint with a recording wire: delays, holds, bounded queues, replies."""

from __future__ import annotations

import asyncio

import pytest

from occsim.cluster.sim import loop as simloop
from occsim.transport.endpoint import Endpoint
from occsim.transport.message import Envelope, TransportError
from occsim.transport.network import HoldRule, LinkConfig, NetworkModel
from occsim.transport.recorder import Recorder


class Loopback:
    """Delivers every envelope to the endpoint it names, at once."""

    def __init__(self, *endpoints: Endpoint) -> None:
        self.by_name = {e.name: e for e in endpoints}
        for e in endpoints:
            e.wire = self

    def transmit(self, env, *, waited=False) -> None:
        asyncio.get_running_loop().call_soon(self.by_name[env.dst].receive, env)


async def echo(src, kind, body):
    return {"echo": body}


def pair(link: LinkConfig = LinkConfig(), handler=echo, **kw) -> tuple[Endpoint, Endpoint]:
    loop = asyncio.get_event_loop()
    a = Endpoint("n1", recorder=Recorder("n1", loop.time), network=NetworkModel(link),
                 handler=echo, **kw)
    b = Endpoint("n2", recorder=Recorder("n2", loop.time), network=NetworkModel(link),
                 handler=handler)
    Loopback(a, b)
    return a, b


def test_a_request_waits_out_the_delay_on_virtual_time():
    async def story():
        a, _ = pair(LinkConfig(delay_min_ms=40, delay_max_ms=40, distribution="constant"))
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await a.request("n2", "ping", {"x": 1}, timeout=5) == {"echo": {"x": 1}}
        return loop.time() - start

    assert simloop.run(story()) == pytest.approx(0.080)


def test_a_held_request_times_out_and_is_released_later():
    async def story():
        a, b = pair()
        a.network.hold(HoldRule(src="n1", dst="n2", kind="ping"))
        with pytest.raises(TransportError, match="did not answer"):
            await a.request("n2", "ping", {}, timeout=1)
        assert a.traffic()["held"] == 1
        assert a.release() == 1
        await asyncio.sleep(0)
        return [e["kind"] for e in a.recorder.drain()]

    assert simloop.run(story())[:3] == ["send", "hold", "release"]


def test_each_unanswered_request_fails_at_its_own_deadline():
    # Held pings go unanswered; an answered one in between must not move anyone's deadline,
    # and requests with another timeout keep theirs.
    async def story():
        a, _ = pair()
        loop = asyncio.get_running_loop()
        failed: list[tuple[str, float]] = []

        async def ask(name, kind, timeout, after):
            await asyncio.sleep(after)
            try:
                await a.request("n2", kind, {}, timeout=timeout)
            except TransportError:
                failed.append((name, round(loop.time(), 6)))

        a.network.hold(HoldRule(src="n1", dst="n2", kind="ping"))
        await asyncio.gather(ask("p1", "ping", 1.0, 0.0), ask("ok", "echo", 1.0, 0.2),
                             ask("p2", "ping", 1.0, 0.5), ask("slow", "ping", 3.0, 0.1),
                             ask("p3", "ping", 1.0, 2.0))
        assert a.traffic()["waiting"] == 0
        return failed

    assert simloop.run(story()) == [("p1", 1.0), ("p2", 1.5), ("p3", 3.0), ("slow", 3.1)]


def test_the_delay_queue_is_bounded_with_a_clear_drop_reason():
    async def story():
        a, _ = pair(LinkConfig(delay_min_ms=10, delay_max_ms=10), max_delayed=2)
        tasks = [asyncio.ensure_future(a.request("n2", "ping", {}, timeout=1))
                 for _ in range(3)]
        await asyncio.sleep(0)
        drops = [e for e in a.recorder.drain() if e["kind"] == "drop"]
        await asyncio.gather(*tasks, return_exceptions=True)
        return drops

    drops = simloop.run(story())
    assert [d["reason"] for d in drops] == ["delay queue full (limit 2)"]


def test_a_handler_may_answer_at_once_or_later_and_a_crash_becomes_a_500():
    def handler(src, kind, body):
        if kind == "now":
            return {"now": body["x"]}
        if kind == "crash":
            raise KeyError("x")
        if kind == "crash_later":
            return crash_later()
        return echo(src, kind, body)

    async def crash_later():
        await asyncio.sleep(0.01)
        raise ValueError("late")

    async def story():
        a, b = pair(handler=handler)
        answers = [await a.request("n2", kind, {"x": 1}, timeout=1)
                   for kind in ("now", "later", "crash", "crash_later")]
        return answers, b.traffic()["running"]

    answers, running = simloop.run(story())
    assert answers[:2] == [{"now": 1}, {"echo": {"x": 1}}]
    assert answers[2] == {"error": {"type": "exception", "reason": "KeyError: 'x'"},
                          "status": 500}
    assert answers[3]["error"]["reason"] == "ValueError: late"
    assert running == 0


def test_a_late_reply_to_a_previous_life_answers_nothing_after_a_restart():
    async def story():
        loop = asyncio.get_running_loop()
        never = loop.create_future()

        async def silent(src, kind, body):
            return await never

        again = Endpoint("n1", recorder=Recorder("n1", loop.time), network=NetworkModel(),
                         handler=echo, incarnation=2)
        b = Endpoint("n2", recorder=Recorder("n2", loop.time), network=NetworkModel(),
                     handler=silent)
        Loopback(again, b)
        pending = again.send_request("n2", "forward", {}, timeout=5)
        await asyncio.sleep(0)
        # what the manager answered the node's first life, arriving now
        again.receive(Envelope("manager:9", "manager", "n1", "fail_replica_ok",
                               {"accepted": True}, reply_to="n1:1"))
        await asyncio.sleep(0)
        return pending.done()

    assert simloop.run(story()) is False
