"""The Elasticsearch REST API of a node: routes, parameter rules and response bodies per profile.

`dispatch(node, request)` is the whole API: it finds the route Elasticsearch of the node's
profile has for the method and path, reads and validates parameters exactly as Elasticsearch's
REST actions and request validation do, calls the `Node`, and shapes the answer. Errors become
Elasticsearch-shaped bodies here and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from occsim.node.api import bulk, cat, indices, search as searching, update
from occsim.node.engine import DELETE, INDEX
from occsim.node.errors import ElasticsearchError, IllegalArgument, RestError, ValidationError
from occsim.node.node import INITIAL_STATE_TIMEOUT, DocWrite, Node, WriteOutcome
from occsim.node.rest import (Params, Request, Response, Route, error_response, parse_object,
                       parse_source, parse_time, to_yaml)
from occsim.node.search import SourceFilter, source_params
from occsim.node.versioning import (MATCH_ANY, UNASSIGNED_PRIMARY_TERM, UNASSIGNED_SEQ_NO, VersionType,
                             valid_for_reads, valid_for_writes)
from occsim.transport.message import TransportError

MAX_ID_BYTES = 512

_VENDOR = "application/vnd.elasticsearch+"
_MEDIA_TYPES = ("application/json", "application/x-ndjson", "application/smile",
                "application/yaml", "application/cbor")
_VENDOR_TYPES = (f"{_VENDOR}json", f"{_VENDOR}x-ndjson")


async def dispatch(node: Node, request: Request) -> Response:
    """Answer one REST request and trace it; never raises."""
    try:
        handler, m = _resolve(node, request)
    except (RestError, ElasticsearchError) as exc:
        handler, m, unrouted = None, {}, exc
    tracing = node.recorder.enabled
    if tracing:
        node.recorder.record("client_request", client=request.actor, method=request.method,
                             path=request.describe(), msg=request.headers.get("x-occsim-rid"),
                             index=m.get("index"), doc=m.get("id"))
    media_type = node.profile.json_media_type
    params = Params(request)
    try:
        await _until_joined(node, request)
        media_type = negotiate(node, request)
        if handler is None:
            raise unrouted
        _check_content_type(node, request)
        response = await handler(node, request, params, m)
    except (ElasticsearchError, RestError) as exc:
        response = error_response(exc)
    except TransportError as exc:  # another node or the master could not be reached
        response = error_response(ElasticsearchError(
            str(exc), status=503, type="node_not_connected_exception"))
    if params.warnings:
        now = node.clock()
        response.headers["Warning"] = ", ".join(node.profile.warning(text, now)
                                                for text in params.warnings)
    if node.profile.product_header:
        response.headers["X-elastic-product"] = "Elasticsearch"
    if tracing:
        _record_response(node, request, response, m)
    if isinstance(response.body, (dict, list)) and _wants_yaml(request):
        response.body = to_yaml(response.body)
        media_type = "application/yaml"
    response.headers.setdefault("Content-Type", media_type)
    return response


async def _until_joined(node: Node, request: Request) -> None:
    """Answer only once this node has joined the cluster, as Elasticsearch starts its HTTP
    server only after joining a master (Node.start waits up to discovery.initial_state_timeout,
    30s): a (re)started node never answers from an empty cluster state. After that wait its
    state is still not recovered, which blocks everything but `GET /` with a 503."""
    if await node.wait_for_state(node.joined, INITIAL_STATE_TIMEOUT) or request.path == "/":
        return
    raise ElasticsearchError("blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / "
                             "initialized];", status=503, type="cluster_block_exception")


def _wants_yaml(request: Request) -> bool:
    """`?format=yaml`, or an `Accept: application/yaml` header: the answer in YAML."""
    if "format" in request.query:
        return request.query["format"] == "yaml"
    accept = request.headers.get("accept", "")
    return accept.split(";")[0].strip().lower() == "application/yaml"


def _record_response(node: Node, request: Request, response: Response, route: dict) -> None:
    body = response.body if isinstance(response.body, dict) else {}
    fields = {"client": request.actor, "status": response.status, "method": request.method,
              "path": request.describe(), "msg": request.headers.get("x-occsim-rid")}
    if "result" in body:
        fields["result"] = body["result"]
    fields["index"], fields["doc"] = route.get("index"), route.get("id")
    for key, name in (("_index", "index"), ("_id", "doc"), ("_version", "version"),
                      ("_seq_no", "seq_no"), ("_primary_term", "term")):
        if key in body:
            fields[name] = body[key]
    if "error" in body and isinstance(body["error"], dict):
        fields["reason"] = body["error"].get("reason")
    node.recorder.add("response", fields)


def _resolve(node: Node, request: Request) -> tuple:
    """The handler Elasticsearch of this profile has for the method and path."""
    allowed: list[str] = []
    segments = 0 if request.path == "/" else request.path.count("/")
    for route in ROUTES:
        if route.segments != segments:
            continue
        match = route.pattern.fullmatch(request.path)
        if not match or not route.when(node, match.groupdict()):
            continue
        handler = route.methods.get(request.method)
        if handler is None:
            allowed.extend(m for m in route.methods if m not in allowed)
            continue
        m = match.groupdict()
        if m.get("index") in UNSERVED or m.get("type") in UNSERVED:  # `/_mapping` is no index
            break
        return handler, m
    uri = request.describe()
    unserved = next((UNSERVED[s] for s in request.path.split("/") if s in UNSERVED), None)
    if unserved is not None:
        raise IllegalArgument(f"occsim does not serve the Elasticsearch API [{unserved}] "
                              f"([{request.method} {request.path}]); see the README for the APIs "
                              "it serves")
    if allowed and node.profile.major >= 6:
        raise RestError(405, f"Incorrect HTTP method for uri [{uri}] and method "
                        f"[{request.method}], allowed: [{', '.join(allowed)}]",
                        {"Allow": ",".join(allowed)})
    raise RestError(400, f"no handler found for uri [{uri}] and method [{request.method}]")


# Elasticsearch APIs occsim does not serve, by a path segment that names them: refused by name
# (rather than "no handler found", which would say Elasticsearch has no such endpoint).
UNSERVED = {
    "_mapping": "indices.get_mapping / indices.put_mapping", "_mappings": "indices.get_mapping",
    "_settings": "indices.get_settings / indices.put_settings", "_stats": "indices.stats",
    "_aliases": "indices.update_aliases", "_msearch": "msearch", "_scroll": "scroll",
    "_update_by_query": "update_by_query", "_delete_by_query": "delete_by_query",
    "_reindex": "reindex", "_analyze": "indices.analyze", "_explain": "explain",
    "_termvectors": "termvectors", "_mtermvectors": "mtermvectors",
    "_validate": "indices.validate_query", "_field_caps": "field_caps", "_open": "indices.open",
    "_close": "indices.close", "_flush": "indices.flush", "_forcemerge": "indices.forcemerge",
    "_nodes": "nodes", "_snapshot": "snapshot", "_template": "indices.template",
    "_index_template": "indices.index_template", "_ingest": "ingest", "_tasks": "tasks",
    "_sql": "sql", "_search_shards": "search_shards", "_pit": "open_point_in_time",
    "_async_search": "async_search", "_rank_eval": "rank_eval", "_cluster": "cluster",
    "_cat": "cat", "_shrink": "indices.shrink", "_split": "indices.split",
    "_clone": "indices.clone", "_rollover": "indices.rollover", "_data_stream": "data streams",
    "_segments": "indices.segments", "_recovery": "indices.recovery", "_cache": "indices.cache",
    "_upgrade": "indices.upgrade", "_shard_stores": "indices.shard_stores",
}


def _check_content_type(node: Node, request: Request) -> None:
    """6.0 made Content-Type mandatory for request bodies (406 otherwise)."""
    if node.profile.major < 6 or not request.body:
        return
    content_type = request.headers.get("content-type")
    if content_type is None:
        raise RestError(406, "Content-Type header is missing")
    known = _MEDIA_TYPES + (_VENDOR_TYPES if node.profile.vendor_media_types else ())
    if content_type.split(";")[0].strip().lower() not in known:
        raise RestError(406, f"Content-Type header [{content_type}] is not supported")


# -- media types: Accept, Content-Type and `compatible-with` ---------------------------------
@dataclass(frozen=True)
class MediaType:
    """A parsed `Accept` or `Content-Type` value (Elasticsearch's ParsedMediaType)."""

    original: str  # the header as sent (error messages quote it)
    type: str  # `type/subtype`, lower case
    params: dict[str, str]

    @property
    def compatible_with(self) -> int | None:
        value = self.params.get("compatible-with")
        return int(value) if value is not None and value.isdigit() else None


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")


def parse_media_type(value: str | None) -> MediaType | None:
    """ParsedMediaType.parseMediaType: None for no header, `*/*` and media ranges (a comma);
    ValueError (with Elasticsearch's message) for a value that is not `type/subtype;k=v`."""
    if value is None or value.strip() == "*/*" or "," in value:
        return None
    elements = re.split(r"[ \t]*;", value.lower())
    kind = elements[0].split("/")
    if len(kind) != 2 or not all(_TOKEN.fullmatch(part.strip()) for part in kind):
        raise ValueError(f"invalid media-type [{value}]")
    params: dict[str, str] = {}
    for element in elements[1:]:
        text = element.strip()
        if not text:
            continue
        pair = text.split("=")
        if len(pair) != 2 or not pair[0] or not pair[1] or pair[0] != pair[0].rstrip() \
                or pair[1] != pair[1].lstrip():
            raise ValueError(f"invalid parameters for header [{value}]")
        params[pair[0].strip()] = pair[1].strip()
    return MediaType(value, f"{kind[0].strip()}/{kind[1].strip()}", params)


def _media_type_error(headers: tuple[str, ...], cause_type: str, cause: str) -> ElasticsearchError:
    """RestRequest.MediaTypeHeaderException: answered 400 before any routing."""
    return ElasticsearchError(f"Invalid media-type value on headers [{', '.join(headers)}]",
                              status=400, type="media_type_header_exception",
                              caused_by={"type": cause_type, "reason": cause})


def _header(request: Request, name: str, shown: str) -> MediaType | None:
    try:
        return parse_media_type(request.headers.get(name))
    except ValueError as exc:
        raise _media_type_error((shown,), "illegal_argument_exception", str(exc)) from None


def compatible_version(node: Node, accept: MediaType | None, content: MediaType | None,
                       has_content: bool) -> int:
    """RestCompatibleVersionHelper.getCompatibleVersion: the REST API major a request asks
    for with `compatible-with=N`, or the 400 Elasticsearch answers when it cannot serve it."""
    current, minimum = node.profile.rest_api_versions
    asked_accept = accept.compatible_with if accept else None
    asked_content = content.compatible_with if content else None
    accept_version = current if asked_accept is None else asked_accept
    content_version = current if asked_content is None else asked_content
    shown_accept = accept.original if accept else "null"
    shown_content = content.original if content else "null"

    def refuse(reason: str) -> ElasticsearchError:
        return _media_type_error(("Accept", "Content-Type"), "status_exception", reason)

    if not minimum <= accept_version <= current:
        raise refuse(f"Accept version must be either version {current} or {minimum}, but "
                     f"found {accept_version}. Accept={shown_accept}")
    if has_content:
        if not minimum <= content_version <= current:
            raise refuse(f"Content-Type version must be either version {current} or "
                         f"{minimum}, but found {content_version}. "
                         f"Content-Type={shown_content}")
        both = ("A compatible version is required on both Content-Type and Accept headers if "
                "either one has requested a compatible version")
        if content_version != accept_version:
            raise refuse(f"{both} and the compatible versions must match. "
                         f"Accept={shown_accept}, Content-Type={shown_content}")
        if (asked_content is None) != (asked_accept is None):
            raise refuse(f"{both}. Accept={shown_accept}, Content-Type={shown_content}")
        if content_version < current:
            return minimum
    return minimum if accept_version < current else current


def negotiate(node: Node, request: Request) -> str:
    """Check the request's media-type headers as Elasticsearch's RestRequest does (8.0+), and
    pick the answer's Content-Type: the `Accept` header's, else the request body's, else JSON.

    A `compatible-with=N` request is answered `application/vnd.elasticsearch+json;
    compatible-with=N` from 8.0; 7.x reads vendor types as plain JSON and answers plain JSON.
    """
    p = node.profile
    if p.rest_api_versions is None:
        return p.json_media_type
    accept = _header(request, "accept", "Accept")
    content = _header(request, "content-type", "Content-Type")
    version = compatible_version(node, accept, content, bool(request.body))
    for parsed in (accept, content):
        if parsed is not None and parsed.type in _VENDOR_TYPES:
            return f"{_VENDOR}json;compatible-with={version}"
        if parsed is not None and parsed.type in _MEDIA_TYPES:
            break
    return p.json_media_type


# -- parameter rules -----------------------------------------------------------------------
_FORCE_DEPRECATED = "version type FORCE is deprecated and will be removed in the next major version"


def _version_params(node: Node, params: Params, *, write: bool) -> tuple[int, VersionType]:
    version = params.long("version", MATCH_ANY)
    text = params.str("version_type")
    try:
        vt = VersionType.parse(text) if text is not None else VersionType.INTERNAL
    except ValueError as exc:
        raise IllegalArgument(str(exc)) from None
    if vt is VersionType.FORCE and not node.profile.force_version_type and not write:
        raise IllegalArgument("No version type match [force]")
    return version, vt


def _cas_params(node: Node, params: Params) -> tuple[int | None, int | None]:
    if not node.profile.seq_no_cas:
        return None, None
    seq_no = params.long("if_seq_no", UNASSIGNED_SEQ_NO)
    term = params.long("if_primary_term", UNASSIGNED_PRIMARY_TERM)
    if seq_no < 0 and seq_no != UNASSIGNED_SEQ_NO:
        raise IllegalArgument(f"sequence numbers must be non negative. got [{seq_no}].")
    if term < 0:
        raise IllegalArgument(f"primary term must be non negative. got [{term}]")
    return seq_no, term


def _validate_write(node: Node, op: str, doc_id: str | None, version: int, vt: VersionType,
                    seq_no: int, term: int, create: bool) -> None:
    """IndexRequest / DeleteRequest validation, message for message (reference §1.2, §1.9)."""
    errors = write_validation_errors(node, op, doc_id, version, vt, seq_no, term, create)
    if errors:
        raise ValidationError(*errors)


def write_validation_errors(node: Node, op: str, doc_id: str | None, version: int,
                            vt: VersionType, seq_no: int, term: int, create: bool) -> list[str]:
    """The messages of `_validate_write` (a bulk gathers those of all its items)."""
    p = node.profile
    errors: list[str] = []
    if create:
        if vt is not VersionType.INTERNAL:
            return ["create operations only support internal versioning. use index instead"]
        if version != MATCH_ANY:
            return ["create operations do not support explicit versions. use index instead"]
        if seq_no != UNASSIGNED_SEQ_NO or term != UNASSIGNED_PRIMARY_TERM:
            return ["create operations do not support compare and set. use index instead"]
    if doc_id is None and (version != MATCH_ANY or vt is not VersionType.INTERNAL) \
            and p.major >= 7:
        errors.append("an id must be provided if version type or value are set")
    if not create and not valid_for_writes(vt, version):
        errors.append(f"illegal version value [{version}] for version type [{vt.name}]")
    if vt is VersionType.FORCE and not p.force_version_type:
        errors.append("version type [force] may no longer be used")
    if not p.internal_version_occ and vt is VersionType.INTERNAL and version != MATCH_ANY:
        errors.append("internal versioning can not be used for optimistic concurrency "
                      "control. Please use `if_seq_no` and `if_primary_term` instead")
    if seq_no != UNASSIGNED_SEQ_NO and (vt is not VersionType.INTERNAL or version != MATCH_ANY):
        errors.append("compare and write operations can not use versioning")
    if term == UNASSIGNED_PRIMARY_TERM and seq_no != UNASSIGNED_SEQ_NO:
        errors.append("ifSeqNo is set, but primary term is [0]")
    if term != UNASSIGNED_PRIMARY_TERM and seq_no == UNASSIGNED_SEQ_NO:
        errors.append(f"ifSeqNo is unassigned, but primary term is [{term}]")
    # Java's String.getBytes(UTF_8): a lone surrogate becomes one `?`, never an error
    if doc_id is not None and len(doc_id.encode("utf-8", "replace")) > MAX_ID_BYTES:
        size = len(doc_id.encode("utf-8", "replace"))
        errors.append(f"id [{doc_id}] is too long, must be no longer than 512 bytes but was: "
                      f"{size}" if p.major >= 7 else
                      f"id is too long, must be no longer than 512 bytes but was: {size}")
    return errors


def refresh_policy(value: str | None) -> str | None:
    """WriteRequest.RefreshPolicy.parse: None (false), "true" (also ``), or "wait_for"."""
    if value not in (None, "", "true", "false", "wait_for"):
        raise IllegalArgument(f"Unknown value for refresh: [{value}].")
    return {"": "true", "true": "true", "wait_for": "wait_for"}.get(value)


def require_alias(node: Node, params: Params) -> bool:
    """The `require_alias` write parameter (7.10+; earlier, an unrecognized parameter)."""
    return node.profile.require_alias and params.bool("require_alias", False)


def _write_options(params: Params) -> dict:
    refresh = refresh_policy(params.str("refresh"))
    timeout = params.str("timeout")
    active = params.str("wait_for_active_shards")
    wanted: int | str = 1
    if active is not None:
        if active.lower() == "all":
            wanted = "all"
        elif re.fullmatch(r"\d+", active):
            wanted = int(active)
        else:
            raise IllegalArgument(f"cannot parse ActiveShardCount[{active}]")
    params.accept("pipeline")
    return {"timeout": parse_time("timeout", timeout) if timeout else 60.0,
            "wait_for_active_shards": wanted, "refresh": refresh}


def _check_type(node: Node, doc_type: str) -> None:
    """5.x rejects type names starting with `_`; 6.x+ allows exactly `_doc`."""
    if doc_type.startswith("_") and not (doc_type == "_doc" and node.profile.doc_endpoint):
        raise ElasticsearchError(
            f"mapping type name [{doc_type}] can't start with '_'"
            + (" unless it is called [_doc]" if node.profile.doc_endpoint else ""),
            status=400, type="invalid_type_name_exception",
        )


# -- response bodies -----------------------------------------------------------------------
def _head(node: Node, index: str, doc_type: str, doc_id: str) -> dict:
    body = {"_index": index}
    if node.profile.type_in_responses:
        body["_type"] = doc_type
    body["_id"] = doc_id
    return body


def outcome_fields(node: Node, out: WriteOutcome) -> dict:
    """`_version`, `result`, `_shards` and (from 6.x) `_seq_no`/`_primary_term`, in order."""
    body: dict = {"_version": out.version, "result": out.result}
    if out.forced_refresh:
        body["forced_refresh"] = True
    shards = {"total": out.total, "successful": out.successful, "failed": len(out.failures)}
    if out.failures:
        shards["failures"] = out.failures
    body["_shards"] = shards
    if node.profile.seq_no_in_responses:
        body["_seq_no"] = out.seq_no
        body["_primary_term"] = out.term
    return body


def write_response(node: Node, index: str, doc_type: str, doc_id: str, op: str,
                   out: WriteOutcome) -> Response:
    p = node.profile
    body: dict = {}
    if p.created_found_flags and op == DELETE:
        body["found"] = out.result == "deleted"
    body.update(_head(node, index, doc_type, doc_id))
    body.update(outcome_fields(node, out))
    if p.created_found_flags and op == INDEX:
        body["created"] = out.result == "created"
    status = {"created": 201, "not_found": 404}.get(out.result, 200)
    return Response(status, body)


# -- handlers ------------------------------------------------------------------------------
async def root(node: Node, request: Request, params: Params, m: dict) -> Response:
    params.check_consumed()
    p = node.profile
    version: dict = {"number": p.number}
    if p.build_flavor:
        version.update(build_flavor="default", build_type="tar")
    version.update(build_hash=p.build_hash, build_date=p.build_date, build_snapshot=False,
                   lucene_version=p.lucene)
    if p.build_flavor:
        version.update(minimum_wire_compatibility_version=p.min_wire,
                       minimum_index_compatibility_version=p.min_index)
    body = {"name": node.name, "cluster_name": node.state.get("cluster_name", "occsim"),
            "cluster_uuid": node.state.get("cluster_uuid", "_na_"), "version": version,
            "tagline": "You Know, for Search"}
    return Response(200, None if request.method == "HEAD" else body)


async def put_doc(node: Node, request: Request, params: Params, m: dict) -> Response:
    """Index or create a document: PUT/POST with an id, POST without one, `_create`."""
    index, doc_type = m["index"], m.get("type") or "_doc"
    _check_type(node, doc_type)
    doc_id = m.get("id")
    create = bool(m.get("create"))
    op_type = params.str("op_type")
    if op_type is not None:
        if op_type not in ("index", "create"):
            raise IllegalArgument(f"opType must be 'create' or 'index', found: [{op_type}]")
        create = create or op_type == "create"
    alias_only = require_alias(node, params)
    version, vt, seq_no, term, routing, options = _write_conditions(node, params)
    _deprecations(node, params, index, doc_type, version, vt)
    source = parse_source(request, strict_duplicates=node.profile.duplicate_keys_rejected)
    _validate_write(node, INDEX, doc_id, version, vt, seq_no, term, create)
    index = indices.concrete_index(node, index, write=True, require_alias=alias_only)
    if doc_id is None:
        doc_id = node.new_id()
    w = DocWrite(index, doc_type, doc_id, INDEX, source=source, version=version,
                 version_type=vt.value, create=create, routing=routing,
                 if_seq_no=None if seq_no == UNASSIGNED_SEQ_NO else seq_no,
                 if_primary_term=None if seq_no == UNASSIGNED_SEQ_NO else term, **options)
    return write_response(node, index, doc_type, doc_id, INDEX, await node.write(w))


def write_type(node: Node, index: str, doc_type: str | None) -> str | None:
    """The type a delete or update writes under (6.x: `_doc` names the index's type)."""
    if doc_type == "_doc" and node.profile.doc_means_the_index_type:
        return node.state["indices"].get(index, {}).get("type") or doc_type
    return doc_type


def _deprecations(node: Node, params: Params, index: str, doc_type: str, version: int,
                  vt: VersionType) -> None:
    """The deprecation warnings a write's versioning earns: 5.x `force`, 6.7+ internal OCC."""
    p = node.profile
    if vt is VersionType.FORCE and p.force_version_type:
        params.warn(_FORCE_DEPRECATED)
    if p.internal_occ_deprecated and vt is VersionType.INTERNAL and version != MATCH_ANY:
        params.warn("Usage of internal versioning for optimistic concurrency control is "
                    "deprecated and will be removed. Please use the `if_seq_no` and "
                    f"`if_primary_term` parameters instead. (request for index [{index}], "
                    f"type [{doc_type}])")


def _write_conditions(node: Node, params: Params) -> tuple:
    """The parameters every single-document write reads, then the unrecognized-ones check:
    (version, version_type, if_seq_no, if_primary_term, routing, options)."""
    version, vt = _version_params(node, params, write=True)
    seq_no, term = _cas_params(node, params)
    seq_no = UNASSIGNED_SEQ_NO if seq_no is None else seq_no
    term = UNASSIGNED_PRIMARY_TERM if term is None else term
    routing = params.str("routing")
    options = _write_options(params)
    params.check_consumed()
    return version, vt, seq_no, term, routing, options


async def create_doc(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`_create` endpoints: index only if the document does not exist."""
    return await put_doc(node, request, params, {**m, "create": True})


async def delete_doc(node: Node, request: Request, params: Params, m: dict) -> Response:
    index, doc_type, doc_id = m["index"], m["type"], m["id"]
    version, vt, seq_no, term, routing, options = _write_conditions(node, params)
    _deprecations(node, params, index, doc_type, version, vt)
    _validate_write(node, DELETE, doc_id, version, vt, seq_no, term, False)
    index = indices.concrete_index(node, index, write=True)
    if node.profile.major >= 7:
        node.index_meta(index)  # 7.x answers 404; earlier versions auto-create the index
    w = DocWrite(index, write_type(node, index, doc_type), doc_id, DELETE, version=version,
                 version_type=vt.value,
                 routing=routing,
                 if_seq_no=None if seq_no == UNASSIGNED_SEQ_NO else seq_no,
                 if_primary_term=None if seq_no == UNASSIGNED_SEQ_NO else term, **options)
    return write_response(node, index, doc_type, doc_id, DELETE, await node.write(w))


def source_filter(node: Node, params: Params) -> SourceFilter | None:
    """The `_source` URL parameters of a read (their names per generation), or None."""
    source = params.str("_source")
    includes = excludes = None
    for inc_name, exc_name in node.profile.source_filter_params:
        inc, exc = params.str(inc_name), params.str(exc_name)
        includes = inc if includes is None else includes
        excludes = exc if excludes is None else excludes
        for name, value in ((inc_name, inc), (exc_name, exc)):
            if value is not None and not name.endswith("s") and \
                    node.profile.singular_source_params_deprecated:
                params.warn(f"Deprecated field [{name}] used, expected [{name}s] instead")
    return source_params(source, includes, excludes)


def type_mismatch(node: Node, index: str, doc_type: str) -> bool:
    """6.x/7.x: a read naming another type than the index's finds nothing."""
    meta = node.state["indices"].get(index)
    if not node.profile.wrong_type_is_missing or meta is None or doc_type in ("_all", "_doc"):
        return False
    return meta.get("type") not in (None, doc_type)


def doc_fields(node: Node, doc: dict, filt: SourceFilter | None) -> dict:
    """A found document's fields after `_id` in a GET or mget answer."""
    body: dict = {"_version": doc["version"]}
    if node.profile.seq_no_in_responses:
        body["_seq_no"] = doc["seq_no"]
        body["_primary_term"] = doc["term"]
    if doc.get("routing") is not None:
        body["_routing"] = doc["routing"]
    body["found"] = True
    if filt is None or filt.fetch:
        body["_source"] = doc["source"] if filt is None else filt.apply(doc["source"])
    return body


async def read_doc(node: Node, params: Params, m: dict) -> tuple[dict, dict | None]:
    """The GET-style reads (`GET`, `HEAD`, `_source`): their parameters, then the document
    (None: not found) and the answer's head (`_index`, `_type`, `_id`)."""
    index, doc_type, doc_id = m["index"], m.get("type") or "_doc", m["id"]
    version, vt = _version_params(node, params, write=False)
    if not valid_for_reads(vt, version):
        raise ValidationError(f"illegal version value [{version}] for version type [{vt.name}]")
    if vt is VersionType.FORCE and node.profile.force_version_type:
        params.warn(_FORCE_DEPRECATED)
    routing = params.str("routing")
    preference = params.str("preference")
    realtime = params.bool("realtime", True)
    refresh = params.bool("refresh", False)
    stored = params.str("stored_fields")
    m["filter"] = source_filter(node, params)
    if stored is not None and m["filter"] is None and "_source" not in stored.split(","):
        m["filter"] = SourceFilter(False)  # stored fields only (occsim stores none)
    params.check_consumed()
    doc = None
    index = indices.concrete_index(node, index, write=False)
    if refresh and index in node.state["indices"]:
        await node.refresh([index])  # `refresh`: the shard refreshes before the read
    if not type_mismatch(node, index, doc_type):
        doc = await node.get(index, doc_type, doc_id, routing=routing, version=version,
                             version_type=vt.value, local_only=preference == "_only_local",
                             realtime=realtime)
    shown = doc["type"] if doc is not None and node.typed_uids() else doc_type
    return _head(node, index, shown, doc_id), doc


async def get_source(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`GET|HEAD /{index}/_source/{id}` (typed: `/{index}/{type}/{id}/_source`): the source
    alone (HEAD: exists_source)."""
    head, doc = await read_doc(node, params, m)
    if doc is None:
        reason = node.profile.source_not_found(head["_index"], head.get("_type", "_doc"), m["id"])
        if reason is None or request.method == "HEAD":
            return Response(404, None)
        raise ElasticsearchError(reason, status=404, type="resource_not_found_exception")
    filt = m["filter"]
    source = doc["source"] if filt is None else filt.apply(doc["source"])
    return Response(200, None if request.method == "HEAD" else source)


async def get_doc(node: Node, request: Request, params: Params, m: dict) -> Response:
    body, doc = await read_doc(node, params, m)
    head = request.method == "HEAD"
    if doc is None:
        body["found"] = False
        return Response(404, None if head else body)
    body.update(doc_fields(node, doc, m["filter"]))
    return Response(200, None if head else body)


# -- the route table -----------------------------------------------------------------------
def _typed(node: Node, m: dict) -> bool:
    """Typed URLs (a type of the user's choice) exist up to 7.x; `_doc` from 6.x on.

    5.x routes every type here so that a type starting with `_` is refused by name.
    """
    t = m["type"]
    return t == "_doc" or node.profile.major == 5 or (
        node.profile.custom_types and not t.startswith("_"))


def _typeless(node: Node, m: dict) -> bool:
    return node.profile.typeless_endpoints


ROUTES = [
    Route.of("/", GET=root, HEAD=root),
    *cat.ROUTES,
    *bulk.ROUTES,
    *searching.ROUTES,
    *indices.ALIAS_ROUTES,
    Route.of("/{index}/_update/{id}", _typeless, POST=update.update_doc),
    Route.of("/{index}/{type}/{id}/_update", lambda n, m: n.profile.custom_types and _typed(n, m),
             POST=update.update_doc),
    Route.of("/{index}/_create/{id}", _typeless, PUT=create_doc, POST=create_doc),
    Route.of("/{index}/{type}/{id}/_create", lambda n, m: n.profile.custom_types and _typed(n, m),
             PUT=create_doc, POST=create_doc),
    Route.of("/{index}/_source/{id}", _typeless, GET=get_source, HEAD=get_source),
    Route.of("/{index}/{type}/{id}/_source", lambda n, m: n.profile.custom_types and _typed(n, m),
             GET=get_source, HEAD=get_source),
    Route.of("/{index}/{type}/{id}", _typed, PUT=put_doc, POST=put_doc, GET=get_doc,
             HEAD=get_doc, DELETE=delete_doc),
    Route.of("/{index}/{type}", _typed, POST=put_doc),
    *indices.ROUTES,
]
