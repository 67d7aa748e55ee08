"""`occsim bench`: how fast occsim is, measured in one run, next to a naive baseline.

On a real 3-node cluster on loopback with no injected delay it measures acknowledged writes per
second and p50/p99 latency at 1, 16 and 64 concurrent clients (closed loop: each client sends its
next write when the previous one answered, on a keep-alive connection of its own; the clients
share the cores with the nodes they measure, so they are kept light: `load.Connection`, on
uvloop as the nodes are), the replication messages per second behind them,
the cost of tracing, start-up time and memory; then the same 64-client load against the
*raw fan-out*: three plain aiohttp processes where a "primary" forwards every write with one
HTTP POST per replica and answers once both replied (the same libraries, none of occsim's
logic; on asyncio's own event loop, where occsim's nodes run uvloop). Last, the deterministic
simulation's speed on `reordering_at_scale`, in one process and as a sweep on one process per
core, next to one real run of the same story; and how many schedules per second `occsim explore
--jobs 2` runs on `two_writers`, next to the runs per second of a sweep of seed-004 on 2
processes (`explore_schedules_per_s`, `seed_004_sweep_runs_per_s`). And `bulk_2000_s`:
the median wall time of 5 `_bulk` requests of 2,000 new documents each, on a traced cluster
whose links delay every message 1..30 ms (`occsim bench --bulk` measures only that).

The loads that are compared run side by side: occsim untraced to the primary's node and spread
over all nodes, occsim traced and the raw fan-out. It also times a 10-node start, and (with
valgrind, not in --quick) counts the simulation's instructions per run, a figure the machine's
load does not move.

`occsim bench --soak SECONDS` is a different run: 64 clients doing conditional read-modify-write
(`if_seq_no`/`if_primary_term`) on a few documents over a delaying, reordering network, with
tracing on; it fails (exit 1) on any error other than a 409, on a checker violation, on copies
that differ, on an acknowledged write that is missing, or on node memory that keeps growing.

Every process it starts is stopped on the way out, on an exception or Ctrl-C too; every loop is
bounded in time and count; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from occsim.cluster.runtime.process import run_loop
from occsim.cluster.tools.load import Connection

HOST = "127.0.0.1"
INDEX = "bench"
ID_SPACE = 1000  # distinct-ish ids: writes overwrite a bounded set of documents
LEVELS = (1, 16, 64)
PROFILE = 7
MAX_REQUESTS_PER_CLIENT = 2_000_000  # the closed loop's bound in count (time bounds it first)
REQUEST_TIMEOUT = 30.0
MEMORY_DOCS = 20_000
BULK_ITEMS = 2000
BULK_RUNS = 5
BULK_DELAY_MS = (1.0, 30.0)
SIM_SCENARIO = "reordering_at_scale"
EXPLORE_SCENARIO = "two_writers"  # explored every order: schedules per second
SEED_004 = "seed_004_internal_version"  # swept over seeds on 2 processes: runs per second
SIM_MAX_RUNS = 200
SOAK_IDS = 16
SOAK_RSS_EARLY = 10.0  # seconds into the soak of the first memory sample
SOAK_RSS_JUDGED_FROM = 30.0  # shorter soaks report memory but do not judge its flatness
SOAK_RSS_TOLERANCE = 0.20
JSON_HEADERS = {"Content-Type": "application/json"}

# The baseline node: plain aiohttp, no occsim code. Argument 1 is its port, argument 2 the
# comma-separated replica addresses (empty for a replica). A primary stores the write, POSTs it
# (msgpack) to every replica in parallel over one reused session, and answers once all did.
BASELINE_NODE = r"""
import asyncio, ctypes, json, signal, sys
import aiohttp, msgpack
from aiohttp import web

try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # die with the bench
except Exception:
    pass
port = int(sys.argv[1])
replicas = [a for a in sys.argv[2].split(",") if a]
store = {}
MSGPACK = {"Content-Type": "application/msgpack"}

async def ping(request):
    return web.json_response({"ok": True, "replicas": replicas})

async def replicate(request):
    op = msgpack.unpackb(await request.read())
    store[op["id"]] = op["source"]
    return web.Response(body=msgpack.packb({"ok": True}), headers=MSGPACK)

async def write(request):
    raw = await request.read()
    source = msgpack.unpackb(raw) if "msgpack" in request.content_type else json.loads(raw)
    doc_id = request.match_info["tail"]
    store[doc_id] = source
    payload = msgpack.packb({"id": doc_id, "source": source})
    session = request.app["session"]

    async def send(address):
        async with session.post(f"http://{address}/_replicate", data=payload,
                                headers=MSGPACK) as reply:
            await reply.read()
            return reply.status

    statuses = await asyncio.gather(*(send(a) for a in replicas), return_exceptions=True)
    if all(s == 200 for s in statuses):
        return web.json_response({"_id": doc_id, "result": "updated",
                                  "_shards": {"total": 1 + len(replicas),
                                              "successful": 1 + len(replicas), "failed": 0}},
                                 status=201)
    return web.json_response({"error": repr(statuses)}, status=500)

async def session_ctx(app):
    app["session"] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=30))
    yield
    await app["session"].close()

