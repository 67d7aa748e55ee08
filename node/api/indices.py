"""Index-level APIs: create, delete, check and describe indices, and their aliases.

Index metadata lives in the master's cluster state; these handlers ask the master to change it
and answer from the state it publishes. (Which indices a name reaches is `common`'s.)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from occsim.node.api.common import expand
from occsim.node.api.search import run_query
from occsim.node.errors import IllegalArgument, IndexNotFound
from occsim.node.rest import Params, Request, Response, Route, parse_object

if TYPE_CHECKING:
    from occsim.node.node import Node


# -- handlers ----------------------------------------------------------------------------------
async def create_index(node: Node, request: Request, params: Params, m: dict) -> Response:
    params.accept("wait_for_active_shards", "timeout", "master_timeout", "include_type_name")
    params.check_consumed()
    body = parse_object(request, strict_duplicates=node.profile.duplicate_keys_rejected,
                        required=False)
    await node.apply_state(await node.master.create_index(m["index"], body, None))
    answer = {"acknowledged": True, "shards_acknowledged": True}
    if node.profile.create_index_names_index:
        answer["index"] = m["index"]
    return Response(200, answer)


async def delete_index(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`DELETE /{index}`; `_all` and wildcards delete every match up to 7.x, and are refused
    from 8.0 (`action.destructive_requires_name` defaults to true)."""
    params.accept("timeout", "master_timeout", "ignore_unavailable", "allow_no_indices",
                  "expand_wildcards")
    params.check_consumed()
    names = m["index"]
    wildcard = any(part in ("_all", "*") or "*" in part for part in names.split(","))
    if wildcard and node.profile.destructive_requires_name:
        raise IllegalArgument("Wildcard expressions or all indices are not allowed")
    if not wildcard and "," not in names:
        await node.apply_state(await node.master.delete_index(names))
        return Response(200, {"acknowledged": True})
    for index in expand(node, names):
        if index in node.state["indices"]:
            await node.apply_state(await node.master.delete_index(index))
    return Response(200, {"acknowledged": True})


async def head_index(node: Node, request: Request, params: Params, m: dict) -> Response:
    params.accept("local", "include_defaults", "flat_settings", "ignore_unavailable",
                  "allow_no_indices", "expand_wildcards")
    params.check_consumed()
    try:
        found = bool(expand(node, m["index"]))
    except IndexNotFound:
        found = False
    return Response(200 if found else 404, None)


async def get_index(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`GET /{index}` (indices.get): each index's aliases, mappings and settings. occsim keeps
    no mappings: it infers Elasticsearch's dynamic mapping from the documents the primaries hold."""
    params.accept("local", "include_defaults", "flat_settings", "ignore_unavailable",
                  "allow_no_indices", "expand_wildcards", "master_timeout", "human",
                  "include_type_name")
    params.check_consumed()
    names = expand(node, m["index"])
    hits, _ = await run_query(node, names, {"match_all": {}}, None, live=True)
    body: dict = {}
    for index in names:
        meta = node.state["indices"][index]
        body[index] = {"aliases": {a: {} for a in meta.get("aliases", ())},
                       "mappings": _mappings(node, meta, [h for h in hits
                                                          if h["_index"] == index]),
                       "settings": {"index": _settings(meta, index)}}
    return Response(200, body)


def _mappings(node: Node, meta: dict, hits: list[dict]) -> dict:
    """Dynamic mappings per generation: typed up to 6.x (5.x one per type), typeless from 7."""
    by_type: dict[str, dict] = {}
    for hit in hits:
        doc_type = hit["_type"] if not node.profile.one_type_per_index else (
            meta.get("type") or "_doc")
        _infer(by_type.setdefault(doc_type, {}), hit["_source"])
    if node.profile.typeless_mappings:
        properties = {k: v for props in by_type.values() for k, v in props.items()}
        return {"properties": _sorted(properties)} if properties else {}
    if meta.get("type") and meta["type"] not in by_type:
        by_type[meta["type"]] = {}
    return {t: ({"properties": _sorted(p)} if p else {}) for t, p in by_type.items()}


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?"
                   r"|\d{4}/\d{2}/\d{2}( \d{2}:\d{2}:\d{2})?")


