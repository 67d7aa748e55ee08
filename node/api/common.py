"""What the REST handlers share: the parameter rules of a write or a read, the response fields
of a document, and the concrete indices a name reaches (an index, an alias, a wildcard).

Every name here is public; the handler modules (document, bulk, update, search, cat, indices)
import it, and this module imports none of them.
"""

from __future__ import annotations

import re

from occsim.node.engine import DELETE, INDEX
from occsim.node.errors import ElasticsearchError, IllegalArgument, IndexNotFound, ValidationError
from occsim.node.node import Node, WriteOutcome
from occsim.node.rest import Params, Response, parse_time
from occsim.node.search import SourceFilter, source_params
from occsim.node.versioning import (FORCE, INTERNAL, MATCH_ANY, UNASSIGNED_PRIMARY_TERM,
                                    UNASSIGNED_SEQ_NO, VersionType, valid_for_writes)


# -- names: aliases and wildcards --------------------------------------------------------------
def alias_targets(node: Node, name: str) -> list[str]:
    """The indices an alias points to, in name order (none: `name` is no alias)."""
    return _aliases(node.state["indices"]).get(name, [])

_ALIASES: list = [None, {}]  # the table of indices last asked about, and its aliases

def _aliases(indices: dict) -> dict[str, list[str]]:
    """Every alias of a cluster state's indices, once per state (a state's table of indices
    is never changed, only replaced by the next state's)."""
    if _ALIASES[0] is not indices:
        aliases: dict[str, list[str]] = {}
        for index, meta in sorted(indices.items()):
            for alias in meta.get("aliases", ()):
                aliases.setdefault(alias, []).append(index)
        _ALIASES[:] = [indices, aliases]
    return _ALIASES[1]

def concrete_index(node: Node, name: str, *, write: bool, require_alias: bool = False) -> str:
    """The index a single-document request reaches through `name` (an index or an alias)."""
    targets = alias_targets(node, name)
    if require_alias and not targets:
        raise IndexNotFound(name, f"no such index [{name}] and [require_alias] request flag is "
                                  f"[true] and [{name}] is not an alias")
    if not targets:
        return name
    if len(targets) > 1:
        if write and node.profile.write_index_message:
            raise IllegalArgument(
                f"no write index is defined for alias [{name}]. The write index may be "
                "explicitly disabled using is_write_index=false or the alias points to multiple "
                "indices without one being designated as a write index")
        raise IllegalArgument(f"Alias [{name}] has more than one indices associated with it "
                              f"[[{', '.join(targets)}]], can't execute a single index op")
    return targets[0]

def expand(node: Node, names: str | None, *, missing_ok: bool = False) -> list[str]:
    """The concrete indices of a multi-index expression: `_all`, `*`, wildcards, aliases and
    comma lists; a named index that does not exist is a 404."""
    indices = node.state["indices"]
    if names is None or names in ("_all", "*"):
        return sorted(indices)
    out: list[str] = []
    for part in names.split(","):
        if "*" in part:
            pattern = re.compile(re.escape(part).replace(r"\*", ".*"))
            found = [n for n in sorted(indices) if pattern.fullmatch(n)]
        elif part in indices:
            found = [part]
        else:
            found = alias_targets(node, part)
            if not found and not missing_ok:
                raise IndexNotFound(part, node.profile.no_such_index(part))
        out.extend(n for n in found if n not in out)
    return out


# -- parameter rules -----------------------------------------------------------------------
MAX_ID_BYTES = 512

# -- parameter rules -----------------------------------------------------------------------
FORCE_DEPRECATED = "version type FORCE is deprecated and will be removed in the next major version"

def version_params(node: Node, params: Params, *, write: bool) -> tuple[int, VersionType]:
    version = params.long("version", MATCH_ANY)
    text = params.str("version_type")
    try:
        vt = VersionType.parse(text) if text is not None else INTERNAL
    except ValueError as exc:
        raise IllegalArgument(str(exc)) from None
    if vt is FORCE and not node.profile.force_version_type and not write:
        raise IllegalArgument("No version type match [force]")
    return version, vt

def cas_params(node: Node, params: Params) -> tuple[int | None, int | None]:
    if not node.profile.seq_no_cas:
        return None, None
    seq_no = params.long("if_seq_no", UNASSIGNED_SEQ_NO)
    term = params.long("if_primary_term", UNASSIGNED_PRIMARY_TERM)
    if seq_no < 0 and seq_no != UNASSIGNED_SEQ_NO:
        raise IllegalArgument(f"sequence numbers must be non negative. got [{seq_no}].")
    if term < 0:
        raise IllegalArgument(f"primary term must be non negative. got [{term}]")
    return seq_no, term

def validate_write(node: Node, op: str, doc_id: str | None, version: int, vt: VersionType,
                    seq_no: int, term: int, create: bool) -> None:
    """IndexRequest / DeleteRequest validation, message for message (reference §1.2, §1.9)."""
    errors = write_validation_errors(node, op, doc_id, version, vt, seq_no, term, create)
    if errors:
        raise ValidationError(*errors)

