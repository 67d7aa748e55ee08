"""Console files: requests written as in Kibana's console and the seed documents, sent to a
cluster, answered as a transcript, and checked against the answers pasted below them.

The format, line by line::

    # a comment (also `//`); blank lines separate requests
    PUT /test_index/test_type/8?version=2&version_type=external
    {
      "test_field": "test client 1"
    }

    {
      "_index": "test_index",
      "_version": 2
    }

* a request line is a method and a path with an optional query string (`GET _cat/shards?v`
  works too: a missing leading `/` is added); it may be indented;
* its body starts on the very next line: one JSON value spanning any number of lines, or
  several values on consecutive lines (an NDJSON body, as `_bulk` takes), and ends at the
  first blank line; no body when a blank line (or the end) follows the request line;
* a JSON value after that blank line is the answer expected for the request (pasted from a
  transcript): the runner compares it with the real answer, ignoring fields that differ from
  run to run (`index_uuid`, `took`), and reports every difference;
* anything else outside a body (prose, a plain-text answer) must be a comment.

`parse` is pure (text → `ConsoleRequest`s); `run_console(client, text)` sends them with a
`cluster.client.Client` (a scenario's actor, say) and returns the replies; `main` is
`occsim console FILE`. What the runner prints is itself a console file, its answers in place
of the expected ones.
"""

from __future__ import annotations

import asyncio
import http
import json
import re
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from occsim.cluster.runtime.client import Client, HttpSender, Reply
from occsim.cluster.errors import ConsoleSyntaxError

METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS")
_REQUEST_LINE = re.compile(r"(?i)(" + "|".join(METHODS) + r")\s+(\S+)(?:\s+HTTP/[\d.]+)?")
IGNORED_FIELDS = frozenset({"index_uuid", "took"})  # differ from run to run


@dataclass
class ConsoleRequest:
    """One request of a console file."""

    method: str
    path: str  # decoded, starting with `/`, without the query string
    query: dict[str, str] = field(default_factory=dict)  # in the order written
    body: object = None  # the JSON value; a list of values for an NDJSON body
    ndjson: bool = False
    expected: object = None  # the pasted answer, when there is one
    has_expected: bool = False
    line: int = 0  # where the request line is (1-based)
    body_text: str | None = None  # the body as written (dedented)
    error: str | None = None  # why its body cannot be read: the request is not sent

    @property
    def target(self) -> str:
        """`/path?query` as a console line shows it."""
        qs = "&".join(f"{k}={v}" if v else k for k, v in self.query.items())
        return f"{self.path}?{qs}" if qs else self.path


# -- parsing ------------------------------------------------------------------------------------
def _is_comment(stripped: str) -> bool:
    return stripped.startswith("#") or stripped.startswith("//")


def _request_line(stripped: str) -> re.Match | None:
    return _REQUEST_LINE.fullmatch(stripped)


def _starts_json(stripped: str) -> bool:
    return stripped[:1] in ("{", "[")


def _read_json(lines: list[str], i: int) -> tuple[object, int]:
    """The JSON value starting on line `i`, and the index of the line after it."""
    text = "\n".join(lines[i:])
    start = len(text) - len(text.lstrip())
    try:
        value, end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise ConsoleSyntaxError(f"line {i + exc.lineno}: invalid JSON: {exc.msg}") from None
    last = i + text.count("\n", 0, end)
    rest = text[end:].split("\n", 1)[0]
    if rest.strip():
        raise ConsoleSyntaxError(f"line {last + 1}: unexpected text after the JSON value: "
                                 f"{rest.strip()!r}")
    return value, last + 1


def _dedent(block: list[str]) -> str:
    margin = min((len(line) - len(line.lstrip()) for line in block if line.strip()), default=0)
    return "\n".join(line[margin:].rstrip() for line in block)


def parse_request_line(method: str, target: str, line: int = 0) -> ConsoleRequest:
    """`PUT`, `/index/type/1?version=2` → a request without a body."""
    parts = urllib.parse.urlsplit(target if target.startswith("/") else "/" + target)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    return ConsoleRequest(method.upper(), urllib.parse.unquote(parts.path), query, line=line)


