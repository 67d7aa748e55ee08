"""Virtual time for the simulation: an asyncio event loop whose clock only moves when nothing
is ready to run, jumping straight to the next timer.

Everything the nodes await (sleeps, timeouts, network delays scheduled with `call_later`) runs
exactly as on a real loop, in the same order for the same inputs, but a 100 ms delay costs no
wall time. There is no real I/O in the simulation, so the selector only keeps the books.
"""

from __future__ import annotations

import asyncio
import selectors


class SimulationStalled(RuntimeError):
    """Nothing can ever happen again, yet the simulation's main task has not finished."""


class _VirtualSelector(selectors.BaseSelector):
    """Registers file objects but never waits on them: a wait advances virtual time."""

    def __init__(self) -> None:
        self._keys: dict[int, selectors.SelectorKey] = {}
        self.loop: VirtualTimeLoop | None = None

    def register(self, fileobj, events, data=None):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return self._keys.pop(fd)

    def select(self, timeout=None):
        if timeout is None:
            raise SimulationStalled("the simulation is stuck: nothing is scheduled")
        assert self.loop is not None
        self.loop.advance(timeout)
        return []

    def get_map(self):
        return self._keys

    def close(self) -> None:
        self._keys.clear()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time, starting at `start` seconds; refuses to run past
    `limit` virtual seconds (a story waiting forever is a bug, not a hang)."""

    def __init__(self, start: float = 0.0, limit: float = 24 * 3600.0) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._clock_resolution = 1e-6  # timers due within a microsecond run together
        self._now = start
        self._limit = start + limit

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Jump to the next timer (exactly: float rounding must not leave it in the future)."""
        if seconds <= 0:
            return
        target = self._now + seconds
        if self._scheduled:
            target = max(target, self._scheduled[0].when())
        self._now = target
        if self._now > self._limit:
            raise SimulationStalled(f"virtual time passed {self._limit:g}s")


def run(coro, *, start: float = 0.0):
    """Run a coroutine to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop(start)
    try:
        return loop.run_until_complete(coro)
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
