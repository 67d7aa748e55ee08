"""A named actor's REST client: speaks the Elasticsearch document API to one node, and tells a
printer about every request and answer so a scenario reads like the seed documents.

The client does not care how a request travels: `HttpSender` uses a real aiohttp session
(real processes), the simulation passes requests straight to a node's dispatcher.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: its status and decoded body."""

    status: int
    body: dict | list | str | None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __getitem__(self, key: str) -> object:
        assert isinstance(self.body, dict), f"reply body is not an object: {self.body!r}"
        return self.body[key]

    def get(self, key: str, default: object = None) -> object:
        return self.body.get(key, default) if isinstance(self.body, dict) else default

    @property
    def reason(self) -> str | None:
        """An error's `reason` (or the REST layer's string error)."""
        error = self.get("error")
        return error.get("reason") if isinstance(error, dict) else error


class Sender(Protocol):
    async def __call__(self, node: str, method: str, target: str, headers: dict,
                       body: bytes) -> Reply: ...


Printer = Callable[[str, str, str, object, Reply], None]
Pace = Callable[[str, bool], Awaitable[None]]  # (what, shown)


class HttpSender:
    """Sends requests to node processes over HTTP on loopback (one pooled session).

    A node that is down raises the builtin `ConnectionError`, as the simulation's sender does.
    """

    def __init__(self, address_of: Callable[[str], str]) -> None:
        self.address_of = address_of
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, node: str, method: str, target: str, headers: dict,
                       body: bytes) -> Reply:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=120))
        url = f"http://{self.address_of(node)}{target}"
        try:
            async with self._session.request(method, url, data=body or None,
                                             headers=headers) as response:
                raw = await response.read()
                ctype = response.headers.get("Content-Type", "")
        except aiohttp.ClientConnectionError as exc:  # the node is down: as in the simulation
            raise ConnectionError(f"[{node}] {exc}") from exc
        decoded = json.loads(raw) if raw and "json" in ctype else (
            raw.decode() if raw else None)
        return Reply(response.status, decoded)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class Client:
    """One actor: named (sent as X-Opaque-Id, as Elasticsearch clients do) and bound to a node."""

    def __init__(self, name: str, node: str, send: Sender, printer: Printer | None = None,
                 *, quiet: bool = False, pace: Pace | None = None) -> None:
        self.name = name
        self.node = node
        self._send = send
        self._printer = printer
        self.quiet = quiet
        self._pace = pace  # awaited before each request (told whether it is shown)

    async def request(self, method: str, path: str, body: object = None,
                      **params: object) -> Reply:
        """Send one request; `params` become the query string (True → "true")."""
        query = urllib.parse.urlencode(
            {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
        ) if params else ""
        target = urllib.parse.quote(path) + (f"?{query}" if query else "")
        raw = b"" if body is None else json.dumps(body).encode()
        headers = {"X-Opaque-Id": self.name, **(JSON_HEADERS if raw else {})}
        if self._pace is not None:
            await self._pace(f"{self.name} {method} {urllib.parse.unquote(target)}",
                             not self.quiet)
        return await self.send_raw(method, target, headers, raw,
                                   shown=(urllib.parse.unquote(target), body))

    async def send_raw(self, method: str, target: str, headers: dict, raw: bytes, *,
                       shown: tuple[str, object]) -> Reply:
        """Send a body exactly as given (an NDJSON body of a console file, say), unpaced; the
        printer sees `shown`, the target and body to show."""
        reply = await self._send(self.node, method, target, headers, raw)
        if self._printer is not None and not self.quiet:
            self._printer(self.name, method, *shown, reply)
        return reply

    # the document API, for readable scenarios
    async def index(self, index: str, doc_id: str | None, source: dict, *,
                    doc_type: str = "_doc", **params: object) -> Reply:
        path = f"/{index}/{doc_type}" + (f"/{doc_id}" if doc_id is not None else "")
        return await self.request("PUT" if doc_id is not None else "POST", path, source,
                                  **params)

    async def create(self, index: str, doc_id: str, source: dict, *, doc_type: str = "_doc",
                     **params: object) -> Reply:
        return await self.index(index, doc_id, source, doc_type=doc_type, op_type="create",
                                **params)

    async def get(self, index: str, doc_id: str, *, doc_type: str = "_doc",
                  **params: object) -> Reply:
        return await self.request("GET", f"/{index}/{doc_type}/{doc_id}", **params)

    async def delete(self, index: str, doc_id: str, *, doc_type: str = "_doc",
                     **params: object) -> Reply:
        return await self.request("DELETE", f"/{index}/{doc_type}/{doc_id}", **params)

    def on(self, node: str) -> Client:
        """The same actor, talking to another node."""
        return Client(self.name, node, self._send, self._printer, quiet=self.quiet,
                      pace=self._pace)

