"""Multi-document APIs: `_bulk` and `_mget`.

`_bulk` parses its NDJSON body as Elasticsearch's BulkRequestParser of each generation does
(action names, metadata names, error messages with line numbers), validates every item the way
the single-document request would be validated (one invalid item fails the whole request with
400, as BulkRequest.validate does), then runs the items as Elasticsearch's TransportBulkAction
does: grouped by shard, one request per shard to its primary (`Node.write_bulk`), which checks
and applies them in order and replicates them in one message per replica; an update item runs
on its own through `run_update`, between the items around it. An item that fails — a version
conflict, a missing document, an unparsable source — is reported inside its item with its
`status` and the same error object the single-document API answers (without `root_cause`, as
bulk items print it), and the response says `errors: true`.

`_mget` answers each entry like a GET (found or not), or with an `error` (a missing index).
"""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass

from occsim.node.api import common
from occsim.node.engine import DELETE, INDEX
from occsim.node.errors import ElasticsearchError, IllegalArgument, ParseError, ValidationError
from occsim.node.node import DocWrite, Node, ShardBulk
from occsim.node.rest import Params, Request, Response, Route, parse_json, parse_object, parse_source
from occsim.node.search import SourceFilter
from occsim.node.api.update import (UpdateSpec, parse_update_body, run_update, token,
                         update_validation_errors)
from occsim.node.versioning import MATCH_ANY, UNASSIGNED_PRIMARY_TERM, UNASSIGNED_SEQ_NO, VersionType




# -- per-generation rules -------------------------------------------------------------------
def _bulk_meta_names(node: Node) -> dict[str, str]:
    """The action/metadata names each generation's bulk parser accepts, and what they set.

    5.x and 6.x also accept the old underscore and camel-case spellings; 7.0 removed them; 8.0
    removed `_type`.
    """
    p = node.profile
    names = {"_index": "index", "_id": "id", "routing": "routing", "op_type": "op_type",
             "version": "version", "version_type": "version_type",
             "retry_on_conflict": "retry_on_conflict", "pipeline": "pipeline"}
    if p.custom_types:
        names["_type"] = "type"
    if p.seq_no_cas:
        names.update(if_seq_no="if_seq_no", if_primary_term="if_primary_term")
    if p.require_alias:
        names["require_alias"] = "require_alias"
    if p.legacy_field_names:
        names.update({"_routing": "routing", "_parent": "parent", "parent": "parent",
                      "_version": "version", "_version_type": "version_type",
                      "_versionType": "version_type", "versionType": "version_type",
                      "opType": "op_type", "_retry_on_conflict": "retry_on_conflict",
                      "_retryOnConflict": "retry_on_conflict"})
    if p.timestamp_and_ttl:
        names.update({"_timestamp": "timestamp", "timestamp": "timestamp", "_ttl": "ttl",
                      "ttl": "ttl"})
    return names


def _default_type(node: Node, url_type: str | None) -> str | None:
    """The type of items without `_type`: the URL's (5.x/6.x: none, so `type is missing`);
    7.x `_doc`; 8.x has no types (`_doc` internally)."""
    if url_type is not None:
        return url_type
    return "_doc" if node.profile.doc_is_the_default_type else None


# -- bulk: parsing ----------------------------------------------------------------------------
@dataclass(slots=True)
class BulkItem:
    action: str  # index, create, delete, update
    line: int
    index: str | None
    doc_type: str | None
    doc_id: str | None
    routing: str | None = None
    create: bool = False
    version: int = MATCH_ANY
    version_type: VersionType = VersionType.INTERNAL
    if_seq_no: int = UNASSIGNED_SEQ_NO
    if_primary_term: int = UNASSIGNED_PRIMARY_TERM
    source: bytes = b""
    update: UpdateSpec | None = None
    require_alias: bool | None = None  # None: the URL's `require_alias`


def _malformed(line: int, detail: str) -> IllegalArgument:
    return IllegalArgument(f"Malformed action/metadata line [{line}], {detail}")


