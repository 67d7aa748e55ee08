"""`occsim play`: the student chooses what the network does next, in the terminal.

A Textual app over a `cluster.session.Session`: the Lamport diagram so far and the copies table
(both drawn by `cluster.view`), the list of what can happen next (every message in flight, the
ones a story holds back, the client requests still waiting for their answer), and one line
saying what the last step did, in the replay's sentences. Every action is a key:

    Enter  deliver the chosen message     d  drop it      u  duplicate it
    n      let the simulation pick         b  step back    s  save the schedule
    ?      the keys                        q  quit

Stepping back replays the story with one choice fewer (runs are deterministic). When the
story ends, the story's and the checker's verdict is shown in plain words.
"""

from __future__ import annotations

import asyncio
import sys

from rich.console import Group
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from occsim.cluster.errors import ScenarioError
from occsim.cluster.errors import ScheduleError
from occsim.cluster.sim.schedule import Choice
from occsim.cluster.stories.session import HELD, Session, Snapshot
from occsim.cluster.view.diagram import copies_table, diagram_lines, explain

KEYS = ("Enter deliver · d drop · u duplicate · n simulation picks · b back · s save schedule · "
        "? keys · q quit · ↑↓ choose")
_TOLD = ("apply", "discard", "reject", "conflict", "response", "drop", "promote", "node_down")


class Diagram(Static):
    """The Lamport diagram so far, as many of its last rows as the widget's height allows."""

    events: list[dict] = []

    def render(self) -> Group:
        rows = max(3, self.size.height - 4)  # lane names and "… N earlier events" take the rest
        return Group(*diagram_lines(self.events, self.size.width, rows))


class PlayApp(App):
    """The play screen."""

    TITLE = "occsim play"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #title { height: 1; background: $primary-background; }
    #diagram { height: 1fr; min-height: 6; }
    #copies { height: auto; max-height: 6; }
    #next { height: auto; max-height: 7; border: none; padding: 0; }
    #status { height: auto; max-height: 3; background: $boost; }
    #status.verdict { max-height: 10; }
    """
    BINDINGS = [
        Binding("enter", "act('deliver')", "deliver"),
        Binding("d", "act('drop')", "drop"),
        Binding("u", "act('duplicate')", "duplicate"),
        Binding("n", "pick", "sim picks"),
        Binding("b", "back", "back"),
        Binding("s", "save", "save"),
        Binding("question_mark", "keys", "keys"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, session: Session, save_to: str) -> None:
        super().__init__()
        self.session = session
        self.save_to = save_to
        self.snapshot: Snapshot | None = None
        self.rows: list[list[Choice]] = []  # per listed message: deliver, then drop, duplicate

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Diagram(id="diagram")
        yield Static(id="copies")
        yield OptionList(id="next")
        yield Static(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self._show(await _snapshot(self.session),
                   "choose what the network does next (? shows the keys)")
        self.query_one(OptionList).focus()

    # -- actions -------------------------------------------------------------------------
    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        await self.action_act("deliver")

    async def action_act(self, action: str) -> None:
        row = self._row()
        if row is None:
            return
        choice = next((c for c in row if c.action == action
                       or (action == "deliver" and c.action == "release")), None)
        if choice is None:
            done = {"drop": "dropped", "duplicate": "duplicated"}[action]
            self._say(f"a message held by the story can only be delivered early, not {done}")
            return
        await self._choose(choice.label)

    async def action_pick(self) -> None:
        if self.snapshot is not None and not self.snapshot.ended:
            await self._choose(self.snapshot.options[0].label)

    async def action_back(self) -> None:
        if not self.session.choices:
            self._say("this is the start of the story")
            return
        undone = self.session.choices.pop()
        self._show(await _snapshot(self.session), f"stepped back: {undone} is in flight again")

    def action_save(self) -> None:
        try:
            self.session.schedule().save(self.save_to)
        except OSError as exc:
            self._say(f"cannot save {self.save_to}: {exc}")
            return
        self._say(f"saved {len(self.session.choices)} choices to {self.save_to}; replay it: "
                  f"occsim run --sim --schedule {self.save_to}, or occsim lesson {self.save_to}")

    def action_keys(self) -> None:
        self._say(KEYS)

    # -- drawing -------------------------------------------------------------------------
    async def _choose(self, label: str) -> None:
        before = len(self.snapshot.trace) if self.snapshot else 0
        self.session.choices.append(label)
        try:
            snapshot = await _snapshot(self.session)
        except ScheduleError as exc:
            self.session.choices.pop()
            self._say(str(exc))
            return
        events = snapshot.trace
        said = [s for i in range(before, len(events)) if events[i]["kind"] in _TOLD
                for s in [explain(events[i], events[:i])] if s]
        self._show(snapshot, "\n".join(said[-2:]) or label.removeprefix(HELD))

    def _show(self, snapshot: Snapshot, status: str) -> None:
        self.snapshot = snapshot
        s = self.session
        self.query_one("#title", Static).update(Text(
            f"{snapshot.outcome.name} · ES {snapshot.outcome.profile}.x · replica rule "
            f"{s.replica_rule} · links {s.links} · step {len(s.choices)}", style="bold"))
        diagram = self.query_one(Diagram)
        diagram.events = snapshot.trace
        diagram.refresh()
        table = copies_table(snapshot.trace)
        self.query_one("#copies", Static).update(table if table is not None else "")
        self.rows = _rows(snapshot.options)
        listing = self.query_one(OptionList)
        listing.clear_options()
        if snapshot.ended:
            listing.add_option(Option("the story has ended: b steps back, s saves, q quits",
                                      disabled=True))
            status = snapshot.verdict()
        else:
            listing.add_options(_message(row[0]) for row in self.rows)
            listing.add_options(Option(Text(w, style="dim"), disabled=True)
                                for w in _waiting(snapshot.trace))
            listing.highlighted = 0
        self.query_one("#status").set_class(snapshot.ended, "verdict")
        self._say(status)

    def _row(self) -> list[Choice] | None:
        index = self.query_one(OptionList).highlighted
        if self.snapshot is None or self.snapshot.ended or index is None or index >= len(self.rows):
            return None
        return self.rows[index]

    def _say(self, text: str) -> None:
        self.query_one("#status", Static).update(Text(text))


async def _snapshot(session: Session) -> Snapshot:
    """The session's snapshot, simulated in a thread: the simulation brings its own event loop,
    and this one is Textual's."""
    return await asyncio.to_thread(session.snapshot)


