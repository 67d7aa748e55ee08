"""Predict, then reveal (`occsim lesson`): the decisive moments of a simulated run, asked as
multiple-choice questions, scored, and printed as a worksheet.

Questions come from the trace alone, so every scenario (and every schedule saved by `occsim
play`) is a lesson. A moment is decisive when
  - a replication message is about to reach a copy that holds the document at another version
    than the one just before it ("n2 holds doc 1 at v4. v3 arrives from n1. What does n2
    do?"; v2 arriving at a copy of v1 is no question),
  - a conditional write (`version=`, `if_seq_no=`, a create) is about to be decided, or
  - a document is read after something surprising happened to it (an operation reached a copy
    out of order, a copy discarded or rejected one, a node went down, a primary was promoted):
    which version comes back?
The choices use the replay's verbs and the reveal is the replay's own sentence
(`cluster.view.explain`); nothing is written per scenario.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

from rich.console import Console

from occsim.cluster.trace.events import order_key, out_of_order
from occsim.cluster.view.diagram import TraceView, explain, render_text

VERBS = ("applies it", "discards it", "answers 409")
LETTERS = "abcdefgh"
MAX_QUESTIONS = 12
_SURPRISES = ("discard", "reject", "node_down", "promote")


@dataclass(frozen=True)
class Question:
    """One moment: asked after `events[:at]`, answered by `choices[answer]`."""

    at: int
    prompt: str
    choices: tuple[str, ...]
    answer: int
    explanation: str
    doc: str
    surprising: bool  # a discard, a 409 or a read: kept first when there are too many

    def choice_line(self) -> str:
        return "  ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(self.choices))

    @property
    def key(self) -> str:
        return f"({LETTERS[self.answer]}) {self.choices[self.answer]}"


def questions(trace: list[dict]) -> tuple[list[dict], list[Question]]:
    """The trace in order, and its decisive moments in the order they happen (at most
    `MAX_QUESTIONS`, the surprising ones first when there are more)."""
    events = sorted((e for e in trace if e["kind"] not in ("state", "routing")), key=order_key)
    found: list[Question] = []
    held: dict[tuple, dict] = {}     # (node, index, doc) -> the write that made the copy
    written: dict[tuple, list] = {}  # (index, doc) -> versions written to any copy
    surprised: set[tuple] = set()    # (index, doc) something surprising happened to
    late = {id(e) for e, _ in out_of_order(events)}
    for i, e in enumerate(events):
        kind, key = e["kind"], (e.get("index"), e.get("doc"))
        if kind == "deliver" and e.get("mkind") == "replicate":
            q = _replica(events, i, held.get((e["dst"], *key)))
            found += [q] if q else []
        elif kind == "client_request" and e.get("doc") is not None:
            q = (_write(events, i) if e.get("method") in ("PUT", "POST")
                 else _read(events, i, written.get(key, [])) if e.get("method") == "GET"
                 and key in surprised else None)
            found += [q] if q else []
        if kind in ("apply", "primary_write") and e.get("version") is not None:
            held[(e["node"], *key)] = e
            written.setdefault(key, []).append(e["version"])  # replicas too: a killed
            # primary's own record of its writes may be lost
        if kind in _SURPRISES or id(e) in late:
            surprised |= {k for k in written if e.get("doc") in (None, k[1])}
    if len(found) > MAX_QUESTIONS:
        keep = sorted(found, key=lambda q: (not q.surprising, q.at))[:MAX_QUESTIONS]
        found = sorted(keep, key=lambda q: q.at)
    return events, found


def _outcome(events: list[dict], i: int, kinds: tuple[str, ...], **match) -> int | None:
    """The index of the first event after `i` of one of `kinds` matching every field."""
    for j in range(i + 1, len(events)):
        e = events[j]
        if e["kind"] in kinds and all(e.get(k) == v for k, v in match.items()):
            return j
    return None


def _replica(events: list[dict], i: int, copy: dict | None) -> Question | None:
    e = events[i]
    if copy is None or e.get("version") == copy.get("version", 0) + 1:
        return None  # nothing held yet, or the very next version: nothing to decide
    j = _outcome(events, i, ("apply", "discard"), node=e["dst"], index=e.get("index"),
                 doc=e.get("doc"), version=e.get("version"), seq_no=e.get("seq_no"))
    if j is None:
        return None
    node, doc = e["dst"], e["doc"]
    prompt = (f"{node} holds {_copy_words(copy)}. v{e['version']} arrives from {e['src']}. "
              f"What does {node} do?")
    answer = 0 if events[j]["kind"] == "apply" else 1
    return Question(i, prompt, VERBS, answer, explain(events[j], events[:j]), doc, answer == 1)


def _write(events: list[dict], i: int) -> Question | None:
    """A conditional write (`version=`, `if_seq_no=`, `op_type=create`), asked when its primary
    is about to decide, with what that primary holds then."""
    e = events[i]
    path = e.get("path", "")
    if not any(p in path for p in ("version=", "if_seq_no=", "op_type=create", "/_create")):
        return None
    r = _outcome(events, i, ("response",), client=e.get("client"), node=e["node"],
                 path=path)
    if r is None or not (events[r]["status"] < 300 or events[r]["status"] == 409):
        return None
    reply = events[r]
    decided = (dict(kinds=("conflict",), reason=reply.get("reason")) if reply["status"] == 409
               else dict(kinds=("primary_write",), version=reply.get("version")))
    kinds = decided.pop("kinds")
    j = next((k for k in range(r - 1, i, -1) if events[k]["kind"] in kinds
              and events[k].get("doc") == e.get("doc")
              and all(events[k].get(f) == v for f, v in decided.items())), None)
    if j is None:
        return None
    primary, doc = events[j]["node"], e["doc"]
    state = _held_before(events, j, primary, e.get("index"), doc) or f"no doc {doc}"
    prompt = (f"{e.get('client', 'a client')} sends {e['method']} {path} to {e['node']}. "
              f"The primary {primary} holds {state}. What does {primary} do?")
    answer = 2 if reply["status"] == 409 else 0
    return Question(j, prompt, VERBS, answer, explain(events[j], events[:j]), doc, answer == 2)


def _held_before(events: list[dict], j: int, node: str, index: str, doc: str) -> str | None:
    """`node`'s copy of `doc` just before event `j`, in words (None: no copy)."""
    return next((_copy_words(e) for e in reversed(events[:j])
                 if e["kind"] in ("apply", "primary_write") and e["node"] == node
                 and e.get("index") == index and e.get("doc") == doc), None)


