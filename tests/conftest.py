"""Shared test helpers: an in-process node driven through its real REST dispatcher."""

from __future__ import annotations

import asyncio
import json
import random
import urllib.parse

import pytest

from occsim.cluster.master import LocalMaster, MasterState
from occsim.node.api.routes import dispatch
from occsim.node.node import Node
from occsim.node.profiles import profile
from occsim.node.rest import Request
from occsim.transport.recorder import Recorder


class Clock:
    """A clock tests move by hand (seconds)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class LocalApi:
    """One standalone node of a profile, called through `api.dispatch` like HTTP would."""

    def __init__(self, major: int) -> None:
        self.clock = Clock()
        p = profile(major)
        self.master = MasterState(p, nodes={"n1": {"ip": "127.0.0.1", "port": 9200,
                                                   "pid": 1}}, rng=random.Random(7))
        self.node = Node("n1", p, clock=self.clock, timer=lambda: asyncio.get_running_loop().time(),
                         recorder=Recorder("n1", self.clock), master=LocalMaster(self.master))
        self.major = major

    async def start(self) -> LocalApi:
        await self.node.apply_state(self.master.state)
        return self

    async def __call__(self, method: str, path: str, body: object = None,
                      **params: object) -> tuple[int, dict]:
        parsed = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        query.update({k: str(v).lower() if isinstance(v, bool) else str(v)
                      for k, v in params.items()})
        raw = body if isinstance(body, bytes) else (
            b"" if body is None else json.dumps(body).encode())
        headers = {"content-type": "application/json"} if raw else {}
        response = await dispatch(self.node, Request(method, urllib.parse.unquote(parsed.path),
                                                     query, headers, raw))
        self.last = response  # headers, for the tests that read them
        return response.status, response.body

    def doc_path(self, index: str, doc_id: str, *, type_name: str = "test") -> str:
        """`/{index}/{type}/{id}` up to 5.x, `/{index}/_doc/{id}` after."""
        return f"/{index}/{type_name if self.major == 5 else '_doc'}/{doc_id}"

    def create_path(self, index: str, doc_id: str) -> str:
        if self.major >= 7:
            return f"/{index}/_create/{doc_id}"
        return self.doc_path(index, doc_id) + "/_create"


@pytest.fixture
def make_api():
    async def make(major: int) -> LocalApi:
        return await LocalApi(major).start()
    return make
