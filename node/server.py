"""The node's HTTP shell: aiohttp in, `api.dispatch` for the Elasticsearch API, out again.

Only translation lives here: an aiohttp request becomes a `rest.Request`, a `rest.Response`
becomes bytes with Elasticsearch's content type. Header values are read byte for byte as
ISO-8859-1, as Netty reads them, so a non-ASCII one is an ordinary (refusable) value. A body
aiohttp cannot decode (`Content-Encoding: gzip` on a body that is not gzip) closes the
connection without an answer, as Elasticsearch's HTTP layer does ("caught exception while
handling client http traffic, closing connection"). Routes under `/_internal/` go to the
handler the transport installs, after the cluster secret is checked (before any routing).

Every request reaches one handler, so it is served by aiohttp's low-level `web.Server` (no
application, router or middlewares); `Expect: 100-continue` is answered as aiohttp's router
answers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from itertools import chain

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.web_protocol import RequestPayloadError

from occsim.node.api.routes import dispatch
from occsim.node.node import Node
from occsim.node.errors import ElasticsearchError
from occsim.node.rest import JSON, Request, render
from occsim.transport.websocket import check_secret

DEFAULT_MAX_CONTENT_LENGTH = 100 * 1024 * 1024  # Elasticsearch's http.max_content_length
MAX_INITIAL_LINE_LENGTH = 4096  # http.max_initial_line_length
MAX_HEADER_SIZE = 8192  # http.max_header_size
# aiohttp would answer over-long lines and headers itself, in plain text; let them through to
# `handle`, which refuses them as Elasticsearch does (bounded well above those limits).
PARSER_LIMITS = {"max_line_size": 1024 * 1024, "max_field_size": 1024 * 1024}

Internal = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def make_server(
    node: Node,
    *,
    internal: Internal | None = None,
    secret: str | None = None,
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH,
) -> web.Server:
    """One aiohttp server serving the REST API and, with a secret, the internal routes."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.headers.get(hdrs.EXPECT):
            await _expect(request)
        if request.path.startswith("/_internal/"):
            refused = check_secret(request, secret)
            return refused or await internal(request)
        raw = request.raw_headers
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
        # each header line is its name and value, ": " and CRLF
        too_long = _too_long(request, sum(map(len, chain.from_iterable(raw))) + 4 * len(raw))
        if too_long:
            error = ElasticsearchError(too_long, status=400, type="too_long_frame_exception")
            return web.Response(status=400, body=render(error.body(), pretty=False),
                                headers={"Content-Type": JSON})
        content = request.content
        try:
            # the usual request: all of its body came with its head, so take it as it is
            body = content.read_nowait() if content.is_eof() else await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413)
        except RequestPayloadError:  # e.g. a gzip Content-Encoding on a plain body
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=400)  # never sent: the connection is closed
        if len(body) > max_content_length:  # (`read` refuses it as it arrives)
            return web.Response(status=413)
        query = dict(request.query) if request.query_string else {}
        rest = Request(request.method, request.path, query, headers, body)
        response = await dispatch(node, rest)
        pretty = "pretty" in rest.query and rest.query["pretty"] != "false"
        headers = {"Content-Type": JSON, **response.headers}
        payload = render(response.body, pretty=pretty)
        if request.method == "HEAD":
            return web.Response(status=response.status, headers=headers)
        return web.Response(status=response.status, body=payload, headers=headers)

    loop = asyncio.get_running_loop()

    def request_factory(message, payload, protocol, writer, task) -> web.BaseRequest:
        return web.BaseRequest(message, payload, protocol, writer, task, loop,
                               client_max_size=max_content_length)

    # the parser leaves the request size limits to Elasticsearch's (`_too_long`)
    return web.Server(handle, request_factory=request_factory, access_log=None,
                      **PARSER_LIMITS)


async def _expect(request: web.BaseRequest) -> None:
    """What aiohttp's router does for an `Expect` header: `100 Continue`, else 417."""
    expect = request.headers[hdrs.EXPECT]
    if request.version == HttpVersion11:
        if expect.lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
        await request.writer.drain()


def _too_long(request: web.BaseRequest, header_bytes: int) -> str | None:
    line = len(request.method) + len(request.raw_path) + len(" HTTP/1.1") + 1
    if line > MAX_INITIAL_LINE_LENGTH:
        return f"An HTTP line is larger than {MAX_INITIAL_LINE_LENGTH} bytes."
    if header_bytes > MAX_HEADER_SIZE:
        return f"HTTP header is larger than {MAX_HEADER_SIZE} bytes."
    return None