def _copy_words(e: dict) -> str:
    """ "doc 1 at v4", or "doc 1 deleted at v11" for a tombstone."""
    deleted = " deleted" if e.get("op") == "delete" else ""
    return f"doc {e.get('doc')}{deleted} at v{e.get('version')}"


def _read(events: list[dict], i: int, written: list[int]) -> Question | None:
    """Which version a GET returns (or 404), among the last versions written."""
    e = events[i]
    r = _outcome(events, i, ("response",), client=e.get("client"), node=e["node"],
                 path=e.get("path"))
    if r is None or events[r].get("status") not in (200, 404):
        return None
    versions = sorted(set(written))[-3:]
    choices = tuple(f"v{v}" for v in versions) + ("404 not found",)
    got = "404 not found" if events[r]["status"] == 404 else f"v{events[r].get('version')}"
    if got not in choices or len(choices) < 2:
        return None
    prompt = (f"{e.get('client', 'a client')} reads doc {e['doc']} from {e['node']} "
              f"(GET {e['path']}). Which version comes back?")
    return Question(i, prompt, choices, choices.index(got), explain(events[r], events[:r]),
                    e["doc"], True)


# --- answering and scoring -------------------------------------------------------------------


def parse_answers(text: str) -> list[str]:
    """`a,b, C` -> ["a", "b", "c"]."""
    return [a.strip().lower() for a in text.split(",")]