app = web.Application()
app.cleanup_ctx.append(session_ctx)
app.router.add_get("/", ping)
app.router.add_post("/_replicate", replicate)
app.router.add_route("PUT", "/{tail:.*}", write)
app.router.add_route("POST", "/{tail:.*}", write)
web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
"""


# -- the load generator ----------------------------------------------------------------------
Op = Callable[[Connection, random.Random, int, int], Awaitable["int | str"]]


@dataclass
class Level:
    """One closed-loop run: answers counted inside the measured window."""

    name: str
    clients: int
    seconds: float = 0.0
    ok: int = 0
    conflicts: int = 0
    errors: int = 0
    requests: int = 0
    error_kinds: dict = field(default_factory=dict)
    latencies: list = field(default_factory=list)

    @property
    def writes_per_s(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000

    def figures(self) -> dict:
        return {"clients": self.clients, "writes_per_s": round(self.writes_per_s, 1),
                "p50_ms": round(self.percentile_ms(0.50), 3),
                "p99_ms": round(self.percentile_ms(0.99), 3),
                "ok": self.ok, "errors": self.errors, "seconds": round(self.seconds, 3)}


def new_session(limit: int = 128) -> aiohttp.ClientSession:
    """An aiohttp session for the bench's work beside the measured loads (filling an index,
    waiting for the raw fan-out, the soak's last reads): pooled keep-alive connections, at
    least 64 of them. The measured loads run on `load.Connection`s."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(limit, 64)),
                                 timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT))


async def index_one(conn: Connection, rng: random.Random, client: int, n: int) -> int | str:
    """The benchmark's request: index a small JSON document with an id from a bounded space."""
    doc = rng.randrange(ID_SPACE)
    body = json.dumps({"client": client, "n": n, "msg": "hello"}).encode()
    status, _ = await conn.request("PUT", f"/{INDEX}/_doc/{doc}", body)
    return status


async def closed_loop(urls: list[str], clients: int, *,
                      seconds: float, warmup: float, op: Op = index_one, name: str = "",
                      window: Callable[[str], Awaitable[None]] | None = None) -> Level:
    """`clients` tasks, each on a connection of its own (`load.Connection`) sending its next
    request when the previous one answered, client i to `urls[i % len(urls)]`; runs `warmup`
    + `seconds` and counts what completes in the last `seconds` (with the latency of each
    acknowledged one). `window` is awaited with "start" and "end" at the window's edges (for
    counters to read)."""
    clock = time.perf_counter  # uvloop's loop.time() counts whole milliseconds
    begin = clock() + warmup
    end = begin + seconds
    level = Level(name, clients, seconds)

    async def client(i: int) -> None:
        rng = random.Random(i * 7919 + clients)
        conn = connections[i] = Connection.to(urls[i % len(urls)])
        for n in range(MAX_REQUESTS_PER_CLIENT):
            sent = clock()
            if sent >= end:
                return
            try:
                status: int | str = await op(conn, rng, i, n)
            except OSError as exc:  # ConnectionError included
                status = type(exc).__name__
            done = clock()
            if not begin <= done <= end:
                continue
            level.requests += 1
            if isinstance(status, int) and 200 <= status < 300:
                level.ok += 1
                level.latencies.append(done - sent)
            elif status == 409:
                level.conflicts += 1
            else:
                level.errors += 1
                level.error_kinds[str(status)] = level.error_kinds.get(str(status), 0) + 1

    async def edges() -> None:
        await asyncio.sleep(max(0.0, begin - clock()))
        await window("start")
        await asyncio.sleep(max(0.0, end - clock()))
        await window("end")

    connections: dict[int, Connection] = {}
    tasks = [asyncio.ensure_future(client(i)) for i in range(clients)]
    if window is not None:
        tasks.append(asyncio.ensure_future(edges()))
    try:
        await asyncio.wait(tasks, timeout=warmup + seconds + REQUEST_TIMEOUT + 5)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in connections.values():
            conn.close()
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()
    return level


# -- occsim clusters ---------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def occsim_cluster(**config: object):
    """A started 3-node cluster on free loopback ports; every process stopped on the way out.
    The manager's trace (from `stop`) is left in `manager.bench_trace`."""
    from occsim.cluster.config import ClusterConfig
    from occsim.cluster.runtime.manager import Manager
    from occsim.cluster.stories.runner import free_port_block

    values = {"nodes": 3, "host": HOST, "es_compat": PROFILE, **config}
    manager = Manager(ClusterConfig(port=free_port_block(int(values["nodes"])), **values))
    manager.bench_trace = []
    try:
        await manager.start()
        yield manager
    finally:
        if any(p.returncode is None for p in manager.procs.values()):
            manager.bench_trace = await manager.stop()


def node_url(manager, name: str) -> str:
    return f"http://{manager.address_of(name)}"


def primary_of(manager, index: str) -> str:
    return manager.master.state["indices"][index]["routing"][0]["primary"]


def rss_kb(pid: int) -> int:
    """A process's resident set (VmRSS) in KiB; 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def node_rss_kb(manager) -> dict[str, int]:
    return {name: rss_kb(info["pid"]) for name, info in manager.master.state["nodes"].items()}


async def data_plane_messages(manager) -> tuple[int, int]:
    """Data-plane messages transmitted and received so far, summed over the members."""
    stats = await asyncio.gather(*(manager.ask(n, "traffic", {}) for n in manager.members()))
    return sum(s["transmitted"] for s in stats), sum(s["received"] for s in stats)


async def create_bench_index(manager, index: str = INDEX) -> None:
    await manager.create_index(index, {"settings": {"number_of_shards": 1,
                                                    "number_of_replicas": 2}})


async def fill(session: aiohttp.ClientSession, url: str, index: str, count: int, *,
               clients: int = 64, limit_s: float = 600.0) -> int:
    """Index `count` small documents with distinct ids, `clients` at a time; return how many
    were acknowledged."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    ids = iter(range(count))
    stored = 0

    async def client() -> None:
        nonlocal stored
        for n in ids:  # shared: each id is taken once, so the loop ends after `count` in all
            if loop.time() > deadline:
                return
            body = json.dumps({"n": n, "msg": "hello"}).encode()
            async with session.put(f"{url}/{index}/_doc/d{n}", data=body,
                                   headers=JSON_HEADERS) as reply:
                await reply.read()
                stored += 200 <= reply.status < 300

    await asyncio.gather(*(client() for _ in range(clients)))
    return stored


