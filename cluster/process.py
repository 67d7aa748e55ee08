"""How a node process starts and stops: a standalone node (`occsim node`), which is its own
master, or a member of a cluster started by the manager (`occsim up`).

Stops cleanly on SIGINT and SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time

from aiohttp import web

from cluster.master import LocalMaster, MasterState
from node.node import Node
from node.profiles import profile
from node.server import make_app
from transport.recorder import Recorder

LOOPBACK = ("127.0.0.1", "localhost", "::1")


async def serve_standalone(*, host: str, port: int, major: int, name: str,
                           ready: asyncio.Event | None = None,
                           stop: asyncio.Event | None = None) -> None:
    """Run one node that is its own master until `stop` is set (or SIGINT/SIGTERM)."""
    p = profile(major)
    master = MasterState(p, nodes={name: {"ip": host, "port": port, "pid": os.getpid()}},
                         rng=random.Random())
    node = Node(name, p, clock=time.time, recorder=Recorder(name, time.time, enabled=False),
                master=LocalMaster(master))
    await node.apply_state(master.state)
    runner = web.AppRunner(make_app(node), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    stop = stop or _stop_on_signals()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
