"""Values at the edge, on real node processes: what the REST layer accepts reaches every
replica, what it refuses never reaches the transport, and a message the transport still cannot
encode fails alone while its link keeps carrying everything else."""

from __future__ import annotations

import asyncio
import gzip
import json

import aiohttp
import pytest

from occsim.transport.message import TransportError

ONE_SHARD_TWO_REPLICAS = {"settings": {"number_of_shards": 1, "number_of_replicas": 2}}


async def raw_get(manager, node: str, path: str) -> bytes:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{manager.ports[node]}{path}") as r:
            assert r.status == 200
            return await r.read()


async def test_a_lone_surrogate_reaches_every_replica_and_the_links_stay_up(cluster_of):
    async with cluster_of(nodes=3, es_compat=7) as (manager, cluster):
        await manager.create_index("p", ONE_SHARD_TWO_REPLICAS)
        client = cluster.client("writer", quiet=True)
        written = await client.index("p", "x", {"a": "\ud800", "k\udfff": ["ok", "\udc00z"]})
        assert written.status == 201
        assert written["_shards"] == {"total": 3, "successful": 3, "failed": 0}
        after = await client.index("p", "y", {"b": 1})
        assert after["_shards"] == {"total": 3, "successful": 3, "failed": 0}
        for node, copy in (await cluster.copies("p", "x")).items():
            assert copy.status == 200, node
            assert copy["_source"] == {"a": "\ud800", "k\udfff": ["ok", "\udc00z"]}, node
        # served back as valid JSON text: the lone surrogates escaped, as they were sent
        raw = await raw_get(manager, "n2", "/p/_doc/x?preference=_only_local")
        assert b'"_source":{"a":"\\ud800","k\\udfff":["ok","\\udc00z"]}' in raw
        raw.decode("utf-8")


async def test_a_restarted_replica_recovers_a_lone_surrogate(cluster_of):
    async with cluster_of(nodes=3, es_compat=7) as (manager, cluster):
        await manager.create_index("p", ONE_SHARD_TWO_REPLICAS)
        client = cluster.client("writer", node="n1", quiet=True)
        for i in range(5):
            await client.index("p", f"d{i}", {"i": i})
        await client.index("p", "x", {"a": "\ud800"})
        replica = cluster.replicas_of("p", "x")[0]
        await cluster.restart(replica)

        def in_sync(state: dict) -> bool:  # in-sync entries name a node, or `node:allocation`
            routing = state["indices"]["p"]["routing"][0]
            return replica in {a.rpartition(":")[0] or a for a in routing["in_sync"]} and \
                replica not in routing.get("initializing", [])

        await cluster.wait_for(lambda s: not in_sync(s),
                               "the restarted replica to leave the in-sync set", timeout=60.0)
        await cluster.wait_for(in_sync, "the restarted replica to recover", timeout=60.0)
        reader = cluster.client("reader", node=replica, quiet=True)
        got = await reader.get("p", "x", preference="_only_local")
        assert got["_source"] == {"a": "\ud800"}
        for i in range(5):
            assert (await reader.get("p", f"d{i}", preference="_only_local")).status == 200


async def test_a_message_that_cannot_be_encoded_fails_alone(cluster_of):
    async with cluster_of(nodes=1) as (manager, cluster):
        # both requests leave in the same batch on the manager's link to n1
        bad = manager.endpoint.send_request("n1", "stats", {"x": 2**70}, timeout=30.0)
        good = manager.endpoint.send_request("n1", "stats", {}, timeout=30.0)
        with pytest.raises(TransportError, match="cannot be encoded"):
            await asyncio.wait_for(bad, 10.0)
        assert "error" not in await asyncio.wait_for(good, 10.0)
        assert "error" not in await manager.ask("n1", "stats", {}, timeout=10.0)


async def raw_http(port: int, request: bytes) -> bytes:
    """Send one request's exact bytes; everything the node sends back before it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30.0)
    writer.close()
    return answer


def put(path: str, body: bytes, *headers: bytes) -> bytes:
    return (b"PUT " + path.encode() + b" HTTP/1.1\r\nHost: n\r\nConnection: close\r\n"
            + b"".join(h + b"\r\n" for h in headers)
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


@pytest.mark.parametrize("es_compat", [7, 8])
async def test_non_ascii_headers_are_read_as_latin_1_and_refused(cluster_of, es_compat):
    async with cluster_of(nodes=1, es_compat=es_compat) as (manager, cluster):
        port = manager.ports["n1"]
        status, body = status_and_body(await raw_http(port, put(
            "/p/_doc/1", b'{"a":1}', b"Content-Type: application/json\xe9")))
        if es_compat == 7:
            assert (status, body) == (406, {"error": "Content-Type header "
                                            "[application/json\u00e9] is not supported",
                                            "status": 406})
        else:
            assert (status, body["error"]["type"]) == (400, "media_type_header_exception")
            assert body["error"]["caused_by"]["reason"] == (
                "invalid media-type [application/json\u00e9]")
        status, body = status_and_body(await raw_http(port, put(
            "/p/_doc/1", b'{"a":1}', b"Content-Type: application/json",
            b"X-Opaque-Id: \xc3\xa9l\xe8ve")))
        assert status == 201


async def test_a_gzip_body_is_read_and_a_plain_one_labelled_gzip_closes_the_connection(
        cluster_of):
    async with cluster_of(nodes=1, es_compat=7) as (manager, cluster):
        port = manager.ports["n1"]
        status, body = status_and_body(await raw_http(port, put(
            "/p/_doc/1", gzip.compress(b'{"a":1}'), b"Content-Type: application/json",
            b"Content-Encoding: gzip")))
        assert (status, body["result"]) == (201, "created")
        assert await raw_http(port, put("/p/_doc/2", b'{"a":2}', b"Content-Encoding: gzip",
                                        b"Content-Type: application/json")) == b""
        got = await cluster.client("reader", quiet=True).get("p", "1")
        assert got["_source"] == {"a": 1}
        assert (await cluster.client("reader", quiet=True).get("p", "2")).status == 404
