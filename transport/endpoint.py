"""One party's side of the transport: requests and replies between nodes (and the manager),
passed through the network model, stamped with Lamport clocks and traced.

The `Endpoint` is the asyncio shell around the pure `NetworkModel`: for every message it asks
the model for a decision, then schedules each delivered copy with `loop.call_later` and hands it
to a `Wire` (real websockets, or in-memory in the simulation). Replies travel back through the
same network. Messages to or from the manager are control plane: never delayed, never traced.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from occsim.transport.message import Envelope, TransportError
from occsim.transport.network import MessageInfo, NetworkModel
from occsim.transport.recorder import MESSAGE_FIELDS, Recorder

MANAGER = "manager"
MAX_DELAYED = 100_000  # copies waiting out their delay; beyond this, new ones are dropped

# A handler answers a request at once (a dict) when it needs no waiting, as a replica applying
# an operation does, or with an awaitable: only those cost a task.
Handler = Callable[[str, str, dict], dict | Awaitable[dict]]


def _trace_fields(body: dict, into: dict | None = None) -> dict:
    """The operation fields a traced message carries (index, shard, doc, version, ...), added
    to `into` when given. Only names and numbers: a `get_ok`'s `doc` is a whole document, not
    an id, and is left out."""
    fields = {} if into is None else into
    for name in MESSAGE_FIELDS:
        if name in body:
            value = body[name]
            if value.__class__ is not dict:
                fields[name] = value
    return fields


def _message_event(env: Envelope, **extra: object) -> dict:
    """A message event's fields: which message, `extra`, and the operation fields it carries."""
    return _trace_fields(env.body, {"msg": env.id, "src": env.src, "dst": env.dst,
                                    "mkind": env.kind, **extra})


def _crash_body(exc: Exception) -> dict:
    """A handler bug must not kill the node: the requester gets it as a 500."""
    return {"error": {"type": "exception", "reason": f"{type(exc).__name__}: {exc}"},
            "status": 500}


async def _await_answer(answer: Awaitable[dict]) -> dict:
    try:
        return await answer
    except Exception as exc:
        return _crash_body(exc)


class Wire(Protocol):
    """Carries an envelope to its destination as soon as it is handed over. `waited` says the
    envelope already sat out its delay on a timer: a wire that hands envelopes over on the
    loop's next turn may hand this one over at once."""

    def transmit(self, env: Envelope, *, waited: bool = False) -> None: ...


