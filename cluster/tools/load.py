"""The bench's load generator: one keep-alive HTTP/1.1 connection per client, one request at a
time, its answer parsed by httptools (the C parser uvicorn uses).

The clients share the machine with the cluster they measure, so every microsecond they spend
is taken from the nodes: an aiohttp client session costs about 100 µs of CPU per request here,
this about a fifth of that. It sends what the bench asks and reads the status and body of the
answer; nothing more (no redirects, cookies, compression or chunked requests).
"""

from __future__ import annotations

import asyncio

import httptools


class Connection:
    """A client's connection to one `host:port`, opened on its first request and again after
    the server closed it. One request is in flight at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self._link: _Link | None = None

    @classmethod
    def to(cls, url: str) -> Connection:
        """A connection to the `http://host:port` of `url`."""
        host, _, port = url.removeprefix("http://").partition("/")[0].rpartition(":")
        return cls(host, int(port))

    async def request(self, method: str, path: str, body: bytes = b"",
                      content_type: bytes = b"application/json") -> tuple[int, bytes]:
        """Send one request; its answer's status and body. ConnectionError when the
        connection is lost before the answer is whole, OSError when it cannot be opened."""
        link = self._link
        if link is None or link.lost:
            _, link = await asyncio.get_running_loop().create_connection(
                _Link, self.host, self.port)
            self._link = link
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._host_header
        if body:
            head += b"Content-Type: " + content_type + b"\r\nContent-Length: %d\r\n" % len(body)
        return await link.send(head + b"\r\n" + body)

    def close(self) -> None:
        if self._link is not None:
            self._link.transport.close()


class _Link(asyncio.Protocol):
    """One TCP connection: writes a request, parses its answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._answer: asyncio.Future | None = None

    def send(self, request: bytes) -> asyncio.Future:
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._answer

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP answer: {exc}"))
            self.lost = True
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(ConnectionError("the connection was lost before the whole answer"))

    def _fail(self, exc: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)

    # httptools calls these
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self._body)
        self._body.clear()
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((self._parser.get_status_code(), body))
        if not self._parser.should_keep_alive():
            self.lost = True  # the server closes it: the next request opens another
            self.transport.close()
