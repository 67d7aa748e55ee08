"""Replaying a saved trace: the whole diagram at once, an animation at a chosen speed, or one
step per key press with a sentence that explains it in OCC terms.

A step is an event that has a sentence (`cluster.view.explain`); steps are numbered 1..N in
the order shown. Only the pacing and the keyboard live here; the drawing is `cluster.view`.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Sequence

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from occsim.cluster.view.pace import keyboard
from occsim.cluster.view.diagram import TraceView, explain_all, render_text

MAX_PAUSE = 1.0      # seconds: a long quiet stretch of a trace is not worth waiting for
STEP_SECONDS = 0.5   # seconds between two steps of an animation at --speed 1
BACK_KEYS = ("b", "\x7f", "\x08")  # b, backspace
QUIT_KEYS = ("q", "\x03", "")


def steps(events: Sequence[dict]) -> list[tuple[int, str]]:
    """(index of the event, its sentence) for every event that has one, in order."""
    return [(i, sentence) for i, sentence in enumerate(explain_all(events))
            if sentence is not None]


def replay(events: Sequence[dict], *, step: bool = False, speed: float = 1.0,
           doc: str | None = None, shard: int | None = None, width: int | None = None,
           glyphs: str = "unicode", read_key: Callable[[], str] | None = None,
           console: Console | None = None) -> None:
    """Show a trace. Without a terminal: the diagram, after every numbered step's sentence
    with `step`. In a terminal: stepped by key (any key: next, b: back, q: quit), else
    animated one step every STEP_SECONDS / speed."""
    console = console or Console()
    if not console.is_terminal:
        if step:
            said = steps(events)
            for n, (_, sentence) in enumerate(said, 1):
                print(f"[{n}/{len(said)}] {sentence}")
            print()
        print(render_text(events, width=width or 100, doc=doc, shard=shard, glyphs=glyphs),
              end="")
        return
    said = steps(events)
    view = TraceView(doc=doc, shard=shard, height=console.size.height - 3, glyphs=glyphs)
    caption = Text("")
    with keyboard() if step and read_key is None else contextlib.nullcontext(), \
            Live(Group(caption, view), console=console, refresh_per_second=12,
                 auto_refresh=not step) as live:
        n = 0
        while n < len(said):
            index, sentence = said[n]
            view.events = list(events[:index + 1])
            caption.plain = f"[{n + 1}/{len(said)}] {sentence}"
            if not step:
                live.refresh()
                time.sleep(min(MAX_PAUSE, STEP_SECONDS / speed))
                n += 1
                continue
            caption.plain += "   (any key: next, b: back, q: quit)"
            live.refresh()
            key = (read_key or _read_key)()
            if key in QUIT_KEYS:
                return
            n = max(0, n - 1) if key in BACK_KEYS else n + 1
        view.events = list(events)
        caption.plain = f"{len(said)} steps, {len(events)} events"
        live.refresh()


def _read_key() -> str:
    """One key press (the terminal is in cbreak mode while stepping)."""
    return sys.stdin.read(1)