# -- the raw fan-out baseline --------------------------------------------------------------------
@contextlib.asynccontextmanager
async def baseline_cluster(session: aiohttp.ClientSession):
    """Three plain aiohttp processes: the first is the primary, fanning out to the other two.
    Yields the primary's URL; every process is stopped on the way out."""
    from occsim.cluster.stories.runner import free_port_block

    port = free_port_block(3)
    ports = [port, port + 1, port + 2]
    replicas = ",".join(f"{HOST}:{p}" for p in ports[1:])
    procs: list[asyncio.subprocess.Process] = []
    try:
        for p, peers in zip(ports, (replicas, "", "")):
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-c", BASELINE_NODE, str(p), peers,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL))
        for p in ports:
            await _wait_listening(session, f"http://{HOST}:{p}/", procs)
        yield f"http://{HOST}:{ports[0]}"
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _wait_listening(session: aiohttp.ClientSession, url: str,
                          procs: list[asyncio.subprocess.Process], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(int(timeout / 0.02) + 1):
        if any(p.returncode is not None for p in procs):
            raise RuntimeError("a baseline node exited at start (see its error above)")
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as reply:
                if reply.status == 200:
                    return
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
            pass
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.02)
    raise RuntimeError(f"the baseline node at {url} did not start within {timeout:g}s")


# -- the benchmark --------------------------------------------------------------------------------
@dataclass
class Options:
    seconds: float = 5.0
    warmup: float = 0.5
    starts: int = 3
    starts_10: int = 2
    memory_docs: int = MEMORY_DOCS
    sim_seconds: float = 3.0
    quick: bool = False


def merged(name: str, parts: list[Level]) -> Level:
    """Slices of one load, taken as one level."""
    level = Level(name, parts[0].clients if parts else 0)
    for part in parts:
        level.seconds += part.seconds
        level.ok += part.ok
        level.conflicts += part.conflicts
        level.errors += part.errors
        level.requests += part.requests
        level.latencies += part.latencies
        for kind, count in part.error_kinds.items():
            level.error_kinds[kind] = level.error_kinds.get(kind, 0) + count
    return level


