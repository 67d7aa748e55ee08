"""Inspection APIs: `_cat/shards`, `_cat/nodes`, `_cat/indices` and `_cluster/health`.

Built from the cluster state plus each copy's document count, gathered from the nodes that hold
them. Cat tables come as aligned text (with `?v` headers and `?h=` columns, as Elasticsearch
prints them) or as JSON with `?format=json`.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from node.errors import IllegalArgument
from node.rest import Params, Request, Response, Route

if TYPE_CHECKING:
    from node.node import Node

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


def _selected(node: Node, index: str | None) -> list[str]:
    indices = node.state["indices"]
    if index is None or index in ("_all", "*"):
        return sorted(indices)
    names = []
    for part in index.split(","):
        pattern = re.compile(re.escape(part).replace(r"\*", ".*"))
        found = [n for n in sorted(indices) if pattern.fullmatch(n)]
        if not found and "*" not in part:
            node.index_meta(part)  # raises index_not_found_exception
        names.extend(n for n in found if n not in names)
    return names


async def cat_shards(node: Node, request: Request, params: Params, m: dict) -> Response:
    counts = await node.copy_counts()
    rows = []
    for index in _selected(node, m.get("index")):
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
    for index in _selected(node, m.get("index")):
        meta = node.state["indices"][index]
        docs = sum(counts.get((r["primary"], index, s)) or 0
                   for s, r in enumerate(meta["routing"]))
        rows.append({"health": health["indices"][index], "status": "open", "index": index,
                     "uuid": meta["uuid"], "pri": meta["shards"], "rep": meta["replicas"],
                     "docs.count": docs, "docs.deleted": 0, "store.size": None,
                     "pri.store.size": None})
    return table(params, rows, ["health", "status", "index", "uuid", "pri", "rep",
                                "docs.count", "docs.deleted", "store.size", "pri.store.size"])


def _health(node: Node) -> dict:
    totals = {"active_primary_shards": 0, "active_shards": 0, "unassigned_shards": 0}
    per_index = {}
    for index, meta in node.state["indices"].items():
        status = "green"
        for routing in meta["routing"]:
            if routing["primary"] is None:
                status = "red"
                totals["unassigned_shards"] += 1
            else:
                totals["active_primary_shards"] += 1
                totals["active_shards"] += 1
            for replica in routing["replicas"]:
                if replica is None:
                    totals["unassigned_shards"] += 1
                    status = "red" if status == "red" else "yellow"
                else:
                    totals["active_shards"] += 1
        per_index[index] = status
    statuses = set(per_index.values())
    overall = "red" if "red" in statuses else "yellow" if "yellow" in statuses else "green"
    return {"status": overall, "indices": per_index, **totals}


async def cluster_health(node: Node, request: Request, params: Params, m: dict) -> Response:
    params.accept("wait_for_status", "timeout", "level", "local", "master_timeout",
                  "wait_for_nodes", "wait_for_active_shards", "wait_for_no_relocating_shards",
                  "wait_for_no_initializing_shards", "wait_for_events")
    params.check_consumed()
    if m.get("index"):
        _selected(node, m["index"])
    h = _health(node)
    total = h["active_shards"] + h["unassigned_shards"]
    dedicated_master = 1 if node.state.get("master_node") else 0
    return Response(200, {
        "cluster_name": node.state.get("cluster_name", "occsim"), "status": h["status"],
        "timed_out": False, "number_of_nodes": len(node.state["nodes"]) + dedicated_master,
        "number_of_data_nodes": len(node.state["nodes"]),
        "active_primary_shards": h["active_primary_shards"],
        "active_shards": h["active_shards"], "relocating_shards": 0, "initializing_shards": 0,
        "unassigned_shards": h["unassigned_shards"], "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0 * h["active_shards"] / total if total else 100.0,
    })


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