def _text(value: object) -> str:
    """XContentParser.text() of a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _long(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise IllegalArgument(f"Current token (VALUE_{str(value).upper()}) not numeric, can not "
                              f"use numeric value accessors for [{name}]")
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise IllegalArgument(f"For input string: \"{value}\"") from None


def parse_bulk(node: Node, data: bytes, default_index: str | None, default_type: str | None,
               default_routing: str | None) -> list[BulkItem]:
    """BulkRequestParser.parse: the items of an NDJSON body, or the 400 it fails with."""
    p = node.profile
    names = _bulk_meta_names(node)
    decoder = json.JSONDecoder()
    items: list[BulkItem] = []
    line, pos = 0, 0

    def next_marker(start: int) -> int:
        found = data.find(b"\n", start)
        if found == -1 and start != len(data) and node.profile.bulk_needs_final_newline:
            raise IllegalArgument("The bulk request must be terminated by a newline [\\n]")
        return found

    while True:
        end = next_marker(pos)
        if end == -1:
            break
        line += 1
        raw, pos = data[pos:end], end + 1
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            continue
        try:
            if p.duplicate_keys_rejected:  # strict: duplicate keys or trailing data fail it
                action_obj = parse_json(raw, strict_duplicates=True)
            else:  # lenient, as 5.x: whatever follows the first value is ignored
                action_obj, _ = decoder.raw_decode(text)
        except (ValueError, json.JSONDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise ElasticsearchError(f"{reason} at line [{line}]", status=400,
                                     type="json_parse_exception") from None
        if not isinstance(action_obj, dict):
            raise _malformed(line, f"expected START_OBJECT but found [{token(action_obj)}]")
        if not action_obj:
            raise _malformed(line, "expected FIELD_NAME but found [END_OBJECT]")
        action, meta = next(iter(action_obj.items()))
        if node.profile.action_line_must_end and len(action_obj) > 1:
            raise _malformed(line, "expected END_OBJECT but found [FIELD_NAME]")
        if not isinstance(meta, dict):
            raise _malformed(line, f"expected START_OBJECT or END_OBJECT but found "
                             f"[{token(meta)}]")
        fields: dict = {}
        source_param: object = None
        for key, value in meta.items():
            if isinstance(value, list):
                if key == "fields" and p.fields_param:
                    continue
                raise _malformed(line, f"expected a simple value for field [{key}] but found "
                                 "[START_ARRAY]")
            if isinstance(value, dict):
                if key == "_source":
                    source_param = value
                    continue
                raise _malformed(line, f"expected a simple value for field [{key}] but found "
                                 "[START_OBJECT]")
            if value is None:
                continue
            if key == "_source":
                source_param = value
                continue
            if key == "fields" and p.fields_param:
                raise IllegalArgument(f"Action/metadata line [{line}] contains a simple value "
                                      "for parameter [fields] while a list is expected")
            name = names.get(key)
            if name is None:
                raise IllegalArgument(f"Action/metadata line [{line}] contains an unknown "
                                      f"parameter [{key}]")
            fields[name] = value
        item = _item(node, action, line, fields, default_index, default_type, default_routing)
        if action == "delete":
            items.append(item)
            continue
        end = next_marker(pos)
        if end == -1:
            break
        line += 1
        source, pos = data[pos:end], end + 1
        if source.endswith(b"\r"):
            source = source[:-1]
        if action in ("index", "create"):
            item.source = source
            item.create = action == "create" or _text(fields.get("op_type", "")) == "create"
        elif action == "update":
            item.update = _update_item(node, item, fields, source, source_param)
        else:
            raise _malformed(line, "expected field [create], [delete], [index] or [update] but "
                             f"found [{action}]")
        items.append(item)
    return items


def _item(node: Node, action: str, line: int, fields: dict, default_index: str | None,
          default_type: str | None, default_routing: str | None) -> BulkItem:
    item = BulkItem(action, line,
                    index=_text(fields["index"]) if "index" in fields else default_index,
                    doc_type=_text(fields["type"]) if "type" in fields else default_type,
                    doc_id=_text(fields["id"]) if "id" in fields else None,
                    routing=_text(fields["routing"]) if "routing" in fields else default_routing)
    if "version" in fields:
        item.version = _long("version", fields["version"])
    if "version_type" in fields:
        try:
            item.version_type = VersionType.parse(_text(fields["version_type"]))
        except ValueError as exc:
            raise IllegalArgument(str(exc)) from None
    if "if_seq_no" in fields:
        item.if_seq_no = _long("if_seq_no", fields["if_seq_no"])
    if "if_primary_term" in fields:
        item.if_primary_term = _long("if_primary_term", fields["if_primary_term"])
    if "require_alias" in fields:
        item.require_alias = fields["require_alias"] in (True, "true")
    return item


def _update_item(node: Node, item: BulkItem, fields: dict, source: bytes,
                 source_param: object) -> UpdateSpec:
    if node.profile.update_rejects_version_params and (item.version != MATCH_ANY
                                    or item.version_type is not VersionType.INTERNAL):
        raise IllegalArgument("Update requests do not support versioning. Please use "
                              "`if_seq_no` and `if_primary_term` instead")
    u = UpdateSpec(item.index, item.doc_type, item.doc_id, routing=item.routing,
                   require_alias=bool(item.require_alias),
                   version=item.version, version_type=item.version_type,
                   if_seq_no=item.if_seq_no, if_primary_term=item.if_primary_term)
    if "retry_on_conflict" in fields:
        u.retry_on_conflict = _long("retry_on_conflict", fields["retry_on_conflict"])
    parse_update_body(node, source, u)
    if source_param is not None:
        u.fetch_source = SourceFilter.parse(source_param)
    return u


def _item_errors(node: Node, item: BulkItem) -> list[str]:
    """The validation messages of one item's request (IndexRequest, DeleteRequest, ...)."""
    if item.update is not None:
        return update_validation_errors(node, item.update)
    errors = []
    if item.index is None:
        errors.append("index is missing")
    if item.doc_type is None:
        errors.append("type is missing")
    if item.action == "delete" and item.doc_id is None:
        errors.append("id is missing")
    doc_id = item.doc_id if item.action != "delete" else (item.doc_id or "")
    return errors + common.write_validation_errors(
        node, DELETE if item.action == "delete" else INDEX, doc_id, item.version,
        item.version_type, item.if_seq_no, item.if_primary_term, item.create)