async def measure_real(opts: Options, say: Callable[[str], None]) -> dict:
    """Everything measured on real processes. The four 64-client loads that are compared
    (occsim untraced to the primary's node and spread over all nodes, occsim traced, the raw
    fan-out) run on three systems up side by side, in alternating slices of at most a second
    (each load in each place of the order alike), so that a busy machine slows all alike."""
    out: dict = {"levels": {}}
    session = new_session(128)
    try:
        readies = []
        for n in range(opts.starts - 1):
            async with occsim_cluster(trace=False) as manager:
                readies.append(manager.ready_s)
            say(f"start {n + 1}: ready in {readies[-1]:.3f}s")

        readies_10 = []
        for n in range(opts.starts_10):
            async with occsim_cluster(trace=False, nodes=10) as manager:
                readies_10.append(manager.ready_s)
            say(f"10 nodes, start {n + 1}: ready in {readies_10[-1]:.3f}s")
        out["ready_s_10"], out["ready_all_10"] = min(readies_10, default=0.0), readies_10

        async with contextlib.AsyncExitStack() as stack:
            manager = await stack.enter_async_context(occsim_cluster(trace=False))
            readies.append(manager.ready_s)
            say(f"start {len(readies)}: ready in {readies[-1]:.3f}s")
            await asyncio.sleep(0.3)
            out["rss_kb_at_rest"] = node_rss_kb(manager)
            out["ready_s"], out["ready_all"] = min(readies), readies
            await create_bench_index(manager)
            primary = primary_of(manager, INDEX)
            to_primary = [node_url(manager, primary)]
            everywhere = [node_url(manager, n) for n in manager.config.names]
            out["primary"] = primary

            async with asyncio.TaskGroup() as group:  # the other two systems, started at once
                traced_start = group.create_task(
                    stack.enter_async_context(occsim_cluster(trace=True)))
                raw_start = group.create_task(
                    stack.enter_async_context(baseline_cluster(session)))
            traced_manager = traced_start.result()
            await create_bench_index(traced_manager)
            to_traced = [node_url(traced_manager, primary_of(traced_manager, INDEX))]
            to_raw = [raw_start.result()]

            for clients in LEVELS[:-1]:
                level = await closed_loop(to_primary, clients, seconds=opts.seconds,
                                          warmup=opts.warmup, name=f"occsim {clients}")
                out["levels"][str(clients)] = level
                say(f"occsim, {clients} clients to {primary}: {level.writes_per_s:.0f} writes/s")

            moved = {"seconds": 0.0, "tx": 0, "rx": 0}
            marks: dict[str, tuple[float, tuple[int, int]]] = {}

            async def window(edge: str) -> None:
                marks[edge] = (time.perf_counter(), await data_plane_messages(manager))
                if edge == "end":
                    (t0, (tx0, rx0)), (t1, (tx1, rx1)) = marks["start"], marks["end"]
                    moved["seconds"] += t1 - t0
                    moved["tx"] += tx1 - tx0
                    moved["rx"] += rx1 - rx0

            slice_s = min(1.0, opts.seconds)
            rounds = max(1, round(opts.seconds / slice_s))
            if rounds > 1:  # every load takes every place in the order equally often
                rounds = -(-rounds // 4) * 4
            loads = [("64", to_primary, window), ("64_spread", everywhere, None),
                     ("traced_64", to_traced, None), ("raw_fanout_64", to_raw, None)]
            slices: dict[str, list[Level]] = {name: [] for name, _, _ in loads}
            for r in range(rounds):
                for name, urls, edges in loads[r % 4:] + loads[:r % 4]:
                    slices[name].append(await closed_loop(
                        urls, 64, seconds=slice_s,
                        warmup=opts.warmup if r == 0 else min(opts.warmup, 0.2),
                        name=name, window=edges))
            for name, _, _ in loads:
                out["levels"][name] = merged(name, slices[name])
            top = out["levels"]["64"]
            out["replication_msgs_per_s"] = moved["tx"] / max(moved["seconds"], 1e-9)
            out["replication_received_per_s"] = moved["rx"] / max(moved["seconds"], 1e-9)
            out["replication_msgs_per_write"] = moved["tx"] / max(1, top.ok)
            say(f"64 clients, {rounds} alternating slices of {slice_s:g}s: occsim "
                f"{top.writes_per_s:.0f}, over all nodes "
                f"{out['levels']['64_spread'].writes_per_s:.0f}, traced "
                f"{out['levels']['traced_64'].writes_per_s:.0f}, raw fan-out "
                f"{out['levels']['raw_fanout_64'].writes_per_s:.0f} writes/s")

            await manager.quiesce(timeout=30.0)
            pid = manager.master.state["nodes"][primary]["pid"]
            await create_bench_index(manager, "memory")
            before = rss_kb(pid)
            stored = await fill(session, node_url(manager, primary), "memory",
                                opts.memory_docs)
            await manager.quiesce(timeout=30.0)
            await asyncio.sleep(0.2)
            after = rss_kb(pid)
            out["memory_docs"] = stored
            out["bytes_per_doc"] = (after - before) * 1024 / max(1, stored)
            say(f"{stored} docs stored: primary RSS {before / 1024:.1f} → {after / 1024:.1f} MB")
    finally:
        await session.close()
    return out


async def measure_bulk(say: Callable[[str], None], *, runs: int = BULK_RUNS,
                       items: int = BULK_ITEMS) -> dict:
    """`bulk_2000_s`: wall seconds of one `_bulk` of `items` new documents, sent to a node that
    does not hold the primary (1 shard, 2 replicas, tracing on, every link 1..30 ms), median
    of `runs`. A bulk that fails, or one with an item error, makes the figure 0."""
    from occsim.transport.network import LinkConfig

    low, high = BULK_DELAY_MS
    times: list[float] = []
    session = new_session()
    try:
        async with occsim_cluster(trace=True, link=LinkConfig(delay_min_ms=low,
                                                               delay_max_ms=high)) as manager:
            await create_bench_index(manager)
            primary = primary_of(manager, INDEX)
            coordinator = next(n for n in manager.config.names if n != primary)
            url = f"{node_url(manager, coordinator)}/_bulk"
            for run in range(runs):
                body = "".join(
                    f'{{"index":{{"_index":"{INDEX}","_id":"b{run}-{n}"}}}}\n'
                    f'{{"run":{run},"n":{n},"msg":"hello"}}\n' for n in range(items)).encode()
                started = time.perf_counter()
                async with session.post(url, data=body, headers={
                        "Content-Type": "application/x-ndjson"}) as reply:
                    answer = await reply.json()
                took = time.perf_counter() - started
                if reply.status != 200 or answer.get("errors") or len(answer["items"]) != items:
                    say(f"bulk {run + 1}: failed ({reply.status})")
                    return {"bulk_2000_s": 0.0, "bulk_runs_s": [round(t, 4) for t in times]}
                times.append(took)
                say(f"bulk {run + 1} of {items} items to {coordinator} (primary {primary}): "
                    f"{took:.3f}s")
    finally:
        await session.close()
    return {"bulk_2000_s": round(sorted(times)[len(times) // 2], 4),
            "bulk_runs_s": [round(t, 4) for t in times]}


def bulk_line(bulk: dict) -> str:
    runs = ", ".join(f"{t:.3f}" for t in bulk["bulk_runs_s"])
    return (f"{'bulk_2000_s (median of ' + str(BULK_RUNS) + ', delay 1..30ms, traced)':<44}"
            f"{bulk['bulk_2000_s']:>10.3f}   ({runs})")


def silent_report():
    """A runner Report that prints nothing (runner is imported late: it loads everything)."""
    from occsim.cluster.stories import runner

    class Silent(runner.Report):
        def line(self, text: str) -> None:
            pass

        def step(self, *args: object) -> None:
            pass

    return Silent()


# One process that imports the simulation and runs the scenario `argv[1]` times (0: imports only).
SIM_RUNS = r"""
import sys
from occsim.cluster.stories import sweep
for seed in range(1, int(sys.argv[1]) + 1):
    sweep.simulate(sys.argv[2], seed)
"""


def instructions(runs: int) -> int | None:
    """Instructions (callgrind's Ir) of a process that runs `SIM_SCENARIO` `runs` times."""
    import re
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out",
             sys.executable, "-c", SIM_RUNS, str(runs), SIM_SCENARIO],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    found = re.search(r"Collected : (\d+)", done.stderr)
    return int(found.group(1)) if done.returncode == 0 and found else None


def sim_instructions(say: Callable[[str], None]) -> int | None:
    """Instructions of one simulated run of `SIM_SCENARIO` (seeds 2 and 3, after a first one), load-
    independent: callgrind of three runs less callgrind of one; None without valgrind."""
    import shutil

    if shutil.which("valgrind") is None:
        return None
    one, three = instructions(1), instructions(3)
    if one is None or three is None:
        say("simulation: callgrind failed")
        return None
    say(f"simulation: {(three - one) / 2e6:.0f}M instructions per run (callgrind)")
    return (three - one) // 2


def measure_sim(opts: Options, say: Callable[[str], None]) -> dict:
    """The simulation's speed on `SIM_SCENARIO`: sweeps over seeds on one process and on one
    process per core (messages carried and runs per wall second), and one real run of the same
    scenario and seed for comparison."""
    from occsim.cluster.stories import explore, runner, sweep

    t = time.perf_counter()
    first = sweep.simulate(SIM_SCENARIO, 0)
    first_wall = time.perf_counter() - t
    runs = max(2, min(SIM_MAX_RUNS, int(opts.sim_seconds / first_wall)))
    one = sweep.sweep(SIM_SCENARIO, range(1, runs + 1), jobs=1)
    say(f"simulation: {one.runs} runs of {SIM_SCENARIO} in {one.seconds:.2f}s "
        f"({len(one.failures)} failed)")
    jobs = os.cpu_count() or 1
    every = sweep.sweep(SIM_SCENARIO, range(1, runs * jobs + 1), jobs=jobs)
    say(f"simulation on {jobs} processes: {every.runs} runs in {every.seconds:.2f}s "
        f"({len(every.failures)} failed)")

    explored = explore.explore(EXPLORE_SCENARIO, jobs=2)
    explore_rate = (explored.orders + explored.cut) / explored.seconds
    seed_004 = sweep.sweep(SEED_004, range(1, 401), jobs=2)
    say(f"explore {EXPLORE_SCENARIO} on 2 processes: {explored.orders + explored.cut} schedules "
        f"in {explored.seconds:.2f}s; sweep of {SEED_004} on 2 processes: "
        f"{seed_004.runs / seed_004.seconds:.0f} runs/s")

    t = time.perf_counter()
    real = asyncio.run(runner.run_scenario(SIM_SCENARIO, seed=0, report=silent_report()))
    real_wall = time.perf_counter() - t
    say(f"real processes: one run in {real_wall:.2f}s "
        f"({'passed' if real.passed else 'FAILED: ' + str(real.failure)})")
    sim_wall = one.seconds / one.runs
    return {"sim_msgs_per_s": one.messages / one.seconds,
            "sim_msgs_per_run": one.messages / one.runs,
            "sim_runs_per_s": one.runs / one.seconds,
            "sweep_jobs": jobs, "sweep_msgs_per_s": every.messages / every.seconds,
            "sweep_runs_per_s": every.runs / every.seconds,
            "sim_failed": len(one.failures) + len(every.failures) + (not first.passed),
            "sim_wall_s": sim_wall, "sim_first_wall_s": first_wall, "real_wall_s": real_wall,
            "real_passed": real.passed, "real_failure": real.failure,
            "sim_speedup": real_wall / sim_wall, "explore_schedules_per_s": explore_rate,
            "seed_004_sweep_runs_per_s": seed_004.runs / seed_004.seconds}


def summarize(real: dict, sim: dict, bulk: dict, opts: Options) -> dict:
    levels = real["levels"]
    top, spread, raw = levels["64"], levels["64_spread"], levels["raw_fanout_64"]
    traced = levels["traced_64"]
    rest = real["rss_kb_at_rest"]
    result = {
        "writes_per_s": round(top.writes_per_s, 1),
        "writes_per_s_spread": round(spread.writes_per_s, 1),
        "raw_fanout_writes_per_s": round(raw.writes_per_s, 1),
        "ratio_vs_raw_fanout": round(top.writes_per_s / raw.writes_per_s, 4)
        if raw.writes_per_s else 0.0,
        "p50_ms": round(top.percentile_ms(0.5), 3),
        "p99_ms": round(top.percentile_ms(0.99), 3),
        "levels": {name: level.figures() for name, level in levels.items()},
        "replication_msgs_per_s": round(real["replication_msgs_per_s"], 1),
        "replication_msgs_per_write": round(real["replication_msgs_per_write"], 3),
        "ready_s": round(real["ready_s"], 4),
        "ready_s_all": [round(r, 4) for r in real["ready_all"]],
        "ready_s_10": round(real["ready_s_10"], 4),
        "ready_s_10_all": [round(r, 4) for r in real["ready_all_10"]],
        "spread_ratio": round(spread.writes_per_s / top.writes_per_s, 4)
        if top.writes_per_s else 0.0,
        "traced_writes_per_s": round(traced.writes_per_s, 1),
        "traced_p99_ms": round(traced.percentile_ms(0.99), 3),
        "trace_overhead": round(max(0.0, 1 - traced.writes_per_s / top.writes_per_s), 4)
        if top.writes_per_s else 0.0,
        "rss_mb_per_node": round(sum(rest.values()) / len(rest) / 1024, 2) if rest else 0.0,
        "rss_mb_at_rest": {n: round(kb / 1024, 2) for n, kb in rest.items()},
        "bytes_per_doc": round(real["bytes_per_doc"], 1),
        "memory_docs": real["memory_docs"],
        "sim_msgs_per_s": round(sim["sim_msgs_per_s"], 1),
        **({"sim_instructions": sim["sim_instructions"]} if sim.get("sim_instructions") else {}),
        "sim_msgs_per_run": round(sim["sim_msgs_per_run"], 1),
        "sim_runs_per_s": round(sim["sim_runs_per_s"], 3),
        "sweep_jobs": sim["sweep_jobs"],
        "sweep_msgs_per_s": round(sim["sweep_msgs_per_s"], 1),
        "sweep_runs_per_s": round(sim["sweep_runs_per_s"], 3),
        "sim_speedup": round(sim["sim_speedup"], 2),
        "explore_schedules_per_s": round(sim["explore_schedules_per_s"], 1),
        "seed_004_sweep_runs_per_s": round(sim["seed_004_sweep_runs_per_s"], 1),
        "sim_wall_s": round(sim["sim_wall_s"], 4),
        "real_wall_s": round(sim["real_wall_s"], 4),
        "sim_failed_runs": sim["sim_failed"],
        "real_run_passed": sim["real_passed"],
        "real_run_failure": sim["real_failure"],
        **bulk,
        "seconds_per_level": opts.seconds,
        "profile": PROFILE,
    }
    for clients in LEVELS:
        figures = result["levels"][str(clients)]
        for key in ("writes_per_s", "p50_ms", "p99_ms"):
            result[f"{key}_{clients}"] = figures[key]
    return result


def table(result: dict, real: dict, bulk: dict) -> str:
    levels = result["levels"]
    primary = real["primary"]
    rows = [
        ("occsim → primary's node", "1"), ("occsim → primary's node", "16"),
        ("occsim → primary's node", "64"), ("occsim → all 3 nodes", "64_spread"),
        ("occsim traced → primary's node", "traced_64"),
        ("raw fan-out (aiohttp, HTTP/msg)", "raw_fanout_64"),
    ]
    lines = [f"occsim bench: 3 nodes on {HOST}, index of 1 shard + 2 replicas, profile "
             f"{result['profile']}, no injected delay, {result['seconds_per_level']:g}s per "
             f"level (primary: {primary}); the four 64-client loads run side by side in "
             "alternating slices of <= 1s", "",
             f"{'load':<34}{'clients':>8}{'writes/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
             f"{'errors':>8}"]
    for label, key in rows:
        f = levels[key]
        lines.append(f"{label:<34}{f['clients']:>8}{f['writes_per_s']:>11.0f}"
                     f"{f['p50_ms']:>9.2f}{f['p99_ms']:>9.2f}{f['errors']:>8}")
    lines += [
        "",
        f"{'occsim / raw fan-out (64 clients)':<44}{result['ratio_vs_raw_fanout']:>10.2f}",
        f"{'all 3 nodes / primary node (64 clients)':<44}{result['spread_ratio']:>10.2f}",
        f"{'traced p99 ms / untraced p99 ms':<44}{result['traced_p99_ms']:>10.2f}"
        f"   / {result['p99_ms']:.2f}",
        f"{'replication messages/s (64 clients)':<44}{result['replication_msgs_per_s']:>10.0f}"
        f"   ({result['replication_msgs_per_write']:.2f} per write)",
        f"{'ready_s (best of ' + str(len(result['ready_s_all'])) + ' starts)':<44}"
        f"{result['ready_s']:>10.3f}",
        f"{'ready_s_10 (10 nodes, best of ' + str(len(result['ready_s_10_all'])) + ')':<44}"
        f"{result['ready_s_10']:>10.3f}",
        f"{'trace overhead (64 clients)':<44}{result['trace_overhead'] * 100:>9.1f}%",
        f"{'RSS per node at rest (MB)':<44}{result['rss_mb_per_node']:>10.1f}",
        f"{'memory per stored doc (bytes, primary)':<44}{result['bytes_per_doc']:>10.0f}"
        f"   ({result['memory_docs']} docs)",
        f"{'sim messages/s (' + SIM_SCENARIO + ')':<44}{result['sim_msgs_per_s']:>10.0f}"
        f"   ({result['sim_msgs_per_run']:.0f} per run)",
        f"{'sim runs/s':<44}{result['sim_runs_per_s']:>10.2f}",
        f"{'sim instructions per run (callgrind)':<44}"
        + (f"{result['sim_instructions'] / 1e6:>9.0f}M" if "sim_instructions" in result
           else f"{'-':>10}   (valgrind not installed, or --quick)"),
        f"{'sweep messages/s (' + str(result['sweep_jobs']) + ' processes)':<44}"
        f"{result['sweep_msgs_per_s']:>10.0f}",
        f"{'sweep runs/s (' + str(result['sweep_jobs']) + ' processes)':<44}"
        f"{result['sweep_runs_per_s']:>10.2f}",
        f"{'explore schedules/s (' + EXPLORE_SCENARIO + ', 2 processes)':<44}"
        f"{result['explore_schedules_per_s']:>10.1f}",
        f"{'seed-004 sweep runs/s (2 processes)':<44}"
        f"{result['seed_004_sweep_runs_per_s']:>10.1f}",
        f"{'sim speedup (real vs sim wall time)':<44}{result['sim_speedup']:>10.1f}"
        f"   ({result['real_wall_s']:.2f}s vs {result['sim_wall_s']:.3f}s)",
        bulk_line(bulk),
    ]
    if result["sim_failed_runs"] or not result["real_run_passed"]:
        lines.append(f"note: {SIM_SCENARIO} failed in {result['sim_failed_runs']} simulated "
                     f"run(s); the real run {'passed' if result['real_run_passed'] else 'FAILED: '}"
                     f"{result['real_run_failure'] or ''}")
    return "\n".join(lines)


# -- the soak -------------------------------------------------------------------------------------
async def soak(seconds: float, say: Callable[[str], None]) -> dict:
    """64 clients of read-modify-write on `SOAK_IDS` documents over a delaying, reordering
    network, for `seconds`; then every check. Returns the figures and the verdict."""
    from occsim.cluster.trace import checker
    from occsim.transport.network import LinkConfig

    link = LinkConfig(delay_min_ms=1, delay_max_ms=20, reorder=0.2)
    ids = [f"k{n}" for n in range(SOAK_IDS)]
    acked = {doc: 0 for doc in ids}
    session = new_session(128)
    out: dict = {"seconds": seconds, "clients": 64, "ids": len(ids)}
    failures: list[str] = []
    tally = {"acked": 0, "conflicts": 0, "errors": 0, "kinds": {}}

    async def rmw(conn: Connection, rng: random.Random, client: int, n: int) -> int | str:
        """One read-modify-write; every outcome is tallied here, in the window or not."""
        try:
            status = await _rmw(conn, rng, client)
        except (OSError, ValueError, KeyError) as exc:
            status = type(exc).__name__
        if isinstance(status, int) and 200 <= status < 300:
            tally["acked"] += 1
        elif status == 409:
            tally["conflicts"] += 1
        else:
            tally["errors"] += 1
            tally["kinds"][str(status)] = tally["kinds"].get(str(status), 0) + 1
        return status

    async def _rmw(conn: Connection, rng: random.Random, client: int) -> int | str:
        doc = rng.choice(ids)
        status, data = await conn.request("GET", f"/soak/_doc/{doc}")
        if status == 200:
            current = json.loads(data)
            query = (f"if_seq_no={current['_seq_no']}"
                     f"&if_primary_term={current['_primary_term']}")
            body = {"n": current["_source"]["n"] + 1, "by": client}
        elif status == 404:
            query, body = "op_type=create", {"n": 1, "by": client}
        else:
            return f"GET {status}"
        status, _ = await conn.request("PUT", f"/soak/_doc/{doc}?{query}",
                                       json.dumps(body).encode())
        if 200 <= status < 300:
            acked[doc] += 1
        return status

    try:
        async with occsim_cluster(trace=True, link=link, seed=9) as manager:
            await create_bench_index(manager, "soak")
            urls = [node_url(manager, n) for n in manager.config.names]
            early_at = min(SOAK_RSS_EARLY, seconds / 2)
            samples: dict[str, dict[str, int]] = {}

            async def sample_early() -> None:
                await asyncio.sleep(early_at)
                samples["early"] = node_rss_kb(manager)
                samples["early_manager"] = {"manager": rss_kb(os.getpid())}

            sampler = asyncio.ensure_future(sample_early())
            try:
                level = await closed_loop(urls, 64, seconds=seconds, warmup=0.0,
                                          op=rmw, name="soak")
            finally:
                sampler.cancel()
            samples["end"] = node_rss_kb(manager)
            samples["end_manager"] = {"manager": rss_kb(os.getpid())}
            await manager.quiesce(timeout=60.0)
            say(f"soak: {tally['acked']} acknowledged writes, {tally['conflicts']} conflicts "
                f"(409), {tally['errors']} other errors in {seconds:g}s")

            differ = []
            missing = []
            for doc in ids:
                holders = [primary_of(manager, "soak"),
                           *[r for r in manager.master.state["indices"]["soak"]["routing"][0][
                               "replicas"] if r]]
                copies = {}
                for node in holders:
                    async with session.get(f"{node_url(manager, node)}/soak/_doc/{doc}",
                                           params={"preference": "_only_local"}) as reply:
                        body = await reply.json(content_type=None)
                        copies[node] = (reply.status, body.get("_version"), body.get("_seq_no"),
                                        body.get("_primary_term"), body.get("_source"))
                if len(set(json.dumps(c, sort_keys=True) for c in copies.values())) != 1:
                    differ.append(f"{doc}: {copies}")
                status, _, _, _, source = copies[holders[0]]
                held = source["n"] if status == 200 and source else 0
                if held != acked[doc]:
                    missing.append(f"{doc}: {acked[doc]} acknowledged writes, counter at {held}")
            out["copies_checked"] = sum(1 for _ in ids) * len(holders)
            routing = manager.master.state["indices"]["soak"]["routing"][0]
            if len(manager.members()) != 3 or len([r for r in routing["replicas"] if r]) != 2:
                failures.append(f"the cluster lost a node or a copy without any fault: "
                                f"members {manager.members()}, routing {routing}")
    finally:
        await session.close()
    events = manager.bench_trace
    violations = checker.check(events, profile=PROFILE)

    early, end = samples.get("early", {}), samples.get("end", {})
    growth = {n: (end[n] - early[n]) / early[n] for n in end if early.get(n)}
    flat = all(abs(g) <= SOAK_RSS_TOLERANCE for g in growth.values())
    judged = seconds >= SOAK_RSS_JUDGED_FROM
    out.update({
        "acked_writes": tally["acked"], "conflicts": tally["conflicts"],
        "errors": tally["errors"], "error_kinds": tally["kinds"],
        "writes_per_s": round(level.writes_per_s, 1),
        "trace_events": len(events), "violations": len(violations),
        "copies_differ": len(differ), "acked_missing": len(missing),
        "rss_mb_early": {n: round(kb / 1024, 1) for n, kb in early.items()},
        "rss_mb_end": {n: round(kb / 1024, 1) for n, kb in end.items()},
        "rss_early_at_s": early_at, "rss_growth": {n: round(g, 4) for n, g in growth.items()},
        "rss_flat": flat, "rss_judged": judged,
        "manager_rss_mb": [round(samples.get(k, {}).get("manager", 0) / 1024, 1)
                           for k in ("early_manager", "end_manager")],
    })
    if tally["errors"]:
        failures.append(f"{tally['errors']} errors other than 409: {tally['kinds']}")
    if tally["acked"] == 0:
        failures.append("no write was acknowledged")
    if violations:
        failures.append(f"checker: {violations[0].invariant}: {violations[0].message}")
    failures += [f"copies differ: {d}" for d in differ[:3]]
    failures += [f"acknowledged write missing: {m}" for m in missing[:3]]
    if judged and not flat:
        failures.append(f"node memory grew more than {SOAK_RSS_TOLERANCE:.0%}: {growth}")
    out["passed"] = not failures
    out["failures"] = failures
    return out


def soak_report(out: dict) -> str:
    lines = [f"occsim bench --soak {out['seconds']:g}: 64 clients, read-modify-write with "
             f"if_seq_no/if_primary_term on {out['ids']} docs, delay 1..20ms, reorder 0.2, "
             f"profile {PROFILE}, traced", "",
             f"{'acknowledged writes':<40}{out['acked_writes']:>10}"
             f"   ({out['writes_per_s']:.0f}/s)",
             f"{'conflicts (409)':<40}{out['conflicts']:>10}",
             f"{'errors other than 409':<40}{out['errors']:>10}",
             f"{'checker violations':<40}{out['violations']:>10}"
             f"   ({out['trace_events']} events)",
             f"{'copies that differ':<40}{out['copies_differ']:>10}",
             f"{'acknowledged writes missing':<40}{out['acked_missing']:>10}",
             f"{'RSS MB at ' + format(out['rss_early_at_s'], 'g') + 's':<40}"
             + "  ".join(f"{n} {mb:.1f}" for n, mb in out["rss_mb_early"].items()),
             f"{'RSS MB at the end':<40}"
             + "  ".join(f"{n} {mb:.1f}" for n, mb in out["rss_mb_end"].items()),
             f"{'manager (this process, holds the trace)':<40}"
             f"{out['manager_rss_mb'][0]:.1f} → {out['manager_rss_mb'][1]:.1f} MB (not judged)",
             f"{'memory flat (within 20%)':<40}{'yes' if out['rss_flat'] else 'NO':>10}"
             + ("" if out["rss_judged"] else
                f"   (not judged: soak shorter than {SOAK_RSS_JUDGED_FROM:g}s)"),
             ""]
    lines += [f"FAIL: {f}" for f in out["failures"]] or ["PASS"]
    return "\n".join(lines)


# -- the command ----------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON object on the last line")
    parser.add_argument("--quick", action="store_true", help="1 s per level instead of 5 s")
    parser.add_argument("--soak", type=float, metavar="SECONDS",
                        help="instead: a soak test of SECONDS with faults in the network")
    parser.add_argument("--bulk", action="store_true",
                        help="instead: only bulk_2000_s (5 bulks of 2,000 items, 1..30 ms)")
    parser.add_argument("--duration", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--starts", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-docs", type=int, help=argparse.SUPPRESS)


def options(args: argparse.Namespace) -> Options:
    opts = Options()
    if args.quick:
        opts = Options(seconds=1.0, warmup=0.2, starts=3, starts_10=1, memory_docs=5000,
                       sim_seconds=1.0, quick=True)
    if args.duration is not None:
        opts.seconds = max(0.1, args.duration)
        opts.sim_seconds = min(opts.sim_seconds, max(0.5, args.duration))
    if args.warmup is not None:
        opts.warmup = max(0.0, args.warmup)
    if args.starts is not None:
        opts.starts = max(1, args.starts)
    if args.memory_docs is not None:
        opts.memory_docs = max(1, args.memory_docs)
    return opts


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    if not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser(prog="occsim bench", description=__doc__)
        add_arguments(parser)
        args = parser.parse_args(args)

    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"  {time.perf_counter() - started:6.1f}s  {text}",
              file=sys.stderr if args.json else sys.stdout, flush=True)

    try:
        if args.soak is not None:
            if args.soak <= 0:
                print("occsim bench: --soak needs a positive number of seconds",
                      file=sys.stderr)
                return 2
            out = run_loop(soak(args.soak, say))
            print(soak_report(out), flush=True)
            if args.json:
                print(json.dumps(out), flush=True)
            return 0 if out["passed"] else 1
        if args.bulk:
            bulk = run_loop(measure_bulk(say))
            print(bulk_line(bulk), flush=True)
            if args.json:
                print(json.dumps(bulk), flush=True)
            return 0 if bulk["bulk_2000_s"] > 0 else 1
        opts = options(args)
        sim = measure_sim(opts, say)
        sim["sim_instructions"] = None if opts.quick else sim_instructions(say)
        real = run_loop(measure_real(opts, say))
        bulk = run_loop(measure_bulk(say))
    except KeyboardInterrupt:
        print("occsim bench: interrupted", file=sys.stderr)
        return 130
    result = summarize(real, sim, bulk, opts)
    print(table(result, real, bulk), flush=True)
    if args.json:
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
