"""The Elasticsearch REST API of a node: its route table and `dispatch`.

`dispatch(node, request)` is the whole API: it finds the route Elasticsearch of the node's
profile has for the method and path, negotiates the media types, calls the handler (modules
document, bulk, update, search, indices, cat; the only place that imports them all), and turns
errors into Elasticsearch-shaped bodies, here and nowhere else.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from occsim.node.api import bulk, cat, indices, search as searching, update
from occsim.node.api.document import create_doc, delete_doc, get_doc, get_source, put_doc, root
from occsim.node.errors import ElasticsearchError, IllegalArgument, RestError
from occsim.node.node import INITIAL_STATE_TIMEOUT, Node
from occsim.node.rest import (Request, Response, Route, error_response, Params, path_segments,
                              to_yaml)
from occsim.transport.message import TransportError
from occsim.transport.recorder import ABSENT

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
        traced = (request.actor, request.method, request.describe(),
                  request.headers.get("x-occsim-rid"))  # client, method, path, msg
        node.recorder.add("client_request", (*traced, m.get("index"), m.get("id")))
    media_type = node.profile.json_media_type
    params = Params(request)
    try:
        if not node.joined():
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
        _record_response(node, traced, response, m)
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

def _record_response(node: Node, traced: tuple, response: Response, route: dict) -> None:
    """The `response` event: the request's fields as its `client_request` has them (client,
    method, path, msg), what the body says of the document (else the route's index and id),
    the error's reason."""
    client, method, path, msg = traced
    body = response.body if isinstance(response.body, dict) else {}
    get = body.get
    error = get("error")
    node.recorder.add("response", (  # recorder.SHAPES["response"]
        client, response.status, method, path, msg, get("result", ABSENT),
        get("_index", route.get("index")), get("_id", route.get("id")),
        get("_version", ABSENT), get("_seq_no", ABSENT), get("_primary_term", ABSENT),
        error.get("reason") if isinstance(error, dict) else ABSENT))

def _resolve(node: Node, request: Request) -> tuple:
    """The handler Elasticsearch of this profile has for the method and path."""
    allowed: list[str] = []
    segments = path_segments(request.path)
    for route in _candidates(segments):
        m = route.bind(segments)
        if m is None or not route.when(node, m):
            continue
        handler = route.methods.get(request.method)
        if handler is None:
            allowed.extend(m for m in route.methods if m not in allowed)
            continue
        if m.get("index") in UNSERVED or m.get("type") in UNSERVED:  # `/_mapping` is no index
            break
        return handler, m
    uri = request.describe()
    unserved = next((UNSERVED[s] for s in request.path.split("/") if s in UNSERVED), None)
    if unserved is not None:
        raise IllegalArgument(f"occsim does not serve the Elasticsearch API [{unserved}] "
                              f"([{request.method} {request.path}]); see the README for the APIs "
                              "it serves")
    if allowed and node.profile.wrong_method_is_405:
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
    if not node.profile.content_type_required or not request.body:
        return
    content_type = request.headers.get("content-type")
    if content_type is None:
        raise RestError(406, "Content-Type header is missing")
    if content_type in _MEDIA_TYPES:  # the usual header: one media type, no parameters
        return
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

# -- the route table -----------------------------------------------------------------------
def _typed(node: Node, m: dict) -> bool:
    """Typed URLs (a type of the user's choice) exist up to 7.x; `_doc` from 6.x on.

    5.x routes every type here so that a type starting with `_` is refused by name.
    """
    t = m["type"]
    return t == "_doc" or not node.profile.doc_endpoint or (
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
_BY_LENGTH: dict[int, list[Route]] = {}  # the routes in order, by their number of segments
for route in ROUTES:
    _BY_LENGTH.setdefault(len(route.segments), []).append(route)
_LITERALS = {text: text for route in ROUTES for _, text in route.literals}

def _candidates(segments: tuple[str, ...] | None) -> tuple[Route, ...]:
    """The routes, in table order, whose literal segments a path has."""
    if segments is None or len(segments) not in _BY_LENGTH:
        return ()
    return _fitting(tuple(map(_LITERALS.get, segments)))  # each literal as is, others None

@functools.lru_cache(maxsize=1024)
def _fitting(shape: tuple[str | None, ...]) -> tuple[Route, ...]:
    """`_candidates` by the path's shape (`Route.fits`): a few shapes stand for every path."""
    return tuple(route for route in _BY_LENGTH[len(shape)] if route.fits(shape))
