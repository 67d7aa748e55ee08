"""How a node process starts and stops: a standalone node (`occsim node`), which is its own
master, or a member of a cluster started by the manager (`occsim up`).

Stops cleanly on SIGINT and SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import os
import random
import signal
import sys
import time

from aiohttp import web

from occsim.cluster.master import LocalMaster, MasterState
from occsim.node.member import REPLICATION_TIMEOUT, Member
from occsim.node.node import Node
from occsim.node.profiles import profile
from occsim.node.server import DEFAULT_MAX_CONTENT_LENGTH, make_server
from occsim.transport.endpoint import MANAGER
from occsim.transport.network import LinkConfig
from occsim.transport.recorder import Recorder
from occsim.transport.websocket import WebSocketWire


PR_SET_PDEATHSIG = 1

LOOPBACK = ("127.0.0.1", "localhost", "::1")


async def serve_standalone(*, host: str, port: int, major: int, name: str,
                           max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH,
                           ready: asyncio.Event | None = None,
                           stop: asyncio.Event | None = None) -> None:
    """Run one node that is its own master until `stop` is set (or SIGINT/SIGTERM)."""
    p = profile(major)
    master = MasterState(p, nodes={name: {"ip": host, "port": port, "pid": os.getpid()}},
                         rng=random.Random(), master=name)
    node = Node(name, p, clock=time.time, timer=asyncio.get_running_loop().time,
                recorder=Recorder(name, time.time, enabled=False), master=LocalMaster(master))
    await node.apply_state(master.state)
    runner = web.ServerRunner(make_server(node, max_content_length=max_content_length))
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    stop = stop or _stop_on_signals()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def serve_member(*, name: str, host: str, port: int, manager: str, secret: str,
                       major: int, seed: int, link: LinkConfig, trace: bool,
                       replication_timeout: float, max_content_length: int,
                       incarnation: int = 1) -> None:
    """Run one node of a manager's cluster until SIGTERM or until the manager is gone."""
    member = Member(name, profile(major), base_clock=time.time,
                    timer=asyncio.get_running_loop().time, seed=seed, link=link,
                    trace=trace, replication_timeout=replication_timeout,
                    incarnation=incarnation, pack_events=True)  # they go to the manager

    def address_of(dst: str) -> str | None:
        if dst == MANAGER:
            return manager
        info = member.node.state["nodes"].get(dst)
        return f"{info['ip']}:{info['port']}" if info else None

    wire = WebSocketWire(member.endpoint, secret=secret, address_of=address_of)
    runner = web.ServerRunner(make_server(member.node, internal=wire.serve, secret=secret,
                                          max_content_length=max_content_length))
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    # Ctrl-C in the terminal reaches the whole process group; it is the manager's to handle:
    # it collects the last events and final copies, then stops its members with SIGTERM
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = _stop_on_signals(signal.SIGTERM)
    watcher = asyncio.get_running_loop().create_task(_watch_parent(stop))
    try:
        await member.join({"ip": host, "port": port, "pid": os.getpid()})
        await stop.wait()
    finally:
        watcher.cancel()
        await wire.close()
        await runner.cleanup()


async def _watch_parent(stop: asyncio.Event) -> None:
    """Stop when the manager that started this process is gone (no orphans, ever)."""
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
        await asyncio.sleep(0.5)


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: _watch_parent still notices


def main(argv: list[str] | None = None) -> int:
    """Entry point of a node process the manager spawns (`python -m cluster.process`)."""
    _die_with_parent()
    gc.freeze()  # the imported code is not garbage: keep collections off it
    gc.set_threshold(50_000, 20, 20)  # a busy node allocates fast; collect less often
    parser = argparse.ArgumentParser(prog="occsim-node")
    parser.add_argument("--name", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--manager", required=True, help="host:port of the manager")
    parser.add_argument("--es-compat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--link", default="{}", help="LinkConfig as JSON")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--replication-timeout", type=float, default=REPLICATION_TIMEOUT)
    parser.add_argument("--max-content-length", type=int, default=DEFAULT_MAX_CONTENT_LENGTH)
    parser.add_argument("--incarnation", type=int, default=1, help="1 + times restarted")
    args = parser.parse_args(argv)
    secret = sys.stdin.readline().strip()  # the manager writes it there, then closes it
    sys.stdin.close()
    if not secret:
        print("occsim node: no cluster secret on standard input", file=sys.stderr)
        return 2
    try:
        run_loop(serve_member(
            name=args.name, host=args.host, port=args.port, manager=args.manager,
            secret=secret, major=args.es_compat, seed=args.seed,
            link=LinkConfig(**json.loads(args.link)), trace=args.trace,
            replication_timeout=args.replication_timeout,
            max_content_length=args.max_content_length, incarnation=args.incarnation))
    except OSError as exc:
        print(f"occsim node {args.name}: {exc}", file=sys.stderr)
        return 1
    return 0


def run_loop(coro):
    """Run `coro` on a new event loop, as a node process runs: uvloop when it is installed (about
    twice as fast), else asyncio. Its result."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _stop_on_signals(*signals: signal.Signals) -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals or (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


if __name__ == "__main__":
    sys.exit(main())