def parse(text: str) -> list[ConsoleRequest]:
    """The requests of a console file, each with its body and the answer pasted below it."""
    lines = text.splitlines()
    requests: list[ConsoleRequest] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or _is_comment(stripped):
            i += 1
            continue
        match = _request_line(stripped)
        if match is None:
            if _starts_json(stripped):
                raise ConsoleSyntaxError(
                    f"line {i + 1}: a JSON value that is neither a body (it must start on the "
                    "line after its request) nor the one answer expected for a request")
            raise ConsoleSyntaxError(
                f"line {i + 1}: expected a request line such as `GET /index/_doc/1`, found "
                f"{stripped[:60]!r} (make prose a comment with `#`)")
        request = parse_request_line(match.group(1), match.group(2), i + 1)
        i += 1
        # the body: JSON values on the lines right below, up to a blank line
        values, first = [], i
        try:
            while i < len(lines) and lines[i].strip() and not _is_comment(lines[i].strip()):
                if not _starts_json(lines[i].strip()):
                    if _request_line(lines[i].strip()):
                        break
                    raise ConsoleSyntaxError(f"line {i + 1}: a body must be JSON, found "
                                             f"{lines[i].strip()[:60]!r}")
                value, i = _read_json(lines, i)
                values.append(value)
        except ConsoleSyntaxError as exc:  # this request fails; the file goes on
            request.error = str(exc)
            while i < len(lines) and lines[i].strip():
                i += 1
            request.body_text, values = _dedent(lines[first:i]), []
        if values:
            request.body_text = _dedent(lines[first:i])
            request.ndjson = len(values) > 1
            request.body = values if request.ndjson else values[0]
        # the expected answer: the next JSON value, after blank lines and comments
        j = i
        while j < len(lines) and (not lines[j].strip() or _is_comment(lines[j].strip())):
            j += 1
        if j < len(lines) and _starts_json(lines[j].strip()):
            request.expected, i = _read_json(lines, j)
            request.has_expected = True
        requests.append(request)
    return requests


