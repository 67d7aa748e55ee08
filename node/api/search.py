"""The search side of the REST API: `_search`, `_count` and `_refresh`.

A search sees what each shard copy's last refresh made visible, never a later write (GET stays
real-time). The coordinating node picks one copy per shard as Elasticsearch's `preference` says
(by default any started copy, in turn; `_local`, `_only_local`, `_shards:`, a custom string, and
up to 6.x `_primary`, `_primary_first`, `_replica`, `_replica_first`), asks the nodes holding
them to run the query (pure code in `node.search`), then merges, sorts and pages the hits and
shapes the answer of the profile (`hits.total` a number up to 6.x, `{value, relation}` from 7.0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from occsim.node.api import common
from occsim.node.errors import ElasticsearchError, IllegalArgument
from occsim.node.node import murmur3
from occsim.node.rest import Params, Request, Response, Route, parse_object, parse_long
from occsim.node.search import (SourceFilter, SortKey, TextFieldSort, compile_query, parse_sort,
                         parse_sort_param, query_string, sort_hits, sort_values)
from occsim.node.api.update import fields_with_locations, token

if TYPE_CHECKING:
    from occsim.node.node import Node
    from occsim.node.profiles import Profile

MAX_RESULT_WINDOW = 10000  # index.max_result_window
DEFAULT_TRACK_TOTAL_HITS = 10000  # 7.0+
_BODY_KEYS = ("query", "from", "size", "sort", "_source", "version", "seq_no_primary_term",
              "track_total_hits", "timeout", "track_scores", "min_score")
_UNSERVED_KEYS = ("aggs", "aggregations", "highlight", "suggest", "post_filter", "rescore",
                  "collapse", "search_after", "script_fields", "docvalue_fields", "explain",
                  "profile", "slice", "pit", "knn", "runtime_mappings", "fields", "indices_boost",
                  "stored_fields", "terminate_after")
_UNSERVED_PARAMS = ("scroll", "explain", "stored_fields", "docvalue_fields", "terminate_after",
                    "suggest_field", "stats")




# -- which copy serves each shard ------------------------------------------------------------
def choose_copies(node: Node, names: list[str], preference: str | None, *,
                  routing: str | None = None, primaries: bool = False,
                  ) -> tuple[dict[str, list], list[dict], int]:
    """{holder: [[index, shard], ...]}, the failures of shards with no copy to ask, and how
    many shards the search covers (`routing`: only the shards its values route to;
    `primaries`: ask each shard's primary)."""
    p = node.profile
    only_shards: set[int] | None = None
    if preference and preference.startswith("_shards:"):
        listed, _, rest = preference[len("_shards:"):].partition("|")
        only_shards = {int(s) for s in listed.split(",") if s.strip().isdigit()}
        preference = rest or None
    if preference and preference.startswith("_") and preference not in _preferences(p):
        raise IllegalArgument(f"no Preference for [{preference}]")
    targets: dict[str, list] = {}
    failures: list[dict] = []
    total = 0
    for index in names:
        meta = node.index_meta(index)
        routed = None if routing is None else {
            node.shard_of(meta, "", value) for value in routing.split(",") if value}
        for shard, copies in enumerate(meta["routing"]):
            if (only_shards is not None and shard not in only_shards) or (
                    routed is not None and shard not in routed):
                continue
            started = [c for c in [copies["primary"], *copies["replicas"]]
                       if c is not None and c not in copies.get("initializing", ())]
            if preference == "_only_local" and node.name not in started:
                continue
            total += 1
            holder = _pick(node, started, copies["primary"],
                           "_primary" if primaries else preference)
            if holder is None:
                failures.append({"shard": shard, "index": index, "node": None, "reason": {
                    "type": "no_shard_available_action_exception",
                    "reason": f"[{index}][{shard}] no primary shard is active"}})
            else:
                targets.setdefault(holder, []).append([index, shard])
    return targets, failures, total


def _preferences(p: Profile) -> tuple[str, ...]:
    """The `_`-prefixed preferences (7.0 removed the primary/replica ones)."""
    common = ("_local", "_only_local")
    return common + (("_primary", "_primary_first", "_replica", "_replica_first")
                     if p.primary_replica_preferences else ())


def _pick(node: Node, started: list[str], primary: str | None,
          preference: str | None) -> str | None:
    if not started:
        return None
    replicas = [c for c in started if c != primary]
    if preference in ("_local", "_only_local") and node.name in started:
        return node.name
    if preference in ("_primary", "_primary_first"):
        if primary in started:
            return primary
        return None if preference == "_primary" else started[0]
    if preference in ("_replica", "_replica_first"):
        if replicas:
            return replicas[0]
        return None if preference == "_replica" else started[0]
    if preference and not preference.startswith("_"):  # a custom string: the same copy
        return started[murmur3(preference) % len(started)]
    node.search_turn += 1  # any copy: in turn
    return started[node.search_turn % len(started)]


async def run_query(node: Node, names: list[str], query: dict, preference: str | None, *,
                    routing: str | None = None, live: bool = False,
                    ) -> tuple[list[dict], dict]:
    """Every matching hit of the chosen copies, and the `_shards` header (`live`: every
    document the primaries hold, refreshed or not)."""
    targets, failures, total = choose_copies(node, names, preference, routing=routing,
                                             primaries=live)
    hits: list[dict] = []
    searched = 0
    results = await node.on_copies("search", targets, query=query, live=live)
    for holder, result in results.items():
        if isinstance(result, ElasticsearchError) and result.status == 400:
            raise result  # the query itself is bad: every shard refuses it alike
        if isinstance(result, Exception):
            failures.extend({"shard": shard, "index": index, "node": holder, "reason": {
                "type": getattr(result, "type", "node_not_connected_exception"),
                "reason": getattr(result, "reason", str(result))}}
                for index, shard in targets[holder])
            continue
        for index, shard, shard_hits in result:
            searched += 1
            hits.extend({"_index": index, "_shard": shard, **h} for h in shard_hits)
    hits.sort(key=lambda h: (h["_index"], h["_shard"], h["_seq_no"]))
    header = {"total": total, "successful": searched}
    if node.profile.shards_skipped:
        header["skipped"] = 0
    header["failed"] = len(failures)
    if failures:
        header["failures"] = failures
    return hits, header


# -- request parsing -------------------------------------------------------------------------
def _body(node: Node, request: Request) -> dict:
    if not request.body.strip():
        return {}
    body = parse_object(request, strict_duplicates=node.profile.duplicate_keys_rejected)
    for key, value in body.items():
        if key in _UNSERVED_KEYS:
            raise IllegalArgument(f"occsim does not support [{key}] in a search request")
        if key not in _BODY_KEYS:
            raise ElasticsearchError(f"Unknown key for a {token(value)} in [{key}].",
                                     status=400, type="parsing_exception")
    return body


def _int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise IllegalArgument(f"[{name}] must be a number, found [{value}]")
    return parse_long(name, str(value))


def _float(name: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise IllegalArgument(f"[{name}] must be a number, found [{value}]") from None


def _flag(params: Params, body: dict, name: str) -> bool:
    if name in body:
        return body[name] is True or body[name] == "true"
    return params.bool(name, False)


def _total_hits(node: Node, params: Params, body: dict) -> int | bool:
    """`track_total_hits` (7.0+): True for exact, False for none, or the count to stop at."""
    if not node.profile.hits_total_object:
        return True
    value = body.get("track_total_hits", params.str("track_total_hits"))
    if value is None:
        return DEFAULT_TRACK_TOTAL_HITS
    if value in (True, "true"):
        return True
    if value in (False, "false"):
        return False
    return _int("track_total_hits", value)


def _shown_type(node: Node, hit: dict) -> str:
    return node.profile.hit_type(hit.get("_type"),
                                 node.state["indices"].get(hit["_index"], {}).get("type"))


# -- handlers ----------------------------------------------------------------------------------
async def search(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`GET|POST /_search`, `/{index}/_search` (typed up to 7.x)."""
    p = node.profile
    started = node.clock()
    body = _body(node, request)
    q = params.str("q")
    query = body.get("query") if "query" in body else (
        query_string(q) if q is not None else {"match_all": {}})
    start = _int("from", body.get("from", params.str("from", "0")))
    size = _int("size", body.get("size", params.str("size", "10")))
    sort_text = params.str("sort")
    keys: list[SortKey] = parse_sort(body["sort"]) if "sort" in body else (
        parse_sort_param(sort_text) if sort_text else [])
    filt = SourceFilter.parse(body["_source"]) if "_source" in body else \
        common.source_filter(node, params)
    with_version = _flag(params, body, "version")
    with_seq_no = p.seq_no_cas and _flag(params, body, "seq_no_primary_term")
    track = _total_hits(node, params, body)
    as_int = p.hits_total_object and params.bool("rest_total_hits_as_int", False)
    preference = params.str("preference")
    routing = params.str("routing")
    track_scores = _flag(params, body, "track_scores")
    min_score = body.get("min_score", params.str("min_score"))
    for name in _UNSERVED_PARAMS:
        if params.has(name):
            raise IllegalArgument(f"occsim does not support [{name}] in a search request")
    params.accept("search_type", "typed_keys", "ignore_unavailable",
                  "allow_no_indices", "expand_wildcards", "timeout", "request_cache",
                  "analyzer", "default_operator", "df", "lenient", "allow_partial_search_results",
                  "batched_reduce_size", "pre_filter_shard_size", "max_concurrent_shard_requests",
                  "ccs_minimize_roundtrips")
    params.check_consumed()
    if start < 0 or size < 0:
        raise IllegalArgument(f"[{'from' if start < 0 else 'size'}] parameter cannot be "
                              f"negative, found [{start if start < 0 else size}]")
    if start + size > MAX_RESULT_WINDOW:
        raise _window_too_large(start + size)
    compile_query(query, p=p)  # refuse a bad query before asking any shard
    if min_score is not None:
        min_score = _float("min_score", min_score)
    hits, shards = await run_query(node, common.expand(node, m.get("index")), query,
                                   preference, routing=routing)
    if min_score is not None:
        hits = [h for h in hits if h["_score"] >= min_score]
    if m.get("type"):
        hits = [h for h in hits if _shown_type(node, h) == m["type"]]
    if keys:
        try:
            for hit in hits:
                hit["sort"] = sort_values(hit, keys)
        except TextFieldSort as exc:
            raise _search_failure(node, exc.field_name, hits[0]) from None
        hits = sort_hits(hits, keys)
    else:
        hits.sort(key=lambda h: -h["_score"])  # stable: shard order among equal scores
    by_score = not keys or track_scores or any(k.field == "_score" for k in keys)
    page = hits[start:start + size]
    shown = [_hit(node, h, filt, with_version, with_seq_no, by_score, bool(keys))
             for h in page]
    answer: dict = {"took": max(0, int(round((node.clock() - started) * 1000))),
                    "timed_out": False, "_shards": shards}
    section: dict = {}
    total = len(hits)
    if not p.hits_total_object or as_int:
        section["total"] = total
    elif track is not False:
        capped = track is not True and total > track
        section["total"] = {"value": track if capped else total,
                            "relation": "gte" if capped else "eq"}
    section["max_score"] = max((h["_score"] for h in hits), default=None) if by_score \
        else None
    section["hits"] = shown
    answer["hits"] = section
    return Response(200, answer)


def _hit(node: Node, h: dict, filt: SourceFilter | None, with_version: bool,
         with_seq_no: bool, by_score: bool, sorted_: bool) -> dict:
    out: dict = {"_index": h["_index"]}
    if node.profile.type_in_responses:
        out["_type"] = _shown_type(node, h)
    out["_id"] = h["_id"]
    if with_version:
        out["_version"] = h["_version"]
    if with_seq_no:
        out["_seq_no"] = h["_seq_no"]
        out["_primary_term"] = h["_primary_term"]
    out["_score"] = h["_score"] if by_score else None
    if h["_routing"] is not None:
        out["_routing"] = h["_routing"]
    if filt is None or filt.fetch:
        out["_source"] = h["_source"] if filt is None else filt.apply(h["_source"])
    if sorted_:
        out["sort"] = h["sort"]
    return out


class SearchPhaseError(ElasticsearchError):
    """`search_phase_execution_exception`: every shard failed with the same cause."""

    def __init__(self, cause: dict, failed_shards: list[dict]) -> None:
        super().__init__("all shards failed", status=400,
                         type="search_phase_execution_exception",
                         meta={"phase": "query", "grouped": True,
                               "failed_shards": failed_shards}, caused_by=cause)
        self.root = cause

    def body(self) -> dict:
        error = {"root_cause": [self.root], "type": self.type, "reason": self.reason,
                 **self.meta, "caused_by": self.caused_by}
        return {"error": error, "status": self.status}


def _search_failure(node: Node, field_name: str, hit: dict) -> SearchPhaseError:
    cause = {"type": "illegal_argument_exception",
             "reason": node.profile.text_sort_refused(field_name)}
    return SearchPhaseError(cause, [{"shard": hit["_shard"], "index": hit["_index"],
                                     "node": node.name, "reason": cause}])


def _window_too_large(window: int) -> IllegalArgument:
    return IllegalArgument(
        f"Result window is too large, from + size must be less than or equal to: "
        f"[{MAX_RESULT_WINDOW}] but was [{window}]. See the scroll api for a more efficient way "
        "to request large data sets. This limit can be set by changing the "
        "[index.max_result_window] index level setting.")


async def count(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`GET|POST /_count`, `/{index}/_count`: the documents a search would find."""
    params.accept("ignore_unavailable", "allow_no_indices", "expand_wildcards", "analyzer",
                  "analyze_wildcard", "default_operator", "df", "lenient", "ignore_throttled")
    if params.has("terminate_after"):
        raise IllegalArgument("occsim does not support [terminate_after] in a count request")
    min_score = params.str("min_score")
    q = params.str("q")
    preference = params.str("preference")
    routing = params.str("routing")
    query = _count_query(node, request) or (query_string(q) if q is not None
                                            else {"match_all": {}})
    params.check_consumed()
    compile_query(query, p=node.profile)
    hits, shards = await run_query(node, common.expand(node, m.get("index")), query,
                                   preference, routing=routing)
    if m.get("type"):
        hits = [h for h in hits if _shown_type(node, h) == m["type"]]
    if min_score is not None:
        hits = [h for h in hits if h["_score"] >= _float("min_score", min_score)]
    return Response(200, {"count": len(hits), "_shards": shards})


def _count_query(node: Node, request: Request) -> dict | None:
    """RestActions.getQueryContent: a body holds `query` and nothing else."""
    if not request.body.strip():
        return None
    body = parse_object(request, strict_duplicates=node.profile.duplicate_keys_rejected)
    for name, _, name_at, _ in fields_with_locations(request.body.decode("utf-8")):
        if name != "query":
            line, col = name_at.split(":")
            raise ElasticsearchError(f"request does not support [{name}]", status=400,
                                     type="parsing_exception",
                                     meta={"line": int(line), "col": int(col)})
    return body.get("query")


async def refresh(node: Node, request: Request, params: Params, m: dict) -> Response:
    """`POST|GET /_refresh`, `/{index}/_refresh`: every copy's search view catches up."""
    params.accept("ignore_unavailable", "allow_no_indices", "expand_wildcards",
                  "ignore_throttled")
    params.check_consumed()
    shards = await node.refresh(common.expand(node, m.get("index")))
    header = {"total": shards["total"], "successful": shards["successful"],
              "failed": shards["failed"]}
    if shards["failures"]:
        header["failures"] = [{"shard": f["shard"], "index": f["index"], "status": f["status"],
                               "reason": f["reason"]} for f in shards["failures"]]
    return Response(200, {"_shards": header})


def _with_types(node: Node, m: dict) -> bool:
    return node.profile.custom_types and not m["type"].startswith("_")


ROUTES = [
    Route.of("/_refresh", GET=refresh, POST=refresh),
    Route.of("/{index}/_refresh", GET=refresh, POST=refresh),
    Route.of("/_count", GET=count, POST=count),
    Route.of("/{index}/_count", GET=count, POST=count),
    Route.of("/{index}/{type}/_count", _with_types, GET=count, POST=count),
    Route.of("/_search", GET=search, POST=search),
    Route.of("/{index}/_search", GET=search, POST=search),
    Route.of("/{index}/{type}/_search", _with_types, GET=search, POST=search),
]
