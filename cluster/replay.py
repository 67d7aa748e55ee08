"""Replaying a saved trace: the whole diagram at once, an animation at a chosen speed, or one
event per key press with a sentence that explains it in OCC terms.

Only the pacing and the keyboard live here; the drawing is `cluster.view`.
"""

from __future__ import annotations

import contextlib
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from cluster.view import TraceView, explain, render_text

MAX_PAUSE = 1.0  # seconds: a long quiet stretch of a trace is not worth waiting for


def replay(events: Sequence[dict], *, step: bool = False, speed: float = 1.0,
           doc: str | None = None, shard: int | None = None, width: int | None = None,
           read_key: Callable[[], str] | None = None, console: Console | None = None) -> None:
    """Show a trace: printed once without a terminal, else animated or stepped."""
    console = console or Console()
    if not console.is_terminal:
        print(render_text(events, width=width or 100, doc=doc, shard=shard))
        return
    rows = max(8, console.size.height - 16)  # room for the copies table below
    view = TraceView(doc=doc, shard=shard, max_rows=rows)
    caption = Text("")
    with _keyboard(step and read_key is None), Live(Group(caption, view), console=console, refresh_per_second=12,
              auto_refresh=not step) as live:
        previous_t = events[0]["t"] if events else 0.0
        for i, event in enumerate(events):
            view.extend([event])
            if step:
                sentence = explain(event, events[:i])
                if sentence is None:
                    continue
                caption.plain = f"[{i + 1}/{len(events)}] {sentence}   (any key: next, q: quit)"
                live.refresh()
                if (read_key or _read_key)() in ("q", "\x03", ""):
                    return
            else:
                pause = min(MAX_PAUSE, max(0.0, (event["t"] - previous_t) / speed))
                previous_t = event["t"]
                if pause:
                    time.sleep(pause)
        caption.plain = f"{len(events)} events"
        live.refresh()


def _read_key() -> str:
    """One key press (the terminal is in cbreak mode while stepping)."""
    return sys.stdin.read(1)


@contextlib.contextmanager
def _keyboard(active: bool) -> Iterator[None]:
    """Key presses arrive one by one, without Enter, for the whole replay."""
    if not active or not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