# -- comparing answers ------------------------------------------------------------------------
def _show(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def differences(expected: object, actual: object, *, ignore: frozenset[str] = IGNORED_FIELDS,
                path: str = "") -> list[str]:
    """Every way `actual` differs from `expected`, one line each (`error.reason: expected …,
    got …`); object fields named in `ignore` are not compared."""
    where = path or "the answer"
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[str] = []
        for key, value in expected.items():
            if key in ignore:
                continue
            sub = f"{path}.{key}" if path else key
            if key not in actual:
                found.append(f"{sub}: missing (expected {_show(value)})")
            else:
                found.extend(differences(value, actual[key], ignore=ignore, path=sub))
        for key, value in actual.items():
            if key not in expected and key not in ignore:
                sub = f"{path}.{key}" if path else key
                found.append(f"{sub}: not expected, got {_show(value)}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        found = []
        for n, (e, a) in enumerate(zip(expected, actual)):
            found.extend(differences(e, a, ignore=ignore, path=f"{path}[{n}]"))
        if len(expected) != len(actual):
            found.append(f"{where}: expected {len(expected)} items, got {len(actual)}")
        return found
    same_kind = isinstance(expected, bool) == isinstance(actual, bool)
    if expected != actual or not same_kind:
        return [f"{where}: expected {_show(expected)}, got {_show(actual)}"]
    return []


# -- running ----------------------------------------------------------------------------------
@dataclass
class Exchange:
    """A request sent, its reply, and how the reply differs from the pasted answer (None: no
    answer was pasted)."""

    request: ConsoleRequest
    reply: Reply | None  # None: not sent (its body could not be read)
    differences: list[str] | None = None

    @property
    def as_expected(self) -> bool:
        return not self.differences


async def send(client: Client, request: ConsoleRequest) -> Reply:
    """Send one console request as `client` (its name goes out as X-Opaque-Id)."""
    if not request.ndjson:
        return await client.request(request.method, request.path, request.body,
                                    **request.query)
    # Client.request sends one JSON value; an NDJSON body goes out as written, through the
    # same sender and printer
    raw = "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in request.body).encode()
    query = urllib.parse.urlencode(request.query)
    target = urllib.parse.quote(request.path) + (f"?{query}" if query else "")
    headers = {"X-Opaque-Id": client.name, "Content-Type": "application/x-ndjson"}
    return await client.send_raw(request.method, target, headers, raw,
                                 shown=(request.target, request.body))


async def run_console(client: Client, text: str | Sequence[ConsoleRequest], *,
                      expect: Callable[[bool, str], object] | None = None,
                      on_exchange: Callable[[Exchange], object] | None = None
                      ) -> list[Reply | None]:
    """Send a console snippet's requests in order as one actor and return the replies (None
    for a request whose body could not be read: it is not sent, and the rest go on).

    In a scenario: `await run_console(cluster.client("alice"), SNIPPET, expect=cluster.expect)`
    makes every pasted answer an expectation of the story. `on_exchange` sees each request,
    reply and difference list as it happens (the command prints them).
    """
    requests = parse(text) if isinstance(text, str) else list(text)
    replies = []
    for request in requests:
        if request.error is not None:  # a malformed body: one failed step, then the rest
            if expect is not None:
                expect(False, f"{request.method} {request.target} (line {request.line}) "
                       f"is not sent: {request.error}")
            if on_exchange is not None:
                on_exchange(Exchange(request, None, [f"not sent: {request.error}"]))
            replies.append(None)
            continue
        reply = await send(client, request)
        replies.append(reply)
        exchange = Exchange(request, reply)
        if request.has_expected:
            exchange.differences = differences(request.expected, reply.body)
            if expect is not None:
                detail = "; ".join(exchange.differences[:3])
                expect(exchange.as_expected,
                       f"{request.method} {request.target} (line {request.line}) answers as "
                       "pasted" + (f": {detail}" if detail else ""))
        if on_exchange is not None:
            on_exchange(exchange)
    return replies


def format_exchange(exchange: Exchange) -> str:
    """One exchange as console text: the request, its body, then `# status` and the answer."""
    request, reply = exchange.request, exchange.reply
    lines = [f"{request.method} {request.target}"]
    if request.body_text is not None:
        lines.append(request.body_text)
    elif request.body is not None:
        lines.append(json.dumps(request.body, indent=2, ensure_ascii=False))
    lines.append("")
    if reply is None:
        lines.extend(f"# {d}" for d in exchange.differences or ())
        return "\n".join(lines) + "\n"
    try:
        phrase = http.HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = ""
    status = f"# {reply.status} {phrase}".rstrip()
    if exchange.differences is not None:
        status += " · as expected" if exchange.as_expected else " · NOT as expected:"
    lines.append(status)
    lines.extend(f"#   {d}" for d in exchange.differences or ())
    if isinstance(reply.body, str):
        lines.append(reply.body.rstrip("\n"))
    elif reply.body is not None:
        lines.append(json.dumps(reply.body, indent=2, ensure_ascii=False))
    return "\n".join(lines) + "\n"


# -- occsim console FILE ------------------------------------------------------------------------
def _netloc(url: str) -> str:
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    return parts.netloc


async def run_file(requests: list[ConsoleRequest], *, node: str, es_compat: int, up: bool,
                   out: TextIO, trace_path: str | None = None) -> tuple[int, int, int]:
    """Run parsed requests against `node` (or a fresh 1-node cluster with `up`, whose Lamport
    diagram follows as comments, and whose trace goes to `trace_path`); return how many answers
    were expected, how many differed, and how many requests could not be sent."""
    counts = [0, 0, 0]

    def show(exchange: Exchange) -> None:
        if exchange.reply is None:
            counts[2] += 1
        elif exchange.differences is not None:
            counts[0] += 1
            counts[1] += not exchange.as_expected
        print(format_exchange(exchange), file=out, flush=True)

    if not up:
        sender = HttpSender(lambda name: _netloc(node))
        try:
            await run_console(Client("console", "node", sender), requests, on_exchange=show)
        finally:
            await sender.close()
        return counts[0], counts[1], counts[2]

    from occsim.cluster.trace import events as trace
    from occsim.cluster.view import diagram as view
    from occsim.cluster.config import ClusterConfig
    from occsim.cluster.runtime.manager import Manager
    from occsim.cluster.stories.runner import free_port_block

    manager = Manager(ClusterConfig(nodes=1, port=free_port_block(1), es_compat=es_compat,
                                    trace=True))
    await manager.start()
    try:
        name = next(iter(manager.master.state["nodes"]))
        await run_console(Client("console", name, manager.sender), requests,
                          on_exchange=show)
    finally:
        events = await manager.stop()
    diagram = view.render_text(events, width=100)
    print("".join(f"# {line}".rstrip() + "\n" for line in diagram.splitlines()), file=out)
    if trace_path:
        trace.write(trace_path, events)
    return counts[0], counts[1], counts[2]


def main(path: str, *, node: str = "http://127.0.0.1:9200", es_compat: int = 5,
         up: bool = False, out: TextIO | None = None, trace_path: str | None = None) -> int:
    """`occsim console FILE`: 0 when every request was sent and every pasted answer matched,
    1 when one differed or could not be sent, 2 when the file cannot be read or the cluster
    cannot be reached."""
    out = out or sys.stdout
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8-sig").read()
        requests = parse(text)
    except (OSError, ConsoleSyntaxError) as exc:
        print(f"occsim console: {path}: {exc}", file=sys.stderr)
        return 2
    try:
        expected, differing, unsent = asyncio.run(run_file(
            requests, node=node, es_compat=es_compat, up=up, out=out, trace_path=trace_path))
    except Exception as exc:  # a cluster that does not start or answer
        where = f"a 1-node {es_compat}.x cluster" if up else node
        print(f"occsim console: {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    summary = f"# {len(requests)} requests, {expected} with a pasted answer"
    if expected:
        summary += (f": {differing} not as expected" if differing else ": all as expected")
    if unsent:
        summary += f"; {unsent} not sent (a body that is not JSON)"
    print(summary, file=out)
    return 1 if differing or unsent else 0
