"""Inspection APIs: `_cat/shards`, `_cat/nodes`, `_cat/indices` and `_cluster/health`.

Built from the cluster state plus each copy's document count, gathered from the nodes that hold
them. Cat tables come as aligned text (with `?v` headers and `?h=` columns, as Elasticsearch
prints them) or as JSON with `?format=json`.
"""

from __future__ import annotations

import os

from occsim.node.api import common
from occsim.node.errors import ElasticsearchError, IllegalArgument, IndexNotFound
from occsim.node.node import Node, active_copies
from occsim.node.rest import Params, Request, Response, Route, parse_time

_NUMERIC = {"shard", "docs", "docs.count", "docs.deleted", "pri", "rep", "pid", "port",
            "heap.percent", "ram.percent", "cpu", "load_1m", "load_5m", "load_15m"}


def table(params: Params, rows: list[dict], default: list[str]) -> Response:
    """Render cat rows: `?h=` picks columns, `?v` adds headers, `?format=json` gives JSON."""
    wanted = params.str("h")
    verbose = params.bool("v", False)
    fmt = params.str("format", "txt")
    params.accept("s", "bytes", "local", "master_timeout", "help", "health", "pri",
                  "expand_wildcards", "time", "full_id", "include_unloaded_segments")
    params.check_consumed()
    columns = wanted.split(",") if wanted else default
    known = set(rows[0]) if rows else set(columns)
    for col in columns:
        if col not in known and rows:
            raise IllegalArgument(f"header [{col}] is not a valid header")
    if fmt == "json":
        return Response(200, [{c: _cell(r.get(c)) for c in columns} for r in rows])
    if fmt not in ("txt", "text"):
        raise IllegalArgument(f"Unsupported format [{fmt}]")
    lines = [[_text(r.get(c)) for c in columns] for r in rows]
    if verbose:
        lines.insert(0, columns)
    widths = [max((len(line[i]) for line in lines), default=0) for i in range(len(columns))]
    out = []
    for n, line in enumerate(lines):
        header = verbose and n == 0
        cells = [cell.rjust(w) if col in _NUMERIC and not header else cell.ljust(w)
                 for cell, w, col in zip(line, widths, columns)]
        out.append(" ".join(cells).rstrip())
    return Response(200, "".join(line + "\n" for line in out),
                    {"Content-Type": "text/plain; charset=UTF-8"})


def _cell(value: object) -> object:
    return None if value is None else str(value)


def _text(value: object) -> str:
    return "" if value is None else str(value)


async def cat_shards(node: Node, request: Request, params: Params, m: dict) -> Response:
    counts = await node.copy_counts()
    rows = []
    for index in common.expand(node, m.get("index")):
        for shard, routing in enumerate(node.state["indices"][index]["routing"]):
            for role, holder in [("p", routing["primary"])] + [("r", r) for r in
                                                                routing["replicas"]]:
                info = node.state["nodes"].get(holder, {})
                rows.append({
                    "index": index, "shard": shard, "prirep": role,
                    "state": ("UNASSIGNED" if holder is None else "INITIALIZING"
                              if holder in routing.get("initializing", []) else "STARTED"),
                    "docs": counts.get((holder, index, shard)), "store": None,
                    "ip": info.get("ip") if holder else None, "node": holder,
                    "term": routing["term"] if holder else None,
                })
    return table(params, rows, ["index", "shard", "prirep", "state", "docs", "store", "ip",
                                "node"])


async def cat_nodes(node: Node, request: Request, params: Params, m: dict) -> Response:
    load = os.getloadavg()
    rows = []
    members = [(name, info, "dim") for name, info in node.state["nodes"].items()]
    dedicated = node.state.get("master_node")
    if dedicated:
        members.append((dedicated["name"], dedicated, "m"))
    for name, info, role in members:
        rows.append({
            "ip": info.get("ip"), "heap.percent": _rss_percent(info.get("pid")),
            "ram.percent": _ram_percent(), "cpu": 0, "load_1m": f"{load[0]:.2f}",
            "load_5m": f"{load[1]:.2f}", "load_15m": f"{load[2]:.2f}", "node.role": role,
            "master": "*" if node.state.get("master") == name else "-", "name": name,
            "pid": info.get("pid"), "port": info.get("port"),
            "http_address": f"{info.get('ip')}:{info.get('port')}",
        })
    return table(params, rows, ["ip", "heap.percent", "ram.percent", "cpu", "load_1m",
                                "load_5m", "load_15m", "node.role", "master", "name"])


