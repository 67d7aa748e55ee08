"""Single-document calls: index, create, delete, get, `_source`, and the root `GET /`.

The parameters are read and validated exactly as Elasticsearch's REST actions and request
validation do (the rules shared with bulk and update are in `common`), then the `Node` is called
and the answer shaped per profile.
"""

from __future__ import annotations

from occsim.node.api import common
from occsim.node.api.common import (FORCE_DEPRECATED, cas_params, deprecations, doc_fields,
                                    doc_head, require_alias, source_filter, type_mismatch,
                                    validate_write, version_params, write_options,
                                    write_response, write_type, check_type)
from occsim.node.engine import DELETE, INDEX
from occsim.node.errors import ElasticsearchError, IllegalArgument, ValidationError
from occsim.node.node import DocWrite, Node
from occsim.node.rest import Params, Request, Response, parse_source
from occsim.node.search import SourceFilter
from occsim.node.versioning import (UNASSIGNED_PRIMARY_TERM, UNASSIGNED_SEQ_NO, VersionType,
                                    valid_for_reads)


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
    check_type(node, doc_type)
    doc_id = m.get("id")
    create = bool(m.get("create"))
    op_type = params.str("op_type")
    if op_type is not None:
        if op_type not in ("index", "create"):
            raise IllegalArgument(f"opType must be 'create' or 'index', found: [{op_type}]")
        create = create or op_type == "create"
    alias_only = require_alias(node, params)
    version, vt, seq_no, term, routing, options = _write_conditions(node, params)
    deprecations(node, params, index, doc_type, version, vt)
    source = parse_source(request, strict_duplicates=node.profile.duplicate_keys_rejected)
    validate_write(node, INDEX, doc_id, version, vt, seq_no, term, create)
    index = common.concrete_index(node, index, write=True, require_alias=alias_only)
    if doc_id is None:
        doc_id = node.new_id()
    w = DocWrite(index, doc_type, doc_id, INDEX, source=source, version=version,
                 version_type=vt.value, create=create, routing=routing,
                 if_seq_no=None if seq_no == UNASSIGNED_SEQ_NO else seq_no,
                 if_primary_term=None if seq_no == UNASSIGNED_SEQ_NO else term, **options)
    return write_response(node, index, doc_type, doc_id, INDEX, await node.write(w))

def _write_conditions(node: Node, params: Params) -> tuple:
    """The parameters every single-document write reads, then the unrecognized-ones check:
    (version, version_type, if_seq_no, if_primary_term, routing, options). Without a query
    string, what a profile reads is read once (`options` is never changed, only copied)."""
    if not params.given():
        conditions = _NO_PARAMETERS.get(node.profile)
        if conditions is None:
            conditions = _NO_PARAMETERS[node.profile] = _read_write_conditions(node, params)
        return conditions
    return _read_write_conditions(node, params)

_NO_PARAMETERS: dict = {}  # by profile: the conditions of a write without a query string

def _read_write_conditions(node: Node, params: Params) -> tuple:
    version, vt = version_params(node, params, write=True)
    seq_no, term = cas_params(node, params)
    seq_no = UNASSIGNED_SEQ_NO if seq_no is None else seq_no
    term = UNASSIGNED_PRIMARY_TERM if term is None else term
    routing = params.str("routing")
    options = write_options(params)
    params.check_consumed()
    return version, vt, seq_no, term, routing, options

async def create_doc(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`_create` endpoints: index only if the document does not exist."""
    return await put_doc(node, request, params, {**m, "create": True})

async def delete_doc(node: Node, request: Request, params: Params, m: dict) -> Response:
    index, doc_type, doc_id = m["index"], m["type"], m["id"]
    version, vt, seq_no, term, routing, options = _write_conditions(node, params)
    deprecations(node, params, index, doc_type, version, vt)
    validate_write(node, DELETE, doc_id, version, vt, seq_no, term, False)
    index = common.concrete_index(node, index, write=True)
    if not node.profile.delete_creates_index:
        node.index_meta(index)  # 7.x answers 404; earlier versions auto-create the index
    w = DocWrite(index, write_type(node, index, doc_type), doc_id, DELETE, version=version,
                 version_type=vt.value,
                 routing=routing,
                 if_seq_no=None if seq_no == UNASSIGNED_SEQ_NO else seq_no,
                 if_primary_term=None if seq_no == UNASSIGNED_SEQ_NO else term, **options)
    return write_response(node, index, doc_type, doc_id, DELETE, await node.write(w))

async def read_doc(node: Node, params: Params, m: dict) -> tuple[dict, dict | None]:
    """The GET-style reads (`GET`, `HEAD`, `_source`): their parameters, then the document
    (None: not found) and the answer's head (`_index`, `_type`, `_id`)."""
    index, doc_type, doc_id = m["index"], m.get("type") or "_doc", m["id"]
    version, vt = version_params(node, params, write=False)
    if not valid_for_reads(vt, version):
        raise ValidationError(f"illegal version value [{version}] for version type [{vt.name}]")
    if vt is VersionType.FORCE and node.profile.force_version_type:
        params.warn(FORCE_DEPRECATED)
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
    index = common.concrete_index(node, index, write=False)
    if refresh and index in node.state["indices"]:
        await node.refresh([index])  # `refresh`: the shard refreshes before the read
    if not type_mismatch(node, index, doc_type):
        doc = await node.get(index, doc_type, doc_id, routing=routing, version=version,
                             version_type=vt.value, local_only=preference == "_only_local",
                             realtime=realtime)
    shown = doc["type"] if doc is not None and node.typed_uids() else doc_type
    return doc_head(node, index, shown, doc_id), doc

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
