"""How the manager starts nodes for real: OS processes on loopback (`python -m occsim.cluster.runtime.process`),
reached over persistent websockets, with the manager listening for them over HTTP. A node gets
the cluster's secret on its standard input, which it reads once and closes: an environment
variable or an argument would stay readable in `/proc/<pid>/environ` or `cmdline`.

The simulation has its own launcher with the same methods; the manager cannot tell them
apart, which is what lets every master decision run unchanged in both modes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import asdict

from aiohttp import web

from occsim.cluster.runtime.client import HttpSender
from occsim.cluster.runtime.wiring import Host, Wiring
from occsim.transport.endpoint import MANAGER
from occsim.transport.websocket import WebSocketWire, check_secret


class ProcessLauncher:
    """Spawns node processes and gives the manager its HTTP listener, wire and client sender."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None

    async def open(self, manager: Host) -> Wiring:
        wire = WebSocketWire(manager.endpoint, secret=manager.secret,
                             address_of=manager.address_of)

        async def internal(request: web.Request) -> web.StreamResponse:
            return check_secret(request, manager.secret) or await wire.serve(request)

        app = web.Application()
        app.router.add_route("*", "/_internal/{tail:.*}", internal)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, manager.config.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return Wiring(f"{manager.config.host}:{port}", wire, HttpSender(manager.address_of),
                      {"name": MANAGER, "ip": manager.config.host, "port": port,
                       "pid": os.getpid()})

    async def spawn(self, manager: Host, name: str) -> asyncio.subprocess.Process:
        c = manager.config
        args = [sys.executable, "-m", "occsim.cluster.runtime.process", "--name", name, "--host", c.host,
                "--port", str(manager.ports[name]), "--manager", manager.address,
                "--es-compat", str(c.es_compat), "--seed", str(c.seed),
                "--link", json.dumps(asdict(c.link)),
                "--replication-timeout", str(c.replication_timeout),
                "--max-content-length", str(c.max_content_length),
                "--incarnation", str(manager.incarnations[name])]
        if c.trace:
            args.append("--trace")
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL)
        proc.stdin.write(manager.secret.encode() + b"\n")
        proc.stdin.close()
        return proc

    async def events(self, manager: Host, name: str) -> bytes:
        """What a node's recorder buffered since the last look, packed by the node (the
        manager unpacks it only when someone reads the trace)."""
        return (await manager.ask(name, "events", {}, timeout=5.0))["packed"]

    async def close(self, manager: Host) -> None:
        await manager.sender.close()
        await manager.wire.close()
        if self._runner is not None:
            await self._runner.cleanup()