async def cat_indices(node: Node, request: Request, params: Params, m: dict) -> Response:
    counts = await node.copy_counts()
    health = _health(node)
    rows = []
    for index in common.expand(node, m.get("index")):
        meta = node.state["indices"][index]
        docs = sum(counts.get((r["primary"], index, s)) or 0
                   for s, r in enumerate(meta["routing"]))
        rows.append({"health": health["indices"][index], "status": "open", "index": index,
                     "uuid": meta["uuid"], "pri": meta["shards"], "rep": meta["replicas"],
                     "docs.count": docs, "docs.deleted": 0, "store.size": None,
                     "pri.store.size": None})
    return table(params, rows, ["health", "status", "index", "uuid", "pri", "rep",
                                "docs.count", "docs.deleted", "store.size", "pri.store.size"])


_WORST = {"green": 0, "yellow": 1, "red": 2}  # ClusterHealthStatus values: lower is better


def _worse(a: str, b: str) -> str:
    return a if _WORST[a] >= _WORST[b] else b


def _health(node: Node, names: list[str] | None = None) -> dict:
    """ClusterStateHealth of the selected indices (all when None), from the routing: a copy
    is active (started), initializing (recovering) or unassigned; a shard is green when every
    copy is active, yellow when only its primary is, red when its primary is not."""
    state = node.state["indices"]
    totals = {"active_primary_shards": 0, "active_shards": 0, "initializing_shards": 0,
              "unassigned_shards": 0}
    per_index = {}
    for index in sorted(state) if names is None else names:
        status = "green"
        for routing in state[index]["routing"]:
            copies = [routing["primary"], *routing["replicas"]]
            active = active_copies(routing)
            unassigned = copies.count(None)
            totals["active_shards"] += len(active)
            totals["unassigned_shards"] += unassigned
            totals["initializing_shards"] += len(copies) - len(active) - unassigned
            if routing["primary"] in active:
                totals["active_primary_shards"] += 1
                status = _worse(status, "green" if len(active) == len(copies) else "yellow")
            else:
                status = "red"
        per_index[index] = status
    overall = "green"
    for status in per_index.values():
        overall = _worse(overall, status)
    return {"status": overall, "indices": per_index, **totals}


def _active_percent(node: Node, status: str) -> float:
    """`active_shards_percent_as_number`: 100 when green, else the active share of every
    copy in the cluster (whatever indices were asked), computed as Java does."""
    if status == "green":
        return 100.0
    copies = [(n, routing) for meta in node.state["indices"].values()
              for routing in meta["routing"] for n in (routing["primary"], *routing["replicas"])]
    if not copies:
        return 100.0
    active = sum(1 for n, routing in copies if n in active_copies(routing))
    return active / len(copies) * 100


