"""The pace of a run in class: `occsim run --step` holds each shown request until a key is
pressed, and a key pauses or resumes a run that goes on by itself.

Keys: any key lets the next request go; `c` (or `p`) runs on without stopping; `p` while
running pauses before the next request, shown or quiet; `q` or Ctrl-C stops the run (its
verdict says so).
Keys come from the terminal through the event loop on real processes; in the simulation the
pacer waits for a key by blocking, which freezes virtual time with the whole cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import sys
import termios
import tty
from collections.abc import Callable, Iterator

from occsim.cluster.stories.runner import Interrupted

STOP_KEYS = ("q", "\x03")
RUN_KEYS = ("c", "p")


class Pacer:
    """Awaited before each request of a run: lets it go at once, or after a key. `--step`
    holds the requests the run shows; `p` holds every request, shown or quiet."""

    def __init__(self, *, step: bool, announce: Callable[[str], None],
                 read_key: Callable[[], str] | None = None, blocking: bool = False) -> None:
        self.hold: str | None = "shown" if step else None  # which requests wait: shown, all
        self.steps = 0                # shown requests so far: the step numbers
        self.announce = announce
        self.read_key = read_key or _read_stdin
        self.blocking = blocking      # the simulation: block for a key, freezing virtual time
        self._keys: asyncio.Queue[str] | None = None
        self._listening = False
        self._waiting = 0             # requests waiting for a key now (concurrent actors)
        self.story: asyncio.Task | None = None  # the story's task, stopped by q (`drive` sets it)

    @property
    def stepping(self) -> bool:
        return self.hold is not None

    def listen(self) -> None:
        """Real processes: take keys from a terminal's standard input through the running
        loop (until the loop closes), so `p` can pause a run that goes on by itself."""
        if self._listening or self.blocking or not sys.stdin.isatty():
            return
        self._listening = True
        self._keys = asyncio.Queue()
        asyncio.get_running_loop().add_reader(sys.stdin.fileno(), self._key_pressed)

    def _key_pressed(self) -> None:
        key = os.read(sys.stdin.fileno(), 1).decode(errors="replace")
        if self.hold is not None:
            self._keys.put_nowait(key)
        elif key == "p":
            self.hold = "all"
            self.announce("paused: the run stops before its next request")
        elif key in STOP_KEYS:
            self.hold = "all"
            self._keys.put_nowait(key)

    async def __call__(self, what: str, shown: bool = True) -> None:
        self.listen()
        self.steps += shown
        if self.blocking and self.hold is None and _pressed() == "p":  # the simulation
            self.hold = "all"
        if self.hold is None or (self.hold == "shown" and not shown):
            return
        where = f"step {self.steps}" if shown else "paused"
        self.announce(f"[{where}] next: {what}   (any key: go · c: run on · q: stop)")
        self._waiting += 1
        try:
            key = await self._key()
        finally:
            self._waiting -= 1
        if key in STOP_KEYS:
            if self.story is not None and asyncio.current_task() is not self.story:
                self.story.cancel()  # q in a request the story spawned: stop the story too
            raise Interrupted(f"stopped at step {self.steps}")
        if key in RUN_KEYS or key == "":  # the end of piped keys: run on
            self.hold = None
            for _ in range(self._waiting if self._keys is not None else 0):
                self._keys.put_nowait("c")  # the other requests waiting run on too

    async def _key(self) -> str:
        if self._keys is not None:
            return await self._keys.get()
        if self.blocking:
            try:
                return self.read_key()
            except KeyboardInterrupt:
                return "q"
        return await asyncio.get_running_loop().run_in_executor(None, self.read_key)


def _pressed() -> str | None:
    """A key pressed in the terminal since the last look, if any (without waiting)."""
    if not sys.stdin.isatty() or not select.select([sys.stdin], [], [], 0)[0]:
        return None
    return os.read(sys.stdin.fileno(), 1).decode(errors="replace")


def _read_stdin() -> str:
    return sys.stdin.read(1)


@contextlib.contextmanager
def keyboard() -> Iterator[None]:
    """Key presses arrive one by one, without Enter (cbreak), while the block runs."""
    if not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