def write_validation_errors(node: Node, op: str, doc_id: str | None, version: int,
                            vt: VersionType, seq_no: int, term: int, create: bool) -> list[str]:
    """The messages of `validate_write` (a bulk gathers those of all its items)."""
    p = node.profile
    errors: list[str] = []
    if create:
        if vt is not INTERNAL:
            return ["create operations only support internal versioning. use index instead"]
        if version != MATCH_ANY:
            return ["create operations do not support explicit versions. use index instead"]
        if seq_no != UNASSIGNED_SEQ_NO or term != UNASSIGNED_PRIMARY_TERM:
            return ["create operations do not support compare and set. use index instead"]
    if doc_id is None and (version != MATCH_ANY or vt is not INTERNAL) \
            and p.versioned_write_needs_id:
        errors.append("an id must be provided if version type or value are set")
    if not create and not valid_for_writes(vt, version):
        errors.append(f"illegal version value [{version}] for version type [{vt.name}]")
    if vt is FORCE and not p.force_version_type:
        errors.append("version type [force] may no longer be used")
    if not p.internal_version_occ and vt is INTERNAL and version != MATCH_ANY:
        errors.append("internal versioning can not be used for optimistic concurrency "
                      "control. Please use `if_seq_no` and `if_primary_term` instead")
    if seq_no != UNASSIGNED_SEQ_NO and (vt is not INTERNAL or version != MATCH_ANY):
        errors.append("compare and write operations can not use versioning")
    if term == UNASSIGNED_PRIMARY_TERM and seq_no != UNASSIGNED_SEQ_NO:
        errors.append("ifSeqNo is set, but primary term is [0]")
    if term != UNASSIGNED_PRIMARY_TERM and seq_no == UNASSIGNED_SEQ_NO:
        errors.append(f"ifSeqNo is unassigned, but primary term is [{term}]")
    # Java's String.getBytes(UTF_8): a lone surrogate becomes one `?`, never an error
    if doc_id is not None and len(doc_id.encode("utf-8", "replace")) > MAX_ID_BYTES:
        size = len(doc_id.encode("utf-8", "replace"))
        errors.append(p.id_too_long(doc_id, size))
    return errors

def refresh_policy(value: str | None) -> str | None:
    """WriteRequest.RefreshPolicy.parse: None (false), "true" (also ``), or "wait_for"."""
    if value not in (None, "", "true", "false", "wait_for"):
        raise IllegalArgument(f"Unknown value for refresh: [{value}].")
    return _REFRESH_POLICIES.get(value)

_REFRESH_POLICIES = {"": "true", "true": "true", "wait_for": "wait_for"}  # else None

def require_alias(node: Node, params: Params) -> bool:
    """The `require_alias` write parameter (7.10+; earlier, an unrecognized parameter)."""
    return node.profile.require_alias and params.bool("require_alias", False)

def write_options(params: Params) -> dict:
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

def check_type(node: Node, doc_type: str) -> None:
    """5.x rejects type names starting with `_`; 6.x+ allows exactly `_doc`."""
    if doc_type.startswith("_") and not (doc_type == "_doc" and node.profile.doc_endpoint):
        raise ElasticsearchError(
            f"mapping type name [{doc_type}] can't start with '_'"
            + (" unless it is called [_doc]" if node.profile.doc_endpoint else ""),
            status=400, type="invalid_type_name_exception",
        )

# -- response bodies -----------------------------------------------------------------------
def doc_head(node: Node, index: str, doc_type: str, doc_id: str) -> dict:
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
    body.update(doc_head(node, index, doc_type, doc_id))
    body.update(outcome_fields(node, out))
    if p.created_found_flags and op == INDEX:
        body["created"] = out.result == "created"
    return Response(_WRITE_STATUS.get(out.result, 200), body)

_WRITE_STATUS = {"created": 201, "not_found": 404}  # else 200

def write_type(node: Node, index: str, doc_type: str | None) -> str | None:
    """The type a delete or update writes under (6.x: `_doc` names the index's type)."""
    if doc_type == "_doc" and node.profile.doc_means_the_index_type:
        return node.state["indices"].get(index, {}).get("type") or doc_type
    return doc_type

def deprecations(node: Node, params: Params, index: str, doc_type: str, version: int,
                  vt: VersionType) -> None:
    """The deprecation warnings a write's versioning earns: 5.x `force`, 6.7+ internal OCC."""
    p = node.profile
    if vt is FORCE and p.force_version_type:
        params.warn(FORCE_DEPRECATED)
    if p.internal_occ_deprecated and vt is INTERNAL and version != MATCH_ANY:
        params.warn("Usage of internal versioning for optimistic concurrency control is "
                    "deprecated and will be removed. Please use the `if_seq_no` and "
                    f"`if_primary_term` parameters instead. (request for index [{index}], "
                    f"type [{doc_type}])")

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
