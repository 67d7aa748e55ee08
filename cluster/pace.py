"""The pace of a run in class: `occsim run --step` holds each shown request until a key is
pressed, and a key pauses or resumes a run that goes on by itself.

Keys: any key lets the next request go; `c` (or `p`) runs on without stopping; `p` while
running pauses before the next request; `q` or Ctrl-C stops the run (its verdict says so).
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

from cluster.runner import Interrupted

STOP_KEYS = ("q", "\x03")
RUN_KEYS = ("c", "p")


class Pacer:
    """Awaited before each shown request: lets it go at once, or after a key."""

    def __init__(self, *, step: bool, announce: Callable[[str], None],
                 read_key: Callable[[], str] | None = None, blocking: bool = False) -> None:
        self.stepping = step
        self.steps = 0                # requests let go so far: the step numbers
        self.announce = announce
        self.read_key = read_key or _read_stdin
        self.blocking = blocking      # the simulation: block for a key, freezing virtual time
        self._keys: asyncio.Queue[str] | None = None
        self._listening = False
        self.story: asyncio.Task | None = None  # the story's task, stopped by q (`drive` sets it)

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
        if self.stepping:
            self._keys.put_nowait(key)
        elif key == "p":
            self.stepping = True
            self.announce("paused: the run stops before its next request")
        elif key in STOP_KEYS:
            self.stepping = True
            self._keys.put_nowait(key)

    async def __call__(self, what: str) -> None:
        self.listen()
        self.steps += 1
        if self.blocking and not self.stepping and _pressed() == "p":  # the simulation
            self.stepping = True
        if not self.stepping:
            return
        self.announce(f"[step {self.steps}] next: {what}   (any key: go · c: run on · q: stop)")
        key = await self._key()
        if key in STOP_KEYS:
            if self.story is not None and asyncio.current_task() is not self.story:
                self.story.cancel()  # q in a request the story spawned: stop the story too
            raise Interrupted(f"stopped at step {self.steps}")
        if key in RUN_KEYS or key == "":  # the end of piped keys: run on
            self.stepping = False

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
