"""Virtual time for the simulation: an asyncio event loop whose clock only moves when nothing
is ready to run, jumping straight to the next timer.

Everything the nodes await (sleeps, timeouts, network delays scheduled with `call_later`) runs
exactly as on a real loop, in the same order for the same inputs, but a 100 ms delay costs no
wall time. There is no real I/O in the simulation, so the loop never polls a selector; its
timers sit in a heap of `(when, sequence, handle)` tuples (compared in C, and first-come
first-served among timers due at the same instant), and its handles skip the debug
bookkeeping of asyncio's own: the loop's cost is most of a simulated message's cost.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import heapq
import inspect
import itertools
import selectors
from asyncio import events
from collections.abc import Callable

from occsim.cluster.errors import SimulationStalled

_PURGE_AT = 100  # cancelled timers kept in the heap before they are swept out (at half of it)


MAX_TURNS_AT_ONE_INSTANT = 1_000_000  # more, and something spins without ever waiting


class _NoSelector(selectors.BaseSelector):
    """Keeps the books of what the loop registers; the loop never asks it to wait."""

    def __init__(self) -> None:
        self._keys: dict[int, selectors.SelectorKey] = {}

    def register(self, fileobj, events, data=None):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return self._keys.pop(fd)

    def select(self, timeout=None):
        return []

    def get_map(self):
        return self._keys

    def close(self) -> None:
        self._keys.clear()


class _Handle(events.Handle):
    """A callback to run soon (asyncio's Handle without the debug-mode lookups)."""

    __slots__ = ()

    def __init__(self, callback, args, loop, context) -> None:
        self._context = context if context is not None else contextvars.copy_context()
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr = None
        self._source_traceback = None


class _Timer(events.TimerHandle):
    """A callback to run at a virtual time."""

    __slots__ = ()

    def __init__(self, when, callback, args, loop, context) -> None:
        _Handle.__init__(self, callback, args, loop, context)
        self._when = when
        self._scheduled = True


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time, starting at `start` seconds; refuses to run past
    `limit` virtual seconds (a story waiting forever is a bug, not a hang)."""

    def __init__(self, start: float = 0.0, limit: float = 24 * 3600.0) -> None:
        super().__init__(_NoSelector())
        self._clock_resolution = 1e-6  # timers due within a microsecond run together
        self._turns_now = 0  # turns of the loop since virtual time last moved
        self._now = start
        self._limit = start + limit
        self._timers: list[tuple[float, int, _Timer]] = []
        self._timer_order = itertools.count()
        self._cancelled_timers = 0
        # called when nothing is ready and no timer is due at this instant; True when it made
        # something ready (a scheduler delivering one message), False to let time move on
        self.idle: Callable[[], bool] | None = None

    def has_timers(self) -> bool:
        """Whether any timer is still to fire."""
        return any(not entry[2]._cancelled for entry in self._timers)

    def time(self) -> float:
        return self._now

    def call_soon(self, callback, *args, context=None):
        if self._closed:
            raise RuntimeError("Event loop is closed")
        handle = _Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(self, delay, callback, *args, context=None):
        return self.call_at(self._now + delay, callback, *args, context=context)

    def call_at(self, when, callback, *args, context=None):
        if self._closed:
            raise RuntimeError("Event loop is closed")
        timer = _Timer(when, callback, args, self, context)
        heapq.heappush(self._timers, (when, next(self._timer_order), timer))
        return timer

    def _timer_handle_cancelled(self, handle) -> None:
        if handle._scheduled:
            self._cancelled_timers += 1

    def _run_once(self) -> None:
        """Run what is ready; when nothing is, let `idle` make one delivery ready, or else
        jump to the next live timer."""
        ready, timers = self._ready, self._timers
        if self._cancelled_timers > _PURGE_AT and 2 * self._cancelled_timers > len(timers):
            self._purge()
        if not ready and not self._stopping:
            while timers and timers[0][2]._cancelled:
                heapq.heappop(timers)[2]._scheduled = False
                self._cancelled_timers -= 1
            idle = self.idle
            if idle is not None and (not timers or timers[0][0] >= self._now +
                                     self._clock_resolution) and idle():
                pass  # the scheduler made one delivery ready at this instant
            elif not timers:
                raise SimulationStalled("the simulation is stuck: nothing is scheduled")
            elif timers[0][0] > self._now:
                when = timers[0][0]
                if when > self._limit:
                    raise SimulationStalled(f"virtual time passed {self._limit:g}s")
                self._now = when
                self._turns_now = 0
        self._turns_now += 1
        if self._turns_now > MAX_TURNS_AT_ONE_INSTANT:
            raise SimulationStalled(f"virtual time stopped at {self._now:g}s: "
                                    f"{MAX_TURNS_AT_ONE_INSTANT:,} turns without it moving")
        due = self._now + self._clock_resolution
        while timers and timers[0][0] < due:
            timer = heapq.heappop(timers)[2]
            timer._scheduled = False
            if timer._cancelled:
                self._cancelled_timers -= 1
            else:
                ready.append(timer)
        for _ in range(len(ready)):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            try:  # Handle._run, inlined: this is the loop's innermost line
                handle._context.run(handle._callback, *handle._args)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self.call_exception_handler({"message": f"Exception in callback "
                                             f"{handle._callback!r}", "exception": exc,
                                             "handle": handle})

    def _purge(self) -> None:
        live = []
        for entry in self._timers:
            if entry[2]._cancelled:
                entry[2]._scheduled = False
            else:
                live.append(entry)
        heapq.heapify(live)
        self._timers = live
        self._cancelled_timers = 0

    def close(self) -> None:
        self._timers.clear()
        super().close()


def run(coro, *, start: float = 0.0):
    """Run a coroutine to completion on a fresh virtual-time loop. Like a node process, the
    simulation allocates fast and keeps little garbage, so it collects less often meanwhile."""
    loop = VirtualTimeLoop(start)
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        return loop.run_until_complete(coro)
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        for task in asyncio.all_tasks(loop):  # begun by the cancelled ones' `finally` blocks
            coro = task.get_coro()  # and never to run: closed, not left to warn when collected
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()
        loop.close()
        gc.set_threshold(*thresholds)
