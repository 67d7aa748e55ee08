"""The update API: get → merge → write with a compare-and-set condition, retried on conflict.

`POST /{index}/{type}/{id}/_update` (5.x–7.x) and `POST /{index}/_update/{id}` (7.x on), run as
Elasticsearch's UpdateHelper and TransportUpdateAction run it (reference §2, §3.5):

* the document is read from the primary, realtime;
* an existing document gets `doc` merged into its source recursively (`merge`); a merge that
  changes nothing is a `noop` when `detect_noop` is on (the default): nothing is written;
* otherwise the merged source is written with a condition taken from the read — the read's
  `_seq_no`/`_primary_term` from 7.0, its internal `_version` before — so a change that lands
  between the read and the write fails the write with a version conflict, and the whole
  get → merge → write runs again, up to `retry_on_conflict` times (default 0), then 409;
* a missing document is created from `upsert`, or from `doc` with `doc_as_upsert`, as a create;
  without either the answer is 404 `document_missing_exception`.

The same `run_update` serves `_bulk`'s update items. Scripts are not supported by occsim: an
update that would run a script is refused with a 400.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from occsim.node.engine import INDEX
from occsim.node.errors import ElasticsearchError, IllegalArgument, ParseError, ValidationError
from occsim.node.node import DocWrite, Node
from occsim.node.rest import Params, Request, Response, parse_json
from occsim.node.api import common
from occsim.node.search import SourceFilter
from occsim.node.versioning import (MATCH_ANY, UNASSIGNED_PRIMARY_TERM, UNASSIGNED_SEQ_NO, VersionType,
                             explain_cas_conflict, valid_for_writes)

UPDATE_FIELDS = ("script", "scripted_upsert", "upsert", "doc", "doc_as_upsert", "detect_noop",
                 "_source", "if_seq_no", "if_primary_term")
_REJECT_VERSIONS = ("internal versioning can not be used for optimistic concurrency control. "
                    "Please use `if_seq_no` and `if_primary_term` instead")




# -- the merge ---------------------------------------------------------------------------------
_ABSENT = object()


def merge(source: dict, changes: dict) -> tuple[dict, bool]:
    """XContentHelper.update: `changes` merged into a copy of `source`, and whether it changed.

    Objects present on both sides merge key by key, recursively; any other value (arrays too)
    replaces what was there. A change counts only if the new value differs from the old one
    (JSON-typed: `1`, `1.0` and `true` all differ).
    """
    merged = _copy(source)
    return merged, _merge_into(merged, changes)


def _copy(value: object) -> object:
    """A deep copy of parsed JSON, by the C codec: two Python frames a level (`deepcopy`)
    would not reach the nesting a body may have."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def _merge_into(target: dict, changes: dict) -> bool:
    modified = False
    for key, value in changes.items():
        old = target.get(key, _ABSENT)
        if isinstance(old, dict) and isinstance(value, dict):
            modified = _merge_into(old, value) or modified
            continue
        target[key] = _copy(value)
        modified = modified or old is _ABSENT or not same_json(old, value)
    return modified


def same_json(a: object, b: object) -> bool:
    """Java's `Objects.equals` on parsed JSON: equal values of the same JSON type (walked
    without recursion: arrays may nest as deep as a body may)."""
    pairs = [(a, b)]
    while pairs:
        a, b = pairs.pop()
        if type(a) is not type(b):
            return False
        if isinstance(a, dict):
            if a.keys() != b.keys():
                return False
            pairs.extend((a[k], b[k]) for k in a)
        elif isinstance(a, list):
            if len(a) != len(b):
                return False
            pairs.extend(zip(a, b))
        elif a != b:
            return False
    return True


# -- the request -------------------------------------------------------------------------------
@dataclass(slots=True)
class UpdateSpec:
    """One update request, from the URL and body or from a bulk item."""

    index: str | None
    doc_type: str | None
    doc_id: str | None
    doc: dict | None = None
    upsert: dict | None = None
    doc_as_upsert: bool = False
    detect_noop: bool = True
    script: bool = False
    scripted_upsert: bool = False
    require_alias: bool = False
    fetch_source: SourceFilter | None = None  # `_source`: answer with a `get` object
    routing: str | None = None
    retry_on_conflict: int = 0
    version: int = MATCH_ANY
    version_type: VersionType = VersionType.INTERNAL
    if_seq_no: int = UNASSIGNED_SEQ_NO
    if_primary_term: int = UNASSIGNED_PRIMARY_TERM
    refresh: str | None = None
    timeout: float = 60.0
    wait_for_active_shards: int | str = 1


