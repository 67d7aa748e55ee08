"""The bench's load generator (`cluster/tools/load.py`) against a small aiohttp server on
loopback: keep-alive, status and body, a server that closes, a connection that is lost."""

from __future__ import annotations

import pytest
from aiohttp import web

from occsim.cluster.tools.load import Connection


@pytest.fixture
async def server():
    peers: set = set()

    async def echo(request: web.Request) -> web.StreamResponse:
        peers.add(request.transport.get_extra_info("peername"))
        body = await request.read()
        status = int(request.query.get("status", "200"))
        if request.query.get("chunked"):
            response = web.StreamResponse(status=status)
            await response.prepare(request)
            for part in (b"one ", b"two ", body):
                await response.write(part)
            await response.write_eof()
            return response
        if request.query.get("drop"):
            request.transport.close()  # no answer: the client sees the connection go
            return web.Response()
        headers = {"Connection": "close"} if request.query.get("close") else {}
        return web.Response(status=status, headers=headers,
                            body=request.method.encode() + b" " + request.path_qs.encode()
                            + b" " + request.headers.get("Content-Type", "-").encode()
                            + b" " + body)

    runner = web.AppRunner(web.Application(handler_args={"lingering_time": 0}))
    runner.app.router.add_route("*", "/{tail:.*}", echo)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", peers
    await runner.cleanup()


async def test_requests_share_one_connection_and_return_status_and_body(server):
    url, peers = server
    conn = Connection.to(url + "/ignored/path")
    assert await conn.request("PUT", "/i/_doc/1", b'{"a":1}') == (
        200, b'PUT /i/_doc/1 application/json {"a":1}')
    assert await conn.request("GET", "/i/_doc/1?status=404") == (404, b"GET /i/_doc/1?status=404 - ")
    for n in range(20):
        status, _ = await conn.request("PUT", f"/i/_doc/{n}", b"{}")
        assert status == 200
    assert len(peers) == 1  # every request on the same keep-alive connection
    conn.close()


async def test_a_chunked_answer_is_read_whole(server):
    url, _ = server
    conn = Connection.to(url)
    assert await conn.request("POST", "/x?chunked=1", b"three") == (200, b"one two three")
    conn.close()


async def test_a_server_that_closes_is_reconnected_on_the_next_request(server):
    url, peers = server
    conn = Connection.to(url)
    assert (await conn.request("GET", "/a?close=1"))[0] == 200
    assert (await conn.request("GET", "/b"))[0] == 200
    assert len(peers) == 2
    conn.close()


async def test_a_connection_lost_mid_request_fails_that_request_only(server):
    url, _ = server
    conn = Connection.to(url)
    with pytest.raises(ConnectionError):
        await conn.request("GET", "/a?drop=1")
    assert (await conn.request("GET", "/b"))[0] == 200
    conn.close()


async def test_nothing_listening_is_an_os_error():
    conn = Connection("127.0.0.1", 9)  # discard: nothing listens there on loopback
    with pytest.raises(OSError):
        await conn.request("GET", "/")


def test_the_closed_loop_times_latencies_finer_than_the_loop_clock():
    """uvloop's `loop.time()` counts whole milliseconds: latencies of a fast loopback server
    timed with it would all be 0 or 1 ms. The bench runs on uvloop, as the nodes do."""
    from occsim.cluster.runtime.process import run_loop
    from occsim.cluster.tools.bench import closed_loop

    async def measure():
        async def ok(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=201, body=b"{}")

        runner = web.AppRunner(web.Application())
        runner.app.router.add_route("*", "/{tail:.*}", ok)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            return await closed_loop([f"http://127.0.0.1:{port}"], 1, seconds=0.2, warmup=0.0)
        finally:
            await runner.cleanup()

    level = run_loop(measure())
    assert level.ok > 20, level.figures()
    assert len(set(level.latencies)) > 3, sorted(set(level.latencies))[:10]
