"""The real wire: one persistent aiohttp websocket per destination, reused for every message.

Each link has an ordered queue and one writer task; whatever is queued when the writer wakes
goes out as one websocket message (a batch, `message.encode_batch`), so a busy link batches
by itself and an idle one sends at once. A message that cannot be encoded fails alone (its
request at once, a reply as an error reply); the writer never dies of it. Incoming websockets are served at
`/_internal/channel`; a single request can also be posted to `/_internal/message` and answered
in the HTTP response (for tools and tests). Both sit behind the server's secret check.
"""

from __future__ import annotations

import asyncio
import hmac
from collections import deque
from collections.abc import Callable

import aiohttp
from aiohttp import web

from occsim.transport.endpoint import Endpoint
from occsim.transport.message import (MAX_FRAME_BYTES, BadFrame, Envelope, Unencodable, decode,
                                     decode_batch, encode, encode_batch, error_reply)

SECRET_HEADER = "X-Occsim-Secret"
_SECRET_KEY = SECRET_HEADER.lower().encode()
CHANNEL = "/_internal/channel"
MESSAGE = "/_internal/message"


def check_secret(request: web.Request, secret: str | None) -> web.Response | None:
    """None when the request carries the cluster secret; else the 401/403 answer.

    Runs before any routing, so a path that does not exist is refused the same way. The
    header's bytes are compared as sent, in constant time: any value is an answer, not a crash.
    """
    offered = next((v for k, v in request.raw_headers if k.lower() == _SECRET_KEY), b"")
    if secret and offered and hmac.compare_digest(offered, secret.encode()):
        return None
    status = 401 if not offered else 403
    reason = "missing cluster secret" if not offered else "wrong cluster secret"
    return web.json_response({"error": {"type": "security_exception", "reason": reason},
                              "status": status}, status=status)


class WebSocketWire:
    """Carries an endpoint's envelopes to other parties over persistent websockets."""

    def __init__(self, endpoint: Endpoint, *, secret: str,
                 address_of: Callable[[str], str | None]) -> None:
        self.endpoint = endpoint
        self.secret = secret
        self.address_of = address_of
        self._queues: dict[str, deque[Envelope]] = {}
        self._writers: dict[str, asyncio.Task] = {}
        self._idle: dict[str, asyncio.Future] = {}  # what an idle link writer awaits
        self._session: aiohttp.ClientSession | None = None
        self._inbound: set[web.WebSocketResponse] = set()
        endpoint.wire = self

    def transmit(self, env: Envelope, *, waited: bool = False) -> None:
        queue = self._queues.get(env.dst)
        if queue is None:
            queue = self._queues[env.dst] = deque()
        queue.append(env)
        idle = self._idle.pop(env.dst, None)
        if idle is not None and not idle.done():
            idle.set_result(None)
        writer = self._writers.get(env.dst)
        if writer is None or writer.done():
            self._writers[env.dst] = asyncio.get_running_loop().create_task(
                self._write(env.dst, queue))

    async def _write(self, dst: str, queue: deque[Envelope]) -> None:
        ws = None
        while True:
            if not queue:
                idle = self._idle[dst] = asyncio.get_running_loop().create_future()
                await idle
            batch = list(queue)
            queue.clear()
            encoded = [(env, f) for env in batch if (f := self._frame(env)) is not None]
            if not encoded:
                continue
            batch = [env for env, _ in encoded]
            frame = encode_batch([f for _, f in encoded])
            for attempt in (1, 2):  # a cached connection may be to a peer that restarted
                fresh = ws is None or ws.closed
                try:
                    if fresh:
                        ws = await self._connect(dst)
                    await ws.send_bytes(frame)
                    break
                except (aiohttp.ClientError, OSError, ConnectionError, RuntimeError) as exc:
                    ws = None
                    if fresh or attempt == 2:
                        for env in batch:
                            self.endpoint.undeliverable(env, f"[{dst}] is not reachable: {exc}")
                        break

    def _frame(self, env: Envelope) -> bytes | None:
        """`env` encoded; else its request fails now, or its reply is sent as an error."""
        try:
            return encode(env)
        except Unencodable as exc:
            if env.reply_to is None:
                self.endpoint.undeliverable(env, str(exc))
                return None
            return encode(error_reply(env, str(exc)))

    async def _connect(self, dst: str) -> aiohttp.ClientWebSocketResponse:
        address = self.address_of(dst)
        if address is None:
            raise aiohttp.ClientError(f"no address known for [{dst}]")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return await self._session.ws_connect(
            f"http://{address}{CHANNEL}", headers={SECRET_HEADER: self.secret},
            max_msg_size=MAX_FRAME_BYTES, autoping=True, heartbeat=None,
            timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
        )

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """The internal routes: `/_internal/channel` (websocket) and `/_internal/message`."""
        if request.path == CHANNEL:
            return await self._channel(request)
        if request.path == MESSAGE and request.method == "POST":
            return await self._one_message(request)
        return web.json_response({"error": f"no internal route [{request.method} "
                                           f"{request.path}]", "status": 404}, status=404)

    async def _channel(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        self._inbound.add(ws)
        try:
            await self._read(ws)
        finally:
            self._inbound.discard(ws)
        return ws

    async def _read(self, ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                await ws.close(code=1003, message=b"binary frames only")
                break
            try:
                envelopes = decode_batch(msg.data)
            except BadFrame as exc:
                await ws.close(code=1007, message=str(exc).encode()[:120])
                break
            for env in envelopes:
                self.endpoint.receive(env)

    async def _one_message(self, request: web.Request) -> web.Response:
        data = await request.read()
        try:
            env = decode(data)
        except BadFrame as exc:
            return web.json_response({"error": {"type": "bad_frame", "reason": str(exc)},
                                      "status": 400}, status=400)
        reply = await self.endpoint.answer_now(env)
        try:
            frame = encode(reply)
        except Unencodable as exc:
            frame = encode(error_reply(reply, str(exc)))
        return web.Response(body=frame, content_type="application/msgpack")

    async def close(self) -> None:
        for writer in self._writers.values():
            writer.cancel()
        for ws in list(self._inbound):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
        if self._session is not None:
            await self._session.close()


async def post_message(url: str, secret: str, env: Envelope, *, timeout: float = 30.0) -> dict:
    """Send one request to `/_internal/message` of `url` and return the reply's body."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}{MESSAGE}", data=encode(env),
                                headers={SECRET_HEADER: secret},
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            data = await response.read()
            if response.status != 200:
                raise BadFrame(f"{response.status}: {data[:200].decode(errors='replace')}")
            return decode(data).body