def token(value: object) -> str:
    """The Jackson token a JSON value starts with."""
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, (int, float)):
        return "VALUE_NUMBER"
    if isinstance(value, str):
        return "VALUE_STRING"
    return "VALUE_NULL"


def fields_with_locations(text: str) -> list[tuple[str, object, str, str]]:
    """The top-level fields of a JSON object text, each with the `line:col` (Jackson's, 1-based)
    of its name and of its value. The text must already be known to be a valid object."""
    decoder = json.JSONDecoder()
    out: list[tuple[str, object, str, str]] = []
    i = _skip(text, 0) + 1
    i = _skip(text, i)
    if text[i] == "}":
        return out
    while True:
        key_at = i
        key, i = json.decoder.scanstring(text, i + 1)
        i = _skip(text, _skip(text, i) + 1)
        value_at = i
        value, i = decoder.raw_decode(text, i)
        out.append((key, value, location(text, key_at), location(text, value_at)))
        i = _skip(text, i)
        if text[i] != ",":
            return out
        i = _skip(text, i + 1)


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def location(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"{line}:{pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def _x_parse(loc: str, reason: str, caused_by: dict | None = None) -> ElasticsearchError:
    return ElasticsearchError(f"[{loc}] {reason}", status=400, type="x_content_parse_exception",
                              caused_by=caused_by)


def suggest(unknown: str, candidates: tuple[str, ...]) -> str:
    """SuggestingErrorOnUnknown: ` did you mean [x]?` for names close to the unknown one."""
    scored = []
    for candidate in candidates:
        longest = max(len(unknown), len(candidate)) or 1
        similarity = 1 - _levenshtein(unknown, candidate) / longest
        if similarity > 0.5:
            scored.append((-similarity, candidate))
    if not scored:
        return ""
    keys = [c for _, c in sorted(scored)]
    return f" did you mean [{keys[0]}]?" if len(keys) == 1 else \
        f" did you mean any of [{', '.join(keys)}]?"


def _levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def parse_update_body(node: Node, raw: bytes, u: UpdateSpec) -> None:
    """UpdateRequest.fromXContent into `u`: strict from 7.0, lenient (unknown fields ignored)
    before; every bad value fails as the generation's parser fails."""
    if not raw.strip():
        raise ParseError("request body is required")
    try:
        body = parse_json(raw, strict_duplicates=node.profile.duplicate_keys_rejected)
    except ValueError as exc:
        raise ElasticsearchError(str(exc), status=400, type="x_content_parse_exception") from None
    text = raw.decode("utf-8")
    strict = node.profile.update_body_strict
    if not isinstance(body, dict):
        if strict:
            raise _x_parse(location(text, _skip(text, 0)),
                           f"[UpdateRequest] Expected START_OBJECT but was: {token(body)}")
        raise ParseError("request body must be a JSON object")
    for name, value, name_at, value_at in fields_with_locations(text):
        if name not in UPDATE_FIELDS or (not strict and name in ("if_seq_no", "if_primary_term")):
            if strict:
                raise _x_parse(name_at, f"[UpdateRequest] unknown field [{name}]"
                               + suggest(name, UPDATE_FIELDS))
            continue
        if name in ("doc", "upsert"):
            if not isinstance(value, dict):
                raise _unsupported(strict, name, value, value_at)
            setattr(u, name, value)
        elif name == "script":
            if not isinstance(value, (dict, str)):
                raise _unsupported(strict, name, value, value_at)
            u.script = True
        elif name in ("doc_as_upsert", "detect_noop", "scripted_upsert"):
            setattr(u, name, _boolean(strict, name, value, value_at))
        elif name == "_source":
            if not isinstance(value, (dict, list, bool, str)):
                raise _unsupported(strict, name, value, value_at)
            u.fetch_source = SourceFilter.parse(value)
        else:  # if_seq_no / if_primary_term (7.0+ body fields)
            number = _long(name, value, value_at)
            if name == "if_seq_no":
                if number < 0 and number != UNASSIGNED_SEQ_NO:
                    raise _x_parse(value_at, "[UpdateRequest] failed to parse field [if_seq_no]",
                                   {"type": "illegal_argument_exception", "reason":
                                    f"sequence numbers must be non negative. got [{number}]."})
                u.if_seq_no = number
            else:
                if number < 0:
                    raise _x_parse(value_at, "[UpdateRequest] failed to parse field "
                                   "[if_primary_term]", {"type": "illegal_argument_exception",
                                   "reason": f"primary term must be non negative. got [{number}]"})
                u.if_primary_term = number


def _unsupported(strict: bool, name: str, value: object, at: str) -> ElasticsearchError:
    if strict:
        return _x_parse(at, f"[UpdateRequest] {name} doesn't support values of type: "
                        f"{token(value)}")
    return ElasticsearchError(f"failed to parse [{name}]: expected an object, found "
                              f"[{token(value)}]", status=400, type="parse_exception")


def _boolean(strict: bool, name: str, value: object, at: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    if strict:
        if isinstance(value, str):
            raise _x_parse(at, f"[UpdateRequest] failed to parse field [{name}]",
                           {"type": "illegal_argument_exception", "reason":
                            f"Failed to parse value [{value}] as only [true] or [false] are "
                            "allowed."})
        raise _unsupported(strict, name, value, at)
    if isinstance(value, (int, float)):
        return value != 0  # 5.x/6.x parsers read a number as a boolean
    raise IllegalArgument(f"Failed to parse value [{value}] as only [true] or [false] are "
                          "allowed.")


def _long(name: str, value: object, at: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _x_parse(at, f"[UpdateRequest] {name} doesn't support values of type: "
                       f"{token(value)}")
    if isinstance(value, int):
        return value
    if re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    raise _x_parse(at, f"[UpdateRequest] failed to parse field [{name}]",
                   {"type": "number_format_exception", "reason": f'For input string: "{value}"'})


def update_validation_errors(node: Node, u: UpdateSpec) -> list[str]:
    """UpdateRequest.validate of the generation, message for message, in its order."""
    p = node.profile
    errors: list[str] = []
    if u.index is None:
        errors.append("index is missing")
    if p.update_validates_versions:
        if p.update_upsert_with_version_refused and u.version != MATCH_ANY and u.upsert is not None:
            errors.append("can't provide both upsert request and a version")
        if u.doc_type is None:
            errors.append("type is missing")
    if u.doc_id is None:
        errors.append("id is missing")
    if p.update_validates_versions:
        if u.version_type is not VersionType.INTERNAL:
            errors.append(f"version type [{u.version_type.name}] is not supported by the "
                          "update API")
        else:
            if u.version != MATCH_ANY and u.retry_on_conflict > 0:
                errors.append("can't provide both retry_on_conflict and a specific version")
            if not valid_for_writes(u.version_type, u.version):
                errors.append(f"illegal version value [{u.version}] for version type "
                              f"[{u.version_type.name}]")
    if p.seq_no_cas:
        seq_no, term = u.if_seq_no, u.if_primary_term
        if p.update_rejects_version_params and u.version_type is VersionType.INTERNAL \
                and u.version != MATCH_ANY:
            errors.append(_REJECT_VERSIONS)
        if seq_no != UNASSIGNED_SEQ_NO and (u.version_type is not VersionType.INTERNAL
                                            or u.version != MATCH_ANY):
            errors.append("compare and write operations can not use versioning")
        if term == UNASSIGNED_PRIMARY_TERM and seq_no != UNASSIGNED_SEQ_NO:
            errors.append("ifSeqNo is set, but primary term is [0]")
        if term != UNASSIGNED_PRIMARY_TERM and seq_no == UNASSIGNED_SEQ_NO:
            errors.append(f"ifSeqNo is unassigned, but primary term is [{term}]")
        if seq_no != UNASSIGNED_SEQ_NO:
            if u.retry_on_conflict > 0:
                errors.append("compare and write operations can not be retried")
            if u.doc_as_upsert:
                errors.append("compare and write operations can not be used with upsert")
            if u.upsert is not None:
                errors.append("upsert requests don't support `if_seq_no` and `if_primary_term`")
    if not u.script and u.doc is None:
        errors.append("script or doc is missing")
    if u.script and u.doc is not None:
        errors.append("can't provide both script and doc")
    if u.doc is None and u.doc_as_upsert:
        errors.append("doc must be specified if doc_as_upsert is enabled")
    return errors


# -- running it --------------------------------------------------------------------------------
def _no_scripts(what: str) -> IllegalArgument:
    return IllegalArgument(f"scripts are not supported by occsim: this update would run its "
                           f"[script] {what}; send a partial document in [doc] (with [upsert] or "
                           "[doc_as_upsert] for a missing document) instead")


async def run_update(node: Node, u: UpdateSpec, *, in_bulk: bool = False) -> tuple[int, dict]:
    """Execute a validated update: (HTTP status, response body); raises Elasticsearch errors.

    In a bulk, a noop answers the shard's `_shards` like every item of that shard, and a
    bulk-level `refresh=true` marks it `forced_refresh`; alone it answers zeros.
    """
    u.index = common.concrete_index(node, u.index, write=True, require_alias=u.require_alias)
    meta = await node.ensure_index(u.index, None)  # the update API auto-creates the index
    attempt = 0
    while True:
        doc = await _read(node, u, meta)
        shard = node.shard_of(meta, u.doc_id, u.routing)
        if doc is None:
            if u.upsert is None and not u.doc_as_upsert:
                raise ElasticsearchError(
                    f"{node.profile.document_missing_prefix(u.doc_type, u.doc_id)}: "
                    "document missing",
                    status=404, type="document_missing_exception",
                ).at(u.index, meta["uuid"], shard)
            if u.script and u.scripted_upsert:
                raise _no_scripts("on the upsert document (scripted_upsert)")
            source = u.doc if u.doc_as_upsert else u.upsert
            w = _doc_write(node, u, source, create=True)
        else:
            if u.script:
                raise _no_scripts("on the current document")
            source, modified = merge(doc["source"], u.doc)
            if u.detect_noop and not modified:
                return 200, _noop_body(node, u, doc, meta, shard, in_bulk)
            w = _doc_write(node, u, source)
            if u.if_seq_no != UNASSIGNED_SEQ_NO and not node.profile.update_cas_from_read:
                w.if_seq_no, w.if_primary_term = u.if_seq_no, u.if_primary_term
            elif node.profile.update_cas_from_read:
                w.if_seq_no, w.if_primary_term = doc["seq_no"], doc["term"]
            else:
                w.version, w.version_type = doc["version"], VersionType.INTERNAL.value
        common.check_type(node, u.doc_type)
        try:
            out = await node.write(w)
        except ElasticsearchError as exc:
            if exc.type == "version_conflict_engine_exception" and attempt < u.retry_on_conflict:
                attempt += 1
                node.recorder.record("update_retry", index=u.index, doc=u.doc_id,
                                     attempt=attempt, reason=exc.reason)
                continue
            raise
        body = {**_head(node, u), **common.outcome_fields(node, out)}
        if u.fetch_source is not None and u.fetch_source.fetch:
            body["get"] = _get_section(node, out.seq_no, out.term, u.fetch_source.apply(source))
        return (201 if out.result == "created" else 200), body


async def _read(node: Node, u: UpdateSpec, meta: dict) -> dict | None:
    """The realtime read of the primary (5.x/6.x: checked against the request's version)."""
    doc_type = common.write_type(node, u.index, u.doc_type)
    if node.profile.one_type_per_index and meta.get("type") not in (None, doc_type):
        return None  # another type than the index's one: nothing of this type exists
    doc = await node.get(u.index, doc_type, u.doc_id, routing=u.routing,
                         version=u.version if node.profile.internal_version_occ else MATCH_ANY,
                         version_type=VersionType.INTERNAL.value, local_only=False,
                         primary_only=True)
    if doc is not None and u.if_seq_no != UNASSIGNED_SEQ_NO and (
            (doc["seq_no"], doc["term"]) != (u.if_seq_no, u.if_primary_term)):
        conflict = ElasticsearchError(
            f"{node.profile.conflict_prefix(u.doc_type, u.doc_id)}: version conflict, "
            + explain_cas_conflict(u.if_seq_no, u.if_primary_term, (doc["seq_no"], doc["term"])),
            status=409, type="version_conflict_engine_exception")
        raise conflict.at(u.index, meta["uuid"], doc["shard"])
    return doc


def _doc_write(node: Node, u: UpdateSpec, source: dict, *, create: bool = False) -> DocWrite:
    return DocWrite(u.index, common.write_type(node, u.index, u.doc_type), u.doc_id, INDEX,
                    source=source, create=create,
                    routing=u.routing, refresh=u.refresh, timeout=u.timeout,
                    wait_for_active_shards=u.wait_for_active_shards)


def _head(node: Node, u: UpdateSpec) -> dict:
    return common.doc_head(node, u.index, u.doc_type, u.doc_id)


def _noop_body(node: Node, u: UpdateSpec, doc: dict, meta: dict, shard: int,
               in_bulk: bool) -> dict:
    body = _head(node, u)
    body["_version"] = doc["version"]
    body["result"] = "noop"
    if in_bulk:
        if u.refresh == "true":
            body["forced_refresh"] = True
        routing = meta["routing"][shard]
        body["_shards"] = {"total": 1 + len(routing["replicas"]),
                           "successful": 1 + sum(r is not None for r in routing["replicas"]),
                           "failed": 0}
    else:
        body["_shards"] = {"total": 0, "successful": 0, "failed": 0}
    if node.profile.noop_has_seq_no:
        body["_seq_no"] = doc["seq_no"]
        body["_primary_term"] = doc["term"]
    if u.fetch_source is not None and u.fetch_source.fetch:
        body["get"] = _get_section(node, doc["seq_no"], doc["term"],
                                   u.fetch_source.apply(doc["source"]))
    return body


def _get_section(node: Node, seq_no: int, term: int, source: dict) -> dict:
    """The `get` object an update answers with when `_source` was asked for."""
    get: dict = {}
    if node.profile.seq_no_in_responses:
        get.update(_seq_no=seq_no, _primary_term=term)
    get.update(found=True, _source=source)
    return get


# -- the REST handler --------------------------------------------------------------------------
def int_param(params: Params, name: str, default: int) -> int:
    """RestRequest.paramAsInt, with Elasticsearch's message when it fails."""
    value = params.str(name)
    if value is None:
        return default
    if re.fullmatch(r"[+-]?\d+", value) and -2**31 <= int(value) < 2**31:
        return int(value)
    raise IllegalArgument(f"Failed to parse int parameter [{name}] with value [{value}]",
                          caused_by={"type": "number_format_exception",
                                     "reason": f'For input string: "{value}"'})


async def update_doc(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`POST .../_update`: parameters as RestUpdateAction reads them, then the body."""
    p = node.profile
    u = UpdateSpec(m["index"], m.get("type") or "_doc", m["id"])
    u.routing = params.str("routing") or None
    u.require_alias = common.require_alias(node, params)
    options = common.write_options(params)
    u.timeout, u.wait_for_active_shards = options["timeout"], options["wait_for_active_shards"]
    u.refresh = options["refresh"]
    u.doc_as_upsert = params.bool("doc_as_upsert", False)
    u.fetch_source = common.source_filter(node, params)
    if p.update_legacy_params:
        params.accept("parent", "fields", "lang")
    if p.include_type_name_param:
        params.accept("include_type_name")
    u.retry_on_conflict = int_param(params, "retry_on_conflict", 0)
    if node.profile.update_rejects_version_params:
        if params.has("version") or params.has("version_type"):
            raise ValidationError(_REJECT_VERSIONS)
    else:
        u.version, u.version_type = common.version_params(node, params, write=True)
        common.deprecations(node, params, u.index, u.doc_type, u.version, u.version_type)
    seq_no, term = common.cas_params(node, params)
    if seq_no is not None:
        u.if_seq_no, u.if_primary_term = seq_no, term
    parse_update_body(node, request.body, u)
    params.check_consumed()
    errors = update_validation_errors(node, u)
    if errors:
        raise ValidationError(*errors)
    status, body = await run_update(node, u)
    return Response(status, body)