def is_right(question: Question, answer: str | None) -> bool:
    return answer is not None and answer == LETTERS[question.answer]


def score(found: list[Question], answers: list[str]) -> list[bool]:
    """Right or wrong per question; a missing answer is wrong, extra answers are ignored."""
    return [is_right(q, answers[n] if n < len(answers) else None) for n, q in enumerate(found)]


def reveal(question: Question, answer: str | None) -> str:
    verdict = "right" if is_right(question, answer) else f"wrong, the answer is {question.key}"
    return f"{verdict}. {question.explanation}"


def summary(found: list[Question], marks: list[bool], replay: str) -> str:
    """`score 3/5` and the moments missed, each with the command that replays it."""
    lines = [f"score {sum(marks)}/{len(found)}"]
    missed = [(n, q) for n, (q, ok) in enumerate(zip(found, marks), 1) if not ok]
    if missed:
        lines.append("missed:")
        for n, q in missed:
            lines.append(f"  {n}. {q.prompt}  answer {q.key}")
            lines.append(f"     replay: {replay} --doc {q.doc}   (event {q.at + 1})")
    return "\n".join(lines)


# --- worksheets ------------------------------------------------------------------------------


def worksheet(events: list[dict], found: list[Question], title: str, fmt: str) -> str:
    """The questions, the diagram up to each moment, and the answer key at the end, as "html"
    (diagrams in SVG) or "md" (diagrams as text)."""
    if fmt == "md":
        parts = [f"# {title}\n"]
        for n, q in enumerate(found, 1):
            diagram = render_text(events[:q.at], width=100, doc=q.doc).rstrip()
            parts.append(f"## Question {n}\n\n```text\n{diagram}\n```\n\n{q.prompt}\n\n"
                         + "\n".join(f"- ({LETTERS[i]}) {c}" for i, c in enumerate(q.choices))
                         + "\n")
        parts.append("## Answer key\n")
        parts += [f"{n}. {q.key}: {q.explanation}" for n, q in enumerate(found, 1)]
        return "\n".join(parts) + "\n"
    body = [f"<h1>{html.escape(title)}</h1>"]
    for n, q in enumerate(found, 1):
        svg = _svg(events[:q.at], q.doc, f"question {n}")
        items = "".join(f"<li>({LETTERS[i]}) {html.escape(c)}</li>"
                        for i, c in enumerate(q.choices))
        body.append(f'<section><h2>Question {n}</h2><div class="diagram">{svg}</div>'
                    f"<p>{html.escape(q.prompt)}</p><ul>{items}</ul></section>")
    key = "".join(f"<li>{html.escape(q.key)}: {html.escape(q.explanation)}</li>" for q in found)
    body.append(f'<section class="key"><h2>Answer key</h2><ol>{key}</ol></section>')
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;"
            "max-width:60em;margin:auto}.diagram svg{width:100%;height:auto}"
            "section{page-break-inside:avoid}.key{page-break-before:always}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def _svg(events: list[dict], doc: str, title: str) -> str:
    """The view of `events` (of one document) as an SVG picture, 100 columns wide."""
    console = Console(record=True, width=100, color_system="truecolor", file=io.StringIO())
    console.print(TraceView(events, doc=doc))
    return console.export_svg(title=title)


# --- the command -----------------------------------------------------------------------------


def add_arguments(p) -> None:
    from occsim.cluster.sim.schedule import LINK_RULES, REPLICA_RULES

    p.add_argument("scenario", help="a scenario, or a schedule file saved by `occsim play`")
    p.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9])
    p.add_argument("--seed", type=int)
    p.add_argument("--replica-rule", choices=REPLICA_RULES, default="es")
    p.add_argument("--links", choices=LINK_RULES, default="any")
    p.add_argument("--answers", help="answer without a terminal: letters, e.g. a,b,c")
    p.add_argument("--worksheet", metavar="FILE", help="write the questions, their diagrams "
                   "and the key to FILE.html (SVG) or FILE.md (text), instead of asking")