def _infer(properties: dict, source: dict) -> None:
    """Elasticsearch's dynamic mapping: the first value seen decides a field's type."""
    for key, value in source.items():
        if isinstance(value, list):
            value = next((v for v in value if v is not None), None)
        if value is None:
            continue
        if isinstance(value, dict):
            inner = properties.setdefault(key, {"properties": {}})
            if "properties" in inner:
                _infer(inner["properties"], value)
            continue
        if key in properties:
            continue
        if isinstance(value, bool):
            properties[key] = {"type": "boolean"}
        elif isinstance(value, int):
            properties[key] = {"type": "long"}
        elif isinstance(value, float):
            properties[key] = {"type": "float"}
        elif _DATE.fullmatch(value):
            properties[key] = {"type": "date"}
        else:
            properties[key] = {"type": "text", "fields": {
                "keyword": {"type": "keyword", "ignore_above": 256}}}


def _sorted(properties: dict) -> dict:
    return {k: ({"properties": _sorted(v["properties"])} if "properties" in v else v)
            for k, v in sorted(properties.items())}


def _settings(meta: dict, index: str) -> dict:
    """The index settings as Elasticsearch lists them (every value a string)."""
    out: dict = dict(meta.get("explicit", {}))
    out.update(number_of_shards=str(meta["shards"]),
               number_of_replicas=str(meta["replicas"]), uuid=meta["uuid"],
               provided_name=index)
    return out


# -- aliases -----------------------------------------------------------------------------------
async def put_alias(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`PUT /{index}/_alias/{name}` (also `_aliases`, and POST)."""
    params.accept("timeout", "master_timeout")
    params.check_consumed()
    parse_object(request, strict_duplicates=node.profile.duplicate_keys_rejected,
                 required=False)
    for index in expand(node, m["index"]):
        await node.apply_state(await node.master.put_alias(index, m["name"]))
    return Response(200, {"acknowledged": True})


async def get_alias(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`GET /_alias`, `/_alias/{name}`, `/{index}/_alias[/{name}]`; HEAD to check."""
    params.accept("local", "ignore_unavailable", "allow_no_indices", "expand_wildcards")
    params.check_consumed()
    wanted = m.get("name")
    patterns = [re.compile(re.escape(p).replace(r"\*", ".*"))
                for p in (wanted.split(",") if wanted and wanted not in ("_all", "*") else [])]
    body: dict = {}
    for index in expand(node, m.get("index")):
        aliases = [a for a in node.state["indices"][index].get("aliases", ())
                   if not patterns or any(p.fullmatch(a) for p in patterns)]
        if aliases or not patterns:
            body[index] = {"aliases": {a: {} for a in aliases}}
    if patterns and not body:
        missing = wanted
        if request.method == "HEAD":
            return Response(404, None)
        return Response(404, {"error": f"alias [{missing}] missing", "status": 404})
    return Response(200, None if request.method == "HEAD" else body)


ALIAS_ROUTES = [  # before the document routes, which 5.x would match with any type
    Route.of("/_alias", GET=get_alias, HEAD=get_alias),
    Route.of("/_alias/{name}", GET=get_alias, HEAD=get_alias),
    Route.of("/{index}/_alias", GET=get_alias, HEAD=get_alias),
    Route.of("/{index}/_alias/{name}", GET=get_alias, HEAD=get_alias, PUT=put_alias,
             POST=put_alias),
    Route.of("/{index}/_aliases/{name}", PUT=put_alias, POST=put_alias),
]
ROUTES = [
    Route.of("/{index}", PUT=create_index, DELETE=delete_index, HEAD=head_index,
             GET=get_index),
]