# -- bulk: running ----------------------------------------------------------------------------
def _item_source(node: Node, raw: bytes) -> dict:
    if not raw.strip():
        raise ElasticsearchError("failed to parse, document is empty", status=400,
                                 type="mapper_parsing_exception")
    return parse_source(Request("POST", "/_bulk", body=raw),
                        strict_duplicates=node.profile.duplicate_keys_rejected)


def _key(item: BulkItem) -> str:
    return "create" if item.create else item.action


def _failed(node: Node, item: BulkItem, exc: ElasticsearchError) -> dict:
    """An item's entry for an error: its status and the error, without `root_cause`."""
    error = exc.body()["error"]
    del error["root_cause"]
    entry: dict = {"_index": item.index}
    if node.profile.type_in_responses:
        entry["_type"] = item.doc_type
    entry.update(_id=item.doc_id, status=exc.status, error=error)
    return {_key(item): entry}


async def _run_update(node: Node, item: BulkItem, options: dict) -> dict:
    u = item.update
    u.refresh, u.timeout = options["refresh"], options["timeout"]
    u.wait_for_active_shards = options["wait_for_active_shards"]
    try:
        status, body = await run_update(node, u, in_bulk=True)
    except ElasticsearchError as exc:
        return _failed(node, item, exc)
    return {_key(item): {**body, "status": status}}


async def _placed(node: Node, item: BulkItem, options: dict) -> DocWrite:
    """An index, create or delete item as a write placed on its shard (its index created if
    need be); raises the error the single-document request would fail with before writing."""
    op = DELETE if item.action == "delete" else INDEX
    item.index = common.concrete_index(node, item.index, write=True,
                                        require_alias=item.require_alias and op == INDEX)
    source = None
    if op == INDEX:
        if item.doc_id == "":  # IndexRequest.process
            raise IllegalArgument("if _id is specified it must not be empty")
        common.check_type(node, item.doc_type)
        source = _item_source(node, item.source)
    elif not node.profile.delete_creates_index and item.version_type is VersionType.INTERNAL:
        node.index_meta(item.index)  # a delete does not create its index (7.x answers 404)
    seq_no = None if item.if_seq_no == UNASSIGNED_SEQ_NO else item.if_seq_no
    doc_type = item.doc_type if op == INDEX else common.write_type(node, item.index, item.doc_type)
    w = DocWrite(item.index, doc_type, item.doc_id, op, source=source,
                 version=item.version, version_type=item.version_type.value,
                 create=item.create, routing=item.routing, if_seq_no=seq_no,
                 if_primary_term=None if seq_no is None else item.if_primary_term, **options)
    await node.place(w)
    return w


async def _run_shard(node: Node, placed: list[tuple[int, BulkItem, DocWrite]],
                     answers: list) -> None:
    """One shard's items in one request to its primary; each item's entry into `answers`."""
    try:
        outcomes = await node.write_bulk(ShardBulk([w for _, _, w in placed]))
    except ElasticsearchError as exc:  # the shard's request failed: so did each of its items
        outcomes = [exc] * len(placed)
    for (n, item, w), outcome in zip(placed, outcomes):
        if isinstance(outcome, ElasticsearchError):
            answers[n] = _failed(node, item, outcome)
        else:
            answer = common.write_response(node, item.index, item.doc_type, item.doc_id, w.op,
                                           outcome)
            answers[n] = {_key(item): {**answer.body, "status": answer.status}}