def command(args) -> int:
    """`occsim lesson`: ask each question (or take `--answers`), reveal, score."""
    import io
    import sys

    from occsim.cluster.sim import loop as simloop
    from occsim.cluster.errors import ScenarioError
    from occsim.cluster.stories.runner import Report, run_scenario
    from occsim.cluster.errors import ScheduleError
    from occsim.cluster.stories.session import open_session

    fmt = args.worksheet.rsplit(".", 1)[-1].lower() if args.worksheet else None
    if fmt not in (None, "html", "md"):
        print("occsim lesson: --worksheet needs a file ending in .html or .md", file=sys.stderr)
        return 2
    if args.worksheet is None and args.answers is None and not sys.stdin.isatty():
        print("occsim lesson: no terminal to ask in: give --answers a,b,... or --worksheet FILE",
              file=sys.stderr)
        return 2
    try:
        session = open_session(args.scenario, es_compat=args.es_compat,
                               replica_rule=args.replica_rule, links=args.links)
        if args.scenario.endswith(".json"):
            outcome = session.snapshot().outcome
        else:
            outcome = simloop.run(run_scenario(
                args.scenario, seed=args.seed, es_compat=args.es_compat,
                report=Report(io.StringIO()), sim=True, replica_rule=args.replica_rule,
                links=args.links))
    except (ScenarioError, ScheduleError) as exc:
        print(f"occsim lesson: {exc}", file=sys.stderr)
        return 2
    events, found = questions(outcome.trace)
    title = f"{outcome.name} (Elasticsearch {outcome.profile}.x profile)"
    if args.worksheet:
        try:
            with open(args.worksheet, "w", encoding="utf-8") as out:
                out.write(worksheet(events, found, title, fmt))
        except OSError as exc:
            print(f"occsim lesson: cannot write {args.worksheet}: {exc}", file=sys.stderr)
            return 2
        print(f"worksheet: {len(found)} questions and their key written to {args.worksheet}")
        return 0
    print(f"lesson {title}: {len(found)} questions")
    if not found:
        print("this run has no decisive moment to ask about; `occsim play` lets you make one "
              "(save its schedule with s, then run the lesson on that file)")
        return 0
    given = parse_answers(args.answers) if args.answers is not None else None
    answers: list[str] = []
    for n, q in enumerate(found, 1):
        if given is None:
            from rich.console import Console

            from occsim.cluster.view.diagram import TraceView
            console = Console()
            console.print(TraceView(events[:q.at], doc=q.doc,
                                    max_rows=max(6, console.size.height - 16)))
        print(f"\n{n}. {q.prompt}\n   {q.choice_line()}")
        if given is None:
            try:
                answer = input("   your answer: ").strip().lower()
            except EOFError:
                answer = ""
        else:
            answer = given[n - 1] if n - 1 < len(given) else ""
            print(f"   your answer: {answer or '(none)'}")
        answers.append(answer)
        print(f"   {reveal(q, answer or None)}")
    print()
    print(summary(found, score(found, answers), _replay_command(args, session)))
    return 0


def _replay_command(args, session) -> str:
    """The commands that rerun this lesson's story and step through it."""
    options = f" --seed {args.seed}" if args.seed is not None else ""
    if args.scenario.endswith(".json"):
        options += f" --schedule {args.scenario}"
    if session.es_compat:
        options += f" --es-compat {session.es_compat}"
    if session.replica_rule != "es":
        options += f" --replica-rule {session.replica_rule}"
    if session.links != "any":
        options += f" --links {session.links}"
    return (f"occsim run {session.scenario} --sim{options} --trace lesson.jsonl && "
            "occsim replay lesson.jsonl --step")
