"""Students poke a teaching cluster on purpose: every bad request against a running 3-node
cluster gets the 4xx Elasticsearch gives, every node keeps serving, nothing stored changes,
and nobody gets into the internal routes without the cluster's secret."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import msgpack
import pytest
import pytest_asyncio

from occsim.cluster.config import ClusterConfig

from occsim.cluster.runtime.manager import Manager
from occsim.cluster.stories.runner import free_port_block
from occsim.transport.message import Envelope, encode
from occsim.transport.websocket import CHANNEL, MESSAGE, SECRET_HEADER

pytestmark = pytest.mark.asyncio(loop_scope="module")

JSON = {"Content-Type": "application/json"}
DEEP = b'{"a":' * 30 + b"1" + b"}" * 30


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def cluster():
    manager = Manager(ClusterConfig(nodes=3, port=free_port_block(3), es_compat=7,
                                    max_content_length=64 * 1024))
    await manager.start()
    await manager.create_index("idx", {"settings": {"number_of_shards": 1,
                                                    "number_of_replicas": 2}})
    async with aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{manager.ports['n1']}"
        async with session.put(f"{base}/idx/_doc/1", json={"a": 1}) as r:
            assert r.status == 201
        yield manager, session, base
    await manager.stop()


async def fingerprint(manager, session) -> list:
    """What every node holds, as each node itself reports it."""
    seen = []
    for name in manager.config.names:
        base = f"http://127.0.0.1:{manager.ports[name]}"
        async with session.get(f"{base}/_cat/indices?format=json&h=index,docs.count") as r:
            seen.append(sorted(map(json.dumps, await r.json())))
        async with session.get(f"{base}/idx/_doc/1?preference=_only_local") as r:
            body = await r.json()
            seen.append((body["_version"], body["_seq_no"], body["_source"]))
    return seen


# (name, method, path, body, extra headers, status, error type or REST-layer text)
CASES = [
    ("malformed json", "PUT", "/idx/_doc/2", b'{"a": ', {}, 400, "mapper_parsing_exception"),
    ("truncated json", "PUT", "/idx/_doc/2", b'{"a": "b"', {}, 400, "mapper_parsing_exception"),
    ("deeply nested objects", "PUT", "/idx/_doc/2", DEEP, {}, 400, "mapper_parsing_exception"),
    ("deeply nested arrays", "PUT", "/idx/_doc/2", b"[" * 50_000, {}, 400,
     "mapper_parsing_exception"),
    ("duplicate keys", "PUT", "/idx/_doc/2", b'{"a": 1, "a": 2}', {}, 400,
     "mapper_parsing_exception"),
    ("array body", "PUT", "/idx/_doc/2", b"[1, 2]", {}, 400, "mapper_parsing_exception"),
    ("string body", "PUT", "/idx/_doc/2", b'"x"', {}, 400, "mapper_parsing_exception"),
    ("number body", "PUT", "/idx/_doc/2", b"42", {}, 400, "mapper_parsing_exception"),
    ("null body", "PUT", "/idx/_doc/2", b"null", {}, 400, "mapper_parsing_exception"),
    ("invalid utf-8", "PUT", "/idx/_doc/2", b'{"a": "\xff\xfe"}', {}, 400,
     "mapper_parsing_exception"),
    ("raw NUL byte", "PUT", "/idx/_doc/2", b'{"a": "x\x00y"}', {}, 400,
     "mapper_parsing_exception"),
    ("empty body", "PUT", "/idx/_doc/2", b"", JSON, 400, "parse_exception"),
    ("blank body", "PUT", "/idx/_doc/2", b"   \n ", {}, 400, "parse_exception"),
    ("no content type", "PUT", "/idx/_doc/2", b"{}", {"Content-Type": ""}, 406,
     "Content-Type header is missing"),
    ("text content type", "PUT", "/idx/_doc/2", b"{}", {"Content-Type": "text/plain"}, 406,
     "Content-Type header [text/plain] is not supported"),
    ("shards not a number", "PUT", "/new1", b'{"settings": {"number_of_shards": "x"}}', {},
     400, "illegal_argument_exception"),
    ("negative replicas", "PUT", "/new1", b'{"settings": {"number_of_replicas": -1}}', {},
     400, "illegal_argument_exception"),
    ("zero shards", "PUT", "/new1", b'{"settings": {"number_of_shards": 0}}', {}, 400,
     "illegal_argument_exception"),
    ("settings not an object", "PUT", "/new1", b'{"settings": [1]}', {}, 400,
     "settings_exception"),
    ("bad gc_deletes", "PUT", "/new1", b'{"settings": {"index.gc_deletes": "forever"}}', {},
     400, "parse_exception"),
    ("unknown setting", "PUT", "/new1", b'{"settings": {"index.flavour": 1}}', {}, 400,
     "illegal_argument_exception"),
    ("index that exists", "PUT", "/idx", b"", {}, 400, "resource_already_exists_exception"),
    ("update doc not an object", "POST", "/idx/_update/1", b'{"doc": "x"}', {}, 400, None),
    ("update unknown field", "POST", "/idx/_update/1", b'{"dock": {}}', {}, 400, None),
    ("update with a script", "POST", "/idx/_update/1", b'{"script": "ctx._source.a++"}', {},
     400, None),
    ("mget ids not a list", "POST", "/idx/_mget", b'{"ids": "1"}', {}, 400, None),
    ("bulk action not an object", "POST", "/_bulk", b'"index"\n{}\n',
     {"Content-Type": "application/x-ndjson"}, 400, None),
    ("version not a number", "PUT", "/idx/_doc/1?version=abc&version_type=external", b"{}",
     {}, 400, "illegal_argument_exception"),
    ("version overflow", "PUT", "/idx/_doc/1?version=9223372036854775808&version_type=external",
     b"{}", {}, 400, "illegal_argument_exception"),
    ("negative external version", "PUT", "/idx/_doc/1?version=-5&version_type=external",
     b"{}", {}, 400, "action_request_validation_exception"),
    ("empty version", "PUT", "/idx/_doc/1?version=&version_type=external", b"{}", {}, 400,
     "illegal_argument_exception"),
    ("internal version (7.x)", "PUT", "/idx/_doc/1?version=1", b"{}", {}, 400,
     "action_request_validation_exception"),
    ("unknown version type", "PUT", "/idx/_doc/1?version=2&version_type=newest", b"{}", {},
     400, "illegal_argument_exception"),
    ("force version type (7.x)", "PUT", "/idx/_doc/1?version=2&version_type=force", b"{}",
     {}, 400, "action_request_validation_exception"),
    ("if_seq_no not a number", "PUT", "/idx/_doc/1?if_seq_no=x&if_primary_term=1", b"{}",
     {}, 400, "illegal_argument_exception"),
    ("negative if_seq_no", "PUT", "/idx/_doc/1?if_seq_no=-1&if_primary_term=1", b"{}", {},
     400, "illegal_argument_exception"),
    ("negative if_primary_term", "PUT", "/idx/_doc/1?if_seq_no=0&if_primary_term=-1",
     b"{}", {}, 400, "illegal_argument_exception"),
    ("if_seq_no overflow", "PUT", "/idx/_doc/1?if_seq_no=99999999999999999999&"
     "if_primary_term=1", b"{}", {}, 400, "illegal_argument_exception"),
    ("if_seq_no alone", "PUT", "/idx/_doc/1?if_seq_no=0", b"{}", {}, 400,
     "action_request_validation_exception"),
    ("if_primary_term alone", "PUT", "/idx/_doc/1?if_primary_term=1", b"{}", {}, 400,
     "action_request_validation_exception"),
    ("CAS with a version", "PUT", "/idx/_doc/1?if_seq_no=0&if_primary_term=1&version=3&"
     "version_type=external", b"{}", {}, 400, "action_request_validation_exception"),
    ("create with a version", "PUT", "/idx/_create/9?version=3", b"{}", {}, 400,
     "action_request_validation_exception"),
    ("create with CAS", "PUT", "/idx/_create/9?if_seq_no=0&if_primary_term=1", b"{}", {},
     400, "action_request_validation_exception"),
    ("bad op_type", "PUT", "/idx/_doc/1?op_type=replace", b"{}", {}, 400,
     "illegal_argument_exception"),
    ("bad refresh", "PUT", "/idx/_doc/1?refresh=soon", b"{}", {}, 400,
     "illegal_argument_exception"),
    ("bad timeout", "PUT", "/idx/_doc/1?timeout=forever", b"{}", {}, 400, "parse_exception"),
    ("bad wait_for_active_shards", "PUT", "/idx/_doc/1?wait_for_active_shards=most", b"{}",
     {}, 400, "illegal_argument_exception"),
    ("unknown parameter", "PUT", "/idx/_doc/1?flavour=vanilla", b"{}", {}, 400,
     "illegal_argument_exception"),
    ("get version 0 internal", "GET", "/idx/_doc/1?version=0", b"", {}, 400,
     "action_request_validation_exception"),
    ("upper-case index", "PUT", "/IDX/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    ("index starting with _", "PUT", "/_idx/_doc/1", b"{}", {}, 400,
     "invalid_index_name_exception"),
    ("index starting with -", "PUT", "/-idx/_doc/1", b"{}", {}, 400,
     "invalid_index_name_exception"),
    ("index starting with +", "PUT", "/+idx/_doc/1", b"{}", {}, 400,
     "invalid_index_name_exception"),
    ("index with *", "PUT", "/i*x/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    ("index with #", "PUT", "/i%23x/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    ("index with :", "PUT", "/i:x/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    ("index with a space", "PUT", "/i%20x/_doc/1", b"{}", {}, 400,
     "invalid_index_name_exception"),
    ("index with a quote", "PUT", '/i"x/_doc/1', b"{}", {}, 400, "invalid_index_name_exception"),
    ("index of 256 bytes", "PUT", "/" + "i" * 256 + "/_doc/1", b"{}", {}, 400,
     "invalid_index_name_exception"),
    ("id of 513 bytes", "PUT", "/idx/_doc/" + "x" * 513, b"{}", {}, 400,
     "action_request_validation_exception"),
    ("missing index", "GET", "/nope/_doc/1", b"", {}, 404, "index_not_found_exception"),
    ("delete a missing index", "DELETE", "/nope", b"", {}, 404, "index_not_found_exception"),
    ("unknown route", "GET", "/a/b/c/d/e", b"", {}, 400,
     "no handler found for uri [/a/b/c/d/e] and method [GET]"),
    ("wrong method", "PATCH", "/idx/_doc/1", b"", {}, 405, "Incorrect HTTP method for uri"),
    ("typed url in 7 with a second type", "PUT", "/idx/mytype/1", b"{}", {}, 400,
     "illegal_argument_exception"),
    ("url of 100 KB", "GET", "/idx/_doc/1?x=" + "a" * 100_000, b"", {}, 400,
     "too_long_frame_exception"),
    ("huge header", "GET", "/", b"", {"X-Huge": "h" * 100_000}, 400,
     "too_long_frame_exception"),
    ("oversized body", "PUT", "/idx/_doc/2", b'{"a": "' + b"x" * 200_000 + b'"}', {}, 413,
     None),
]


@pytest.mark.parametrize("name,method,path,body,headers,status,expected", CASES,
                         ids=[c[0] for c in CASES])
async def test_bad_request_is_refused_and_nothing_changes(cluster, name, method, path, body,
                                                          headers, status, expected):
    manager, session, base = cluster
    before = await fingerprint(manager, session)
    sent_headers = {**JSON, **headers}
    if sent_headers.get("Content-Type") == "":
        del sent_headers["Content-Type"]
    async with session.request(method, base + path, data=body, headers=sent_headers,
                               skip_auto_headers={"Content-Type"}) as r:
        raw = await r.read()
        assert r.status == status, raw[:300]
    if status != 413:
        answer = json.loads(raw)
        assert answer["status"] == status
        if isinstance(answer["error"], dict):
            assert answer["error"]["type"] and answer["error"]["reason"]
            if expected:
                assert answer["error"]["type"] == expected, answer
        elif expected:
            assert answer["error"].startswith(expected), answer
    assert await fingerprint(manager, session) == before


def internal(manager, path: str) -> str:
    return f"http://127.0.0.1:{manager.ports['n2']}{path}"


@pytest.mark.parametrize("path", [MESSAGE, CHANNEL, "/_internal/nothing-here",
                                  "/_internal/../_internal/message"])
@pytest.mark.parametrize("secret,status", [(None, 401), ("wrong", 403)])
async def test_internal_routes_refuse_without_the_secret(cluster, path, secret, status):
    manager, session, base = cluster
    before = await fingerprint(manager, session)
    headers = {SECRET_HEADER: secret} if secret else {}
    frame = encode(Envelope("x:1", "n1", "n2", "replicate", {"index": "idx", "shard": 0}))
    async with session.post(internal(manager, path), data=frame, headers=headers) as r:
        assert r.status == status
        assert (await r.json())["error"]["type"] == "security_exception"
    assert await fingerprint(manager, session) == before


BAD_FRAMES = [
    ("not msgpack", b"\xc1\xc1\xc1"),
    ("truncated frame", encode(Envelope("x:1", "n1", "n2", "stats", {}))[:-3]),
    ("wrong shape", msgpack.packb({"kind": "replicate"})),
    ("unknown protocol version", msgpack.packb([99, "x:1", "n1", "n2", "stats", 0, None, {}])),
    ("oversized frame", msgpack.packb([1, "x:1", "n1", "n2", "stats", 0, None,
                                       {"pad": "x" * (70 * 1024 * 1024)}])),
]


@pytest.mark.parametrize("name,frame", BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
async def test_bad_frames_on_internal_routes_are_refused(cluster, name, frame):
    manager, session, base = cluster
    before = await fingerprint(manager, session)
    async with session.post(internal(manager, MESSAGE), data=frame,
                            headers={SECRET_HEADER: manager.secret}) as r:
        assert r.status in (400, 413), await r.text()
    assert await fingerprint(manager, session) == before


async def test_wrong_message_kind_is_answered_with_an_error(cluster):
    manager, session, base = cluster
    frame = encode(Envelope("x:1", "n1", "n2", "format_disk", {}))
    async with session.post(internal(manager, MESSAGE), data=frame,
                            headers={SECRET_HEADER: manager.secret}) as r:
        body = msgpack.unpackb(await r.read())
    assert "unknown message kind [format_disk]" in json.dumps(body)


async def test_a_garbage_websocket_frame_closes_only_that_channel(cluster):
    manager, session, base = cluster
    before = await fingerprint(manager, session)
    async with session.ws_connect(internal(manager, CHANNEL),
                                  headers={SECRET_HEADER: manager.secret}) as ws:
        await ws.send_bytes(b"\x93garbage")
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert await fingerprint(manager, session) == before


@pytest.mark.parametrize("expect,status", [("100-continue", b"200"), ("something-else", b"417")])
async def test_an_expect_header_is_answered_before_the_body(cluster, expect, status):
    """curl sends `Expect: 100-continue` with a body over 1 KB and waits for the go-ahead; an
    expectation the server does not know is refused with a 417."""
    manager, session, base = cluster
    reader, writer = await asyncio.open_connection("127.0.0.1", manager.ports["n1"])
    body = b'{"a": 1}'
    writer.write(b"PUT /idx/_doc/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Expect: %s\r\nContent-Length: %d\r\n\r\n" % (expect.encode(), len(body)))
    if expect == "100-continue":
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
    answer = await reader.readuntil(b"\r\n")
    writer.close()
    assert answer.startswith(b"HTTP/1.1 " + status)