async def _run_items(node: Node, items: list[BulkItem], options: dict) -> list[dict]:
    """Every item's entry of `items`, in order.

    As Elasticsearch's TransportBulkAction does, index, create and delete items are grouped by
    shard and each shard's items go to its primary in one request, shards side by side. An
    update item runs on its own, after the items before it and before those after it.
    """
    answers: list = [None] * len(items)
    shards: dict[tuple[str, int], list] = {}

    async def flush() -> None:
        await asyncio.gather(*(_run_shard(node, placed, answers) for placed in shards.values()))
        shards.clear()

    for n, item in enumerate(items):
        if item.action in ("index", "create") and item.doc_id is None:
            item.doc_id = node.new_id()  # ids are generated before anything can fail
        if item.update is not None:
            await flush()
            answers[n] = await _run_update(node, item, options)
            continue
        try:
            w = await _placed(node, item, options)
        except ElasticsearchError as exc:
            answers[n] = _failed(node, item, exc)
            continue
        shards.setdefault((w.index, w.shard), []).append((n, item, w))
    await flush()
    return answers


async def bulk(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`POST /_bulk`, `/{index}/_bulk` (and `/{index}/{type}/_bulk` while types exist)."""
    p = node.profile
    started = node.clock()
    alias_only = common.require_alias(node, params)
    options = common.write_options(params)
    default_routing = params.str("routing")
    url_type = m.get("type") or (params.str("type") if p.url_type_param else None)
    url_filter = common.source_filter(node, params)
    if p.fields_param:
        params.accept("fields")
    if not request.body:
        raise ParseError("request body is required")
    items = parse_bulk(node, request.body, m.get("index"), _default_type(node, url_type),
                       default_routing)
    for item in items:
        if item.require_alias is None:
            item.require_alias = alias_only
        if item.update is not None:
            item.update.require_alias = item.require_alias
    params.check_consumed()
    errors = [] if items else ["no requests added"]
    for item in items:
        if item.update is not None and item.update.fetch_source is None:
            item.update.fetch_source = url_filter  # the URL's `_source` is the items' default
        errors.extend(_item_errors(node, item))
    if errors:
        raise ValidationError(*errors)
    for item in items:
        if item.update is None:
            common.deprecations(node, params, item.index, item.doc_type, item.version,
                              item.version_type)
    answers = await _run_items(node, items, options)
    failed = any("error" in next(iter(a.values())) for a in answers)
    took = max(0, int(round((node.clock() - started) * 1000)))
    node.recorder.record("bulk", items=len(items), errors=failed)
    return Response(200, {"took": took, "errors": failed, "items": answers})


# -- mget -------------------------------------------------------------------------------------
_MGET_FIELDS = {"_index": "index", "_type": "type", "_id": "id", "routing": "routing",
                "_source": "source", "stored_fields": "stored_fields", "version": "version",
                "version_type": "version_type"}
_MGET_OLD_FIELDS = {"_routing": "routing", "_version": "version",
                    "_version_type": "version_type", "parent": "parent", "_parent": "parent",
                    "fields": "stored_fields"}


def _mget_items(node: Node, body: dict, index: str | None, doc_type: str | None,
                routing: str | None) -> list[dict]:
    """MultiGetRequest.add: the entries of `docs` or `ids`."""
    p = node.profile
    names = dict(_MGET_FIELDS)
    if p.legacy_field_names:
        names.update(_MGET_OLD_FIELDS)
    if not p.custom_types:
        del names["_type"]
    items: list[dict] = []
    for key, value in body.items():
        if p.mget_skips_simple_values and not isinstance(value, (list, dict)):
            continue  # 5.x skips a top-level value such as `"index": "test_2"`
        if not isinstance(value, list):
            raise ParseError(f"unexpected token [{token(value)}], expected [docs] or [ids]")
        if key == "docs":
            for entry in value:
                if not isinstance(entry, dict):
                    raise IllegalArgument("docs array element should include an object")
                item = {"index": index, "type": doc_type, "id": None, "routing": routing,
                        "version": MATCH_ANY, "version_type": VersionType.INTERNAL}
                for field_name, field_value in entry.items():
                    name = names.get(field_name)
                    if name is None:
                        raise ParseError("failed to parse multi get request. unknown field "
                                         f"[{field_name}]")
                    if name in ("index", "type", "id", "routing") and field_value is not None:
                        item[name] = _text(field_value)
                    elif name == "source":
                        item["source"] = SourceFilter.parse(field_value)
                    elif name == "version":
                        item["version"] = _long("version", field_value)
                    elif name == "version_type":
                        try:
                            item["version_type"] = VersionType.parse(_text(field_value))
                        except ValueError as exc:
                            raise IllegalArgument(str(exc)) from None
                items.append(item)
        elif key == "ids":
            for entry in value:
                if isinstance(entry, (dict, list)):
                    raise IllegalArgument("ids array element should only contain ids")
                items.append({"index": index, "type": doc_type, "id": _text(entry),
                              "routing": routing, "version": MATCH_ANY,
                              "version_type": VersionType.INTERNAL})
        else:
            raise ParseError(f"unknown key [{key}] for a START_ARRAY, expected [docs] or [ids]")
    return items


async def _mget_one(node: Node, item: dict, local_only: bool, realtime: bool,
                    filt: SourceFilter | None) -> dict:
    p = node.profile
    index, doc_id = item["index"], item["id"]
    requested = (item["type"] or "_doc") if p.doc_is_the_default_type else item["type"]
    if p.mget_null_type_when_unmapped and item["type"] is None and \
            node.state["indices"].get(index, {}).get("type") is None:
        requested = None  # 7.x: `_type: null` for a missing index or one without a mapping
    head: dict = {"_index": index}
    try:
        index = head["_index"] = common.concrete_index(node, index, write=False)
        meta = node.index_meta(index)
        lookup = requested or ("_all" if not p.one_type_per_index else meta.get("type") or "_doc")
        doc = None
        if not (p.one_type_per_index and requested and meta.get("type") not in (None,
                                                                               requested)):
            doc = await node.get(index, lookup, doc_id, routing=item["routing"],
                                 version=item["version"],
                                 version_type=item["version_type"].value,
                                 local_only=local_only, realtime=realtime,
                                 request=_shard_request(
                                     index, node.shard_of(meta, doc_id, item["routing"])))
    except ElasticsearchError as exc:
        if p.type_in_responses:
            head["_type"] = requested
        head.update(_id=doc_id, error=exc.body()["error"])
        return head
    if p.type_in_responses:
        head["_type"] = requested if doc is None else (
            doc.get("type", lookup) if not p.one_type_per_index else requested or lookup)
    head["_id"] = doc_id
    if doc is None:
        head["found"] = False
        return head
    head.update(common.doc_fields(node, doc, item.get("source", filt)))
    return head


def _shard_request(index: str, shard: int) -> str:
    """How a failed mget names its per-shard request: MultiGetShardRequest has no toString of
    its own, so Java prints the class and an identity hash (here one fixed per index and
    shard)."""
    return ("org.elasticsearch.action.get.MultiGetShardRequest@"
            f"{zlib.crc32(f'{index}[{shard}]'.encode()) & 0x7FFFFFFF:x}")


async def mget(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`GET|POST /_mget`, `/{index}/_mget` (and `/{index}/{type}/_mget` while types exist)."""
    routing = params.str("routing")
    preference = params.str("preference")
    refresh = params.bool("refresh", False)
    realtime = params.bool("realtime", True)
    filt = common.source_filter(node, params)
    if (params.has("stored_fields") or params.has("fields")) and filt is None:
        filt = SourceFilter(False)  # stored fields only (occsim stores none)
    body = parse_object(request, strict_duplicates=node.profile.duplicate_keys_rejected,
                        required=False)
    items = _mget_items(node, body, m.get("index"), m.get("type"), routing)
    params.check_consumed()
    errors = [] if items else ["no documents to get"]
    for n, item in enumerate(items):
        if item["index"] is None:
            errors.append(f"index is missing for doc {n}")
        if item["id"] is None:
            errors.append(f"id is missing for doc {n}")
    if errors:
        raise ValidationError(*errors)
    if refresh:
        indices = [i for i in dict.fromkeys(item["index"] for item in items)
                   if i in node.state["indices"]]
        await node.refresh(indices)
    docs = [await _mget_one(node, item, preference == "_only_local", realtime, filt)
            for item in items]
    return Response(200, {"docs": docs})


def _with_types(node: Node, m: dict) -> bool:
    return node.profile.custom_types


ROUTES = [
    Route.of("/_bulk", POST=bulk, PUT=bulk),
    Route.of("/{index}/_bulk", POST=bulk, PUT=bulk),
    Route.of("/{index}/{type}/_bulk", _with_types, POST=bulk, PUT=bulk),
    Route.of("/_mget", GET=mget, POST=mget),
    Route.of("/{index}/_mget", GET=mget, POST=mget),
    Route.of("/{index}/{type}/_mget", _with_types, GET=mget, POST=mget),
]
