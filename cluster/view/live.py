"""The live terminal view of a running scenario: the Lamport diagram follows the newest events
while each step's request and answer scroll above it.

A `LiveReport` is a `Report` whose events come from polling the backend every tenth of a second;
the drawing itself is `cluster.view.TraceView`, a pure renderable.
"""

from __future__ import annotations

import asyncio
import json

from rich.console import Console, Group
from rich.live import Live
from rich.rule import Rule
from rich.syntax import Syntax
from rich.text import Text

from occsim.cluster.runtime.client import Reply
from occsim.cluster.stories.runner import Report
from occsim.cluster.view.diagram import TraceView

POLL_SECONDS = 0.1


class LiveReport(Report):
    """Steps printed above a live, following `TraceView`."""

    def __init__(self, *, doc: str | None = None, shard: int | None = None,
                 title: str | None = None, glyphs: str = "unicode") -> None:
        super().__init__()
        self.console = Console()
        self.filters = {"doc": doc, "shard": shard, "title": title, "glyphs": glyphs}
        self.view = TraceView(height=self._height(), **self.filters)
        self.live = Live(get_renderable=self._renderable, console=self.console,
                         refresh_per_second=8, transient=False)
        self._poller: asyncio.Task | None = None
        self._seen = 0

    def _height(self) -> int:
        """The view's lines: all but the rule and a line of the steps on a small terminal,
        two thirds of a tall one; never more than the terminal, so no frame is left half
        drawn in the scrollback."""
        lines = self.console.size.height
        return max(min(lines - 2, 20), lines * 2 // 3)

    def _renderable(self) -> Group:
        return Group(Rule(style="dim"), self.view)

    def step(self, actor: str, method: str, target: str, body: object, reply: Reply) -> None:
        head = Text.assemble((f"{actor} ", "bold cyan"), (f"{method} {target}", "bold"))
        self.console.print(head)
        if body is not None:
            self.console.print(Syntax(json.dumps(body, ensure_ascii=False), "json",
                                      word_wrap=True, background_color="default"))
        status_style = "green" if reply.ok else "red"
        self.console.print(Text(f"HTTP {reply.status}", style=status_style))
        if reply.body is not None:
            text = reply.body if isinstance(reply.body, str) else json.dumps(
                reply.body, indent=2, ensure_ascii=False)
            self.console.print(Syntax(text, "json", background_color="default"))

    def narrate(self, text: str) -> None:
        style = "green" if text.startswith("✔") else "red" if text.startswith("✘") else "yellow"
        self.console.print(Text(text, style=style))

    def line(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def attach(self, backend) -> None:
        self.backend = backend
        if self.pacer is not None:
            self.pacer.listen()  # p pauses from the start
        self.live.start()
        self._poller = asyncio.ensure_future(self._poll(backend))

    async def pace(self, what: str, shown: bool) -> None:
        """Show everything up to this step before waiting for the key."""
        if self.pacer.stepping:
            await self._catch_up()
            self.live.refresh()
        await self.pacer(what, shown)

    async def _catch_up(self) -> None:
        try:
            await self.backend.collect()
        except Exception:  # a node going away mid-poll is not the view's business
            return
        fresh = self.backend.events[self._seen:]
        self._seen = len(self.backend.events)
        self.view.extend(fresh)

    async def _poll(self, backend) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await self._catch_up()

    def detach(self) -> None:
        if self._poller is not None:
            self._poller.cancel()

    def events(self, events: list[dict]) -> None:
        """The run ended: draw the whole trace once more, with the final copies, and stop."""
        self.detach()
        self.view = TraceView(events, height=self._height(), **self.filters)
        self.live.refresh()
        self.live.stop()

    def close(self) -> None:
        self.detach()
        self.live.stop()