async def cluster_health(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`_cluster/health`: the health of the cluster (or of the named indices), answered once
    every `wait_for_*` condition holds, or with 408 and `timed_out: true` when `timeout`
    (30s by default) passes first; the wait follows cluster-state changes."""
    params.accept("level", "local", "master_timeout", "wait_for_events")
    wanted = params.str("wait_for_status")
    if wanted is not None and wanted.lower() not in _WORST:
        raise IllegalArgument("No enum constant org.elasticsearch.cluster.health."
                              f"ClusterHealthStatus.{wanted.upper()}")
    no_relocating = params.bool("wait_for_no_relocating_shards", False)  # none ever relocate
    no_initializing = (node.profile.health_waits_for_no_initializing_shards
                       and params.bool("wait_for_no_initializing_shards", False))
    active_shards = _active_shard_count(params.str("wait_for_active_shards"))
    nodes = params.str("wait_for_nodes", "")
    timeout = parse_time("timeout", params.str("timeout", "30s"))
    params.check_consumed()
    expected_nodes = _node_condition(nodes) if nodes else None

    def answer() -> tuple[dict, bool]:
        """The response now, and whether every condition asked for holds."""
        found = True
        try:
            names = common.expand(node, m["index"]) if m.get("index") else None
        except IndexNotFound:  # a named index that does not exist (yet): red, nothing counted
            names, found = [], False
        h = _health(node, names)
        status = h["status"] if found else "red"
        members = len(node.state["nodes"]) + (1 if node.state.get("master_node") else 0)
        met = found and (
            (wanted is None or _WORST[status] <= _WORST[wanted.lower()])
            and (not no_initializing or h["initializing_shards"] == 0)
            and (active_shards is None or (
                h["unassigned_shards"] == 0 and h["initializing_shards"] == 0
                if active_shards == "all" else h["active_shards"] >= active_shards))
            and (expected_nodes is None or expected_nodes(members)))
        return {
            "cluster_name": node.state.get("cluster_name", "occsim"), "status": status,
            "timed_out": not met, "number_of_nodes": members,
            "number_of_data_nodes": len(node.state["nodes"]),
            "active_primary_shards": h["active_primary_shards"],
            "active_shards": h["active_shards"], "relocating_shards": 0,
            "initializing_shards": h["initializing_shards"],
            "unassigned_shards": h["unassigned_shards"], "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": _active_percent(
                node, h["status"] if found else "green"),
        }, met

    waits = (wanted is not None or no_relocating or no_initializing or active_shards is not None
             or expected_nodes is not None or bool(m.get("index")))
    if waits and timeout != 0:
        await node.wait_for_state(lambda: answer()[1], None if timeout < 0 else timeout)
    body, met = answer()
    return Response(200 if met or not waits else 408, {**body, "timed_out": waits and not met})


def _active_shard_count(value: str | None) -> int | str | None:
    """ActiveShardCount.parseString for `wait_for_active_shards` (None: no wait; 0 too)."""
    if value is None or value == "0":
        return None
    if value.lower() == "all":
        return "all"
    try:
        count = int(value)
    except ValueError:
        raise IllegalArgument(f"cannot parse ActiveShardCount[{value}]") from None
    if count < 0:
        raise IllegalArgument("shard count cannot be a negative value")
    return count or None


_NODE_CONDITIONS = [(">=", lambda n, e: n >= e), ("ge(", lambda n, e: n >= e),
                    ("<=", lambda n, e: n <= e), ("le(", lambda n, e: n <= e),
                    (">", lambda n, e: n > e), ("gt(", lambda n, e: n > e),
                    ("<", lambda n, e: n < e), ("lt(", lambda n, e: n < e)]


def _node_condition(text: str):
    """`wait_for_nodes`: `N`, `>=N`, `<=N`, `>N`, `<N` or `ge(N)`, `le(N)`, `gt(N)`, `lt(N)`,
    compared with `number_of_nodes` (TransportClusterHealthAction.prepareResponse)."""
    for prefix, holds in _NODE_CONDITIONS:
        if text.startswith(prefix):
            number = text[len(prefix):-1] if prefix.endswith("(") else text[len(prefix):]
            break
    else:
        number, holds = text, (lambda n, e: n == e)
    try:
        expected = int(number)
    except ValueError:
        raise ElasticsearchError(f'For input string: "{number}"', status=400,
                                 type="number_format_exception") from None
    return lambda n: holds(n, expected)


def _rss_percent(pid: int | None) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as f:
            rss_pages = int(f.read().split()[1])
        return round(100 * rss_pages * os.sysconf("SC_PAGE_SIZE") / _mem_total())
    except (OSError, ValueError, TypeError):
        return None


def _ram_percent() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        total = int(info["MemTotal"].split()[0])
        return round(100 * (total - int(info["MemAvailable"].split()[0])) / total)
    except (OSError, KeyError, ValueError):
        return None


def _mem_total() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


ROUTES = [
    Route.of("/_cat/shards", GET=cat_shards),
    Route.of("/_cat/shards/{index}", GET=cat_shards),
    Route.of("/_cat/nodes", GET=cat_nodes),
    Route.of("/_cat/indices", GET=cat_indices),
    Route.of("/_cat/indices/{index}", GET=cat_indices),
    Route.of("/_cluster/health", GET=cluster_health),
    Route.of("/_cluster/health/{index}", GET=cluster_health),
]