def _rows(options: list[Choice]) -> list[list[Choice]]:
    """The choices grouped per message, in the order they are offered."""
    rows: dict[str, list[Choice]] = {}
    for choice in options:
        if choice.env is not None:
            rows.setdefault(choice.env.id, []).append(choice)
    return list(rows.values())


def _message(choice: Choice) -> Text:
    """ "n1 → n2  replicate  doc 1  v4  #3  term 1", in blue when the story holds it."""
    env = choice.env
    body = env.body if isinstance(env.body, dict) else {}
    parts = [f"{env.src} → {env.dst}", env.kind]
    if body.get("doc") is not None:
        parts.append(f"doc {body['doc']}")
    if isinstance(body.get("version"), int) and body["version"] >= 0:
        parts.append(f"v{body['version']}")
    if isinstance(body.get("seq_no"), int) and body["seq_no"] >= 0:
        parts.append(f"#{body['seq_no']}")
    if body.get("term") is not None:
        parts.append(f"term {body['term']}")
    text = "  ".join(parts)
    if choice.action == "release":
        return Text("held by the story: " + text, style="blue")
    return Text(text)


def _waiting(trace: list[dict]) -> list[str]:
    """The client requests still waiting for their answer: "alice waits: PUT … (n1)"."""
    open_requests: list[dict] = []
    for e in trace:
        if e["kind"] == "client_request":
            open_requests.append(e)
        elif e["kind"] == "response":
            match = next((r for r in open_requests if (r.get("client"), r["node"], r.get("path"))
                          == (e.get("client"), e["node"], e.get("path"))), None)
            if match is not None:
                open_requests.remove(match)
    return [f"{r.get('client', 'client')} waits for the answer to {r.get('method')} "
            f"{r.get('path')} ({r['node']})" for r in open_requests]


# --- the command -----------------------------------------------------------------------------


def add_arguments(p) -> None:
    from occsim.cluster.sim.schedule import LINK_RULES, REPLICA_RULES

    p.add_argument("scenario", help="a scenario, or a schedule file saved with `s`")
    p.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9])
    p.add_argument("--replica-rule", choices=REPLICA_RULES, default="es")
    p.add_argument("--links", choices=LINK_RULES, default="any")
    p.add_argument("--save", metavar="FILE", help="where `s` saves the schedule "
                   "(default: SCENARIO.schedule.json)")


def command(args) -> int:
    from occsim.cluster.stories.session import open_session

    try:
        session = open_session(args.scenario, es_compat=args.es_compat,
                               replica_rule=args.replica_rule, links=args.links)
        session.snapshot()  # an unknown scenario or a bad schedule is said here, in one line
    except (ScenarioError, ScheduleError) as exc:
        print(f"occsim play: {exc}", file=sys.stderr)
        return 2
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("occsim play: needs a terminal (occsim lesson --answers works without one)",
              file=sys.stderr)
        return 2
    name = args.scenario.removesuffix(".json").rsplit("/", 1)[-1]
    PlayApp(session, args.save or f"{name.removesuffix('.schedule')}.schedule.json").run()
    return 0