class Endpoint:
    """Request/reply messaging for one named party over a `Wire` and a `NetworkModel`."""

    def __init__(self, name: str, *, recorder: Recorder, network: NetworkModel,
                 handler: Handler, max_delayed: int = MAX_DELAYED, incarnation: int = 1) -> None:
        self.name = name
        # message ids: "n1:17"; a restarted node's "n1~2:17", so that no late reply meant for
        # its previous life can answer one of its own requests
        self._id_prefix = name if incarnation == 1 else f"{name}~{incarnation}"
        self.max_delayed = max_delayed
        self.recorder = recorder
        self.network = network
        self.handler = handler
        self.wire: Wire | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future] = {}  # request id -> its reply's future
        # Timeouts without a timer per request: per timeout value, the deadlines in the order
        # they were set (so, oldest first), and one timer for the oldest.
        self._deadlines: dict[float, deque[tuple[float, str, str, str]]] = {}
        self._expiry: dict[float, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()
        self.scheduled = 0  # copies waiting out their delay
        self.running = 0  # requests from other nodes being handled here
        self.transmitted: dict[str, int] = {}  # data-plane copies sent, per destination
        self.received: dict[str, int] = {}  # data-plane copies received, per source
        self._held: set[str] = set()  # requests whose request or reply a hold rule caught
        self._control: set[str] = set()  # pending requests of the control plane

    # -- sending ---------------------------------------------------------------------------
    async def request(self, dst: str, kind: str, body: dict, *, timeout: float) -> dict:
        """Send a request and wait for its reply; TransportError on timeout or no route."""
        return await self.send_request(dst, kind, body, timeout=timeout)

    def send_request(self, dst: str, kind: str, body: dict, *,
                     timeout: float) -> asyncio.Future:
        """Send a request now; the future resolves to its reply, or fails with TransportError
        on timeout or when there is no route. A caller may cancel it to stop waiting."""
        env = Envelope(f"{self._id_prefix}:{next(self._ids)}", self.name, dst, kind, body)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending[env.id] = future
        self._set_deadline(loop, timeout, env)
        if MANAGER in (self.name, dst):
            self._control.add(env.id)
        self._send(env)
        return future

    def _set_deadline(self, loop: asyncio.AbstractEventLoop, timeout: float,
                      env: Envelope) -> None:
        queue = self._deadlines.get(timeout)
        if queue is None:
            queue = self._deadlines[timeout] = deque()
        while queue and queue[0][1] not in self._pending:  # answered already
            queue.popleft()
        queue.append((loop.time() + timeout, env.id, env.dst, env.kind))
        if timeout not in self._expiry:
            self._arm(loop, timeout, queue[0][0])

    def _arm(self, loop: asyncio.AbstractEventLoop, timeout: float, when: float) -> None:
        self._expiry[timeout] = loop.call_at(when, self._expire_due, timeout, when)

    def _expire_due(self, timeout: float, due: float) -> None:
        """Fail the requests of this timeout whose deadline is `due` or older; wait for the
        next one."""
        queue = self._deadlines[timeout]
        while queue and (queue[0][0] <= due or queue[0][1] not in self._pending):
            _, request_id, dst, kind = queue.popleft()
            future = self._settle(request_id)
            if future is not None:
                future.set_exception(TransportError(f"[{dst}] did not answer [{kind}] within "
                                                    f"{timeout:g}s"))
        if queue:
            self._arm(asyncio.get_running_loop(), timeout, queue[0][0])
        else:
            del self._expiry[timeout]

    def _settle(self, request_id: str) -> asyncio.Future | None:
        """Forget a pending request; its future, unless its caller stopped waiting."""
        future = self._pending.pop(request_id, None)
        if future is None:
            return None
        self._control.discard(request_id)
        return None if future.done() else future

    def _send(self, env: Envelope) -> None:
        if MANAGER in (env.src, env.dst):
            env.lc = self.recorder.lc
            self._schedule(env, 0.0)
            return
        record = self.recorder.add
        if self.network.plain(env.src, env.dst):  # the common case: deliver now
            if self.recorder.enabled:
                self.recorder.add_message("send", env.id, env.src, env.dst, env.kind, 0.0,
                                          env.body)
                env.lc = self.recorder.lc
            self._transmit(env)
            return
        info = MessageInfo(env.src, env.dst, env.kind, _trace_fields(env.body))
        decision = self.network.decide(info, env)
        delay_ms = round(decision.delays[0] * 1000, 3) if decision.delays else None
        record("send", _message_event(env, delay_ms=delay_ms))
        env.lc = self.recorder.lc
        if decision.delays and self.scheduled + len(decision.delays) > self.max_delayed:
            record("drop", _message_event(
                env, reason=f"delay queue full (limit {self.max_delayed})"))
            return
        if decision.outcome == "drop":
            record("drop", _message_event(env, reason=decision.reason))
        elif decision.outcome == "hold":
            self._held.add(env.reply_to or env.id)
            record("hold", _message_event(env, rule=decision.reason))
        elif decision.outcome == "duplicate":
            record("duplicate", _message_event(env))
        for delay in decision.delays:
            self._schedule(env, delay)

    def note(self, kind: str, env: Envelope, **extra: object) -> None:
        """Record the fate of a message this endpoint sent that another party decided: a
        scheduler's `drop` or `duplicate` (the network model's are recorded in `_send`)."""
        self.recorder.add(kind, _message_event(env, **extra))

    def _schedule(self, env: Envelope, delay: float) -> None:
        if delay <= 0:
            self._transmit(env)
            return
        self.scheduled += 1
        asyncio.get_running_loop().call_later(delay, self._transmit_later, env)

    def _transmit_later(self, env: Envelope) -> None:
        self.scheduled -= 1
        self._transmit(env, waited=True)

    def _transmit(self, env: Envelope, *, waited: bool = False) -> None:
        if MANAGER not in (env.src, env.dst):
            self.transmitted[env.dst] = self.transmitted.get(env.dst, 0) + 1
        assert self.wire is not None, "endpoint has no wire"
        self.wire.transmit(env, waited=waited)

    def release(self, rule_id: str | None = None) -> int:
        """Let held messages go now, in the order they were held."""
        held = self.network.release(rule_id)
        for env in held:
            self.release_one(env)
        return len(held)

    def release_one(self, env: Envelope) -> None:
        """Let one message go now that its hold rule no longer keeps it."""
        self._held.discard(env.reply_to or env.id)
        self.recorder.add("release", _message_event(env))
        self._transmit(env)

    def undeliverable(self, env: Envelope, reason: str) -> None:
        """The wire could not carry `env`: fail the request it belongs to at once."""
        if MANAGER not in (env.src, env.dst):
            self.transmitted[env.dst] = self.transmitted.get(env.dst, 0) - 1
        future = self._settle(env.id)
        if future is not None:
            future.set_exception(TransportError(reason))

    # -- receiving -------------------------------------------------------------------------
    def receive(self, env: Envelope) -> None:
        """A frame arrived from the wire: resolve the reply, or handle the request."""
        self.recorder.observe(env.lc)
        if MANAGER not in (env.src, env.dst):
            self.received[env.src] = self.received.get(env.src, 0) + 1
            if self.recorder.enabled:
                self.recorder.add_message("deliver", env.id, env.src, env.dst, env.kind,
                                          env.reply_to, env.body)
        if env.reply_to is not None:
            future = self._settle(env.reply_to)
            if future is not None:
                future.set_result(env.body)
            return
        answer = self._handle(env)
        if isinstance(answer, dict):
            self._send(self._reply(env, answer))
            return
        task = asyncio.get_running_loop().create_task(self._answer(env, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, env: Envelope, answer: Awaitable[dict]) -> None:
        data_plane = MANAGER not in (env.src, env.dst)
        self.running += data_plane
        try:
            body = await _await_answer(answer)
        finally:
            self.running -= data_plane
        self._send(self._reply(env, body))

    async def answer_now(self, env: Envelope) -> Envelope:
        """Handle a request that came outside the network (a tool's HTTP post)."""
        self.recorder.observe(env.lc)
        answer = self._handle(env)
        return self._reply(env, answer if isinstance(answer, dict) else await _await_answer(answer))

    def _handle(self, env: Envelope) -> dict | Awaitable[dict]:
        try:
            return self.handler(env.src, env.kind, env.body)
        except Exception as exc:
            return _crash_body(exc)

    def _reply(self, env: Envelope, body: dict) -> Envelope:
        return Envelope(f"{self._id_prefix}:{next(self._ids)}", self.name, env.src,
                        env.kind + "_ok", body, self.recorder.lc, env.id)

    # -- observation -----------------------------------------------------------------------
    def traffic(self) -> dict:
        """Counters the manager compares across nodes to know the network is quiet."""
        waiting = sum(1 for rid, future in self._pending.items()
                      if not future.done() and rid not in self._held and rid not in self._control)
        return {"scheduled": self.scheduled, "running": self.running, "waiting": waiting,
                "transmitted": sum(self.transmitted.values()),
                "received": sum(self.received.values()), "held": self.network.held_count()}
