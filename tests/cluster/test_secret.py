"""The cluster's secret on real node processes: never readable from another process's view of
a node (its environment, its command line), and any header offered for it, however odd, is
answered 401/403 in Elasticsearch's shape, never with a crash."""

from __future__ import annotations

import asyncio
import json
import pathlib

import pytest

from occsim.transport.websocket import MESSAGE, SECRET_HEADER


async def test_the_secret_is_not_in_any_node_process_environment(cluster_of):
    if not pathlib.Path("/proc/self/environ").exists():
        pytest.skip("no /proc on this system")
    async with cluster_of(nodes=2, es_compat=7) as (manager, cluster):
        secret = manager.secret.encode()
        for name, proc in manager.procs.items():
            for part in ("environ", "cmdline"):
                assert secret not in pathlib.Path(f"/proc/{proc.pid}/{part}").read_bytes(), \
                    (name, part)
        # and the nodes do know it: they talk to each other and to the manager
        await manager.create_index("i", {"settings": {"number_of_shards": 1,
                                                      "number_of_replicas": 1}})
        written = await cluster.client("w", quiet=True).index("i", "1", {"a": 1})
        assert written.status == 201, written.body
        assert written["_shards"]["successful"] == 2


async def post_raw(port: int, headers: bytes) -> tuple[int, dict]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST " + MESSAGE.encode() + b" HTTP/1.1\r\nHost: n\r\nConnection: close\r\n"
                 + headers + b"Content-Length: 0\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30.0)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


ODD = [b"\xff\xfe", b"\xc3\xa9", b"x" * 33, b"\x80", b"\xe2\x82\xac" * 8, b" "]


async def test_an_odd_secret_header_is_refused_in_shape(cluster_of):
    async with cluster_of(nodes=1) as (manager, cluster):
        port = manager.ports["n1"]
        for offered in ODD:
            status, body = await post_raw(port, SECRET_HEADER.encode() + b": " + offered
                                          + b"\r\n")
            assert status in (401, 403), offered
            assert body["status"] == status
            assert body["error"]["type"] == "security_exception"
        assert (await post_raw(port, b""))[0] == 401
