"""Search as pure code: `_source` filtering, query evaluation, sorting and paging of hits.

Nothing here knows about nodes, shards or HTTP: a `SourceFilter` trims a document's source the
way Elasticsearch's `_source` includes/excludes do (wildcards, whole objects by their path), and
`compile_query` turns a query DSL object into a predicate over a document (match_all, ids, term,
terms, match, range, bool), failing with the `parsing_exception` Elasticsearch gives for a query
it does not know. The REST layer reads the parameters; the node runs the predicate on the copies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from occsim.node.errors import ElasticsearchError, IllegalArgument
from occsim.node.profiles import Profile


# -- _source filtering -----------------------------------------------------------------------
def _pattern(text: str) -> re.Pattern:
    """Elasticsearch's simple wildcard match: `*` matches anything, dots included."""
    return re.compile(".*".join(re.escape(part) for part in text.split("*")))


@dataclass(frozen=True)
class SourceFilter:
    """What of `_source` a response carries: nothing (`fetch=False`), all, or a filtered part."""

    fetch: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    @property
    def filters(self) -> bool:
        return bool(self.includes or self.excludes)

    def apply(self, source: dict) -> dict:
        if not self.filters:
            return source
        inc = [(p, _pattern(p)) for p in self.includes]
        exc = [_pattern(p) for p in self.excludes]
        return _filter(source, "", inc, exc, not inc)

    @classmethod
    def parse(cls, value: object) -> SourceFilter:
        """A `_source` value of a request body: a boolean, a field pattern, a list of them, or
        `{"includes": …, "excludes": …}` (`include`/`exclude` accepted too)."""
        if isinstance(value, bool) or value in ("true", "false"):
            return cls(value in (True, "true"))
        if isinstance(value, str):
            return cls(True, (value,))
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return cls(True, tuple(value))
        if isinstance(value, dict):
            parts: dict[str, tuple[str, ...]] = {"includes": (), "excludes": ()}
            for key, patterns in value.items():
                name = {"include": "includes", "exclude": "excludes"}.get(key, key)
                if name not in parts:
                    raise ElasticsearchError(f"Unknown key for a START_ARRAY in [{key}].",
                                             status=400, type="parsing_exception")
                patterns = [patterns] if isinstance(patterns, str) else patterns
                if not isinstance(patterns, list) or not all(isinstance(p, str)
                                                             for p in patterns):
                    raise ElasticsearchError(f"Unknown key for a VALUE_NUMBER in [{key}].",
                                             status=400, type="parsing_exception")
                parts[name] = tuple(patterns)
            return cls(True, parts["includes"], parts["excludes"])
        raise ElasticsearchError("Expected one of [VALUE_BOOLEAN, VALUE_STRING, START_ARRAY, "
                                 f"START_OBJECT] but found [{type(value).__name__}]",
                                 status=400, type="parsing_exception")


def _filter(obj: dict, prefix: str, inc: list, exc: list, included: bool) -> dict:
    out: dict = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if any(p.fullmatch(path) for p in exc):
            continue
        whole = included or any(p.fullmatch(path) for _, p in inc)
        deeper = not whole and any(_below(text, path) for text, _ in inc)
        if not (whole or deeper):
            continue
        if isinstance(value, dict):
            inner = _filter(value, path + ".", inc, exc, whole)
            if whole or inner:
                out[key] = inner
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            kept = [_filter(v, path + ".", inc, exc, whole) if isinstance(v, dict) else v
                    for v in value if isinstance(v, dict) or whole]
            kept = [v for v in kept if v != {} or whole]
            if whole or kept:
                out[key] = kept
        elif whole:
            out[key] = value
    return out


def _below(pattern: str, path: str) -> bool:
    """Whether an include pattern could match a field inside the object at `path`."""
    if "*" not in pattern:
        return pattern.startswith(path + ".")
    literal = pattern.split("*")[0]
    return literal.startswith(path + ".") or (path + ".").startswith(literal)


def source_params(source: str | None, includes: str | None,
                  excludes: str | None) -> SourceFilter | None:
    """FetchSourceContext.parseFromRestRequest: the `_source`, includes and excludes URL
    parameters (names per generation), or None when none was given (the default applies)."""
    fetch: bool | None = None
    inc: tuple[str, ...] = ()
    if source is not None:
        if source in ("true", ""):
            fetch = True
        elif source == "false":
            fetch = False
        else:
            inc = tuple(s for s in source.split(",") if s)
    if includes is not None:
        inc = tuple(s for s in includes.split(",") if s)
    exc = tuple(s for s in excludes.split(",") if s) if excludes is not None else ()
    if fetch is None and not inc and not exc:
        return None
    return SourceFilter(True if fetch is None else fetch, inc, exc)


# -- documents as a dynamic mapping sees them --------------------------------------------------
def field_values(source: dict, path: str) -> list:
    """The leaf values at a dotted path (arrays flattened); `x.keyword` reads the string `x`."""
    if path == "*":
        return _walk_all(source)
    keyword = path.endswith(".keyword")
    values = _walk(source, path.split("."))
    if keyword and not values:
        values = [v for v in _walk(source, path[:-len(".keyword")].split("."))
                  if isinstance(v, str)]
    return values


def _walk_all(obj: object) -> list:
    if isinstance(obj, dict):
        return [v for item in obj.values() for v in _walk_all(item)]
    if isinstance(obj, list):
        return [v for item in obj for v in _walk_all(item)]
    return [] if obj is None else [obj]


def _walk(obj: object, parts: list[str]) -> list:
    if not parts:
        if isinstance(obj, list):
            return [v for item in obj for v in _walk(item, [])]
        return [] if obj is None or isinstance(obj, dict) else [obj]
    if isinstance(obj, list):
        return [v for item in obj for v in _walk(item, parts)]
    if not isinstance(obj, dict):
        return []
    for i in range(len(parts), 0, -1):  # `a.b` may be one key with a dot in it
        key = ".".join(parts[:i])
        if key in obj:
            return _walk(obj[key], parts[i:])
    return []


def analyze(text: str) -> list[str]:
    """A simple analyser: lower-case words (Elasticsearch's standard analyser, roughly)."""
    return re.findall(r"\w+", text.lower())


def _is_text(path: str, value: object) -> bool:
    """A string under a dynamic mapping is a `text` field (its `.keyword` is exact)."""
    return isinstance(value, str) and not path.endswith(".keyword")


def _same(value: object, wanted: object) -> bool:
    """A term's equality on a non-text field, coercing as Elasticsearch's field types do."""
    if isinstance(value, bool) or isinstance(wanted, bool):
        return str(value).lower() == str(wanted).lower()
    if isinstance(value, (int, float)):
        try:
            return float(value) == float(wanted)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    return value == wanted


# -- queries ---------------------------------------------------------------------------------
Matcher = Callable[[str, dict], "float | None"]  # (id, source) -> score, None: no match

SERVED_QUERIES = ("match_all", "match_none", "ids", "term", "terms", "match", "range", "exists",
                  "bool", "constant_score")
# Queries Elasticsearch has that occsim does not evaluate: refused by name, never guessed.
KNOWN_QUERIES = ("prefix", "wildcard", "regexp", "fuzzy", "query_string", "simple_query_string",
                 "match_phrase", "match_phrase_prefix", "multi_match", "nested", "has_child",
                 "has_parent", "dis_max", "function_score", "boosting", "more_like_this",
                 "script", "script_score", "terms_set", "wrapper", "span_term", "span_near",
                 "intervals", "geo_distance", "geo_bounding_box", "geo_shape", "common", "type",
                 "parent_id", "percolate", "match_bool_prefix", "combined_fields", "pinned",
                 "distance_feature", "rank_feature")


def parsing_error(reason: str) -> ElasticsearchError:
    return ElasticsearchError(reason, status=400, type="parsing_exception")


def compile_query(query: object, *, p: Profile) -> Matcher:
    """A query DSL object as a matcher; unknown queries fail as Elasticsearch's parser does
    (5.x: `no [query] registered for [x]`, later `unknown query [x]`)."""
    if not isinstance(query, dict) or len(query) != 1:
        raise parsing_error("[_na] query malformed, must start with start_object"
                            if not isinstance(query, dict) else
                            "[_na] query malformed, no start_object after query name")
    (kind, clause), = query.items()
    if kind in SERVED_QUERIES:
        try:
            return _COMPILERS[kind](clause, p)
        except (TypeError, ValueError, AttributeError):  # a value of the wrong JSON type
            raise parsing_error(f"[{kind}] query malformed") from None
    if kind in KNOWN_QUERIES:
        raise IllegalArgument(f"occsim evaluates the queries [{', '.join(SERVED_QUERIES)}] "
                              f"only: the [{kind}] query is not supported")
    raise parsing_error(p.unknown_query(kind))


def _field_clause(kind: str, clause: object, value_key: str) -> tuple[str, object, dict]:
    """`{field: value}` or `{field: {value_key: value, ...}}` -> (field, value, options)."""
    if not isinstance(clause, dict) or len(clause) != 1:
        raise parsing_error(f"[{kind}] query doesn't support multiple fields, found "
                            f"[{', '.join(clause)}]" if isinstance(clause, dict) and clause
                            else f"[{kind}] query malformed, no field")
    (name, spec), = clause.items()
    if isinstance(spec, dict):
        if value_key not in spec:
            raise parsing_error(f"[{kind}] query does not support [{next(iter(spec), '')}]"
                                if spec else f"No value specified for {kind} query")
        return name, spec[value_key], spec
    return name, spec, {}


def _match_all(clause: object, p: Profile) -> Matcher:
    boost = float(clause.get("boost", 1.0)) if isinstance(clause, dict) else 1.0
    return lambda doc_id, source: boost


def _match_none(clause: object, p: Profile) -> Matcher:
    return lambda doc_id, source: None


def _ids(clause: object, p: Profile) -> Matcher:
    values = clause.get("values", []) if isinstance(clause, dict) else None
    if not isinstance(values, list):
        raise parsing_error("[ids] query malformed, no values")
    wanted = {str(v) for v in values}
    return lambda doc_id, source: 1.0 if doc_id in wanted else None


def _term(clause: object, p: Profile) -> Matcher:
    name, wanted, _ = _field_clause("term", clause, "value")
    return _terms_matcher(name, [wanted])


def _terms(clause: object, p: Profile) -> Matcher:
    fields = {k: v for k, v in clause.items() if k != "boost"} if isinstance(clause, dict) else {}
    if len(fields) != 1 or not isinstance(next(iter(fields.values())), list):
        raise parsing_error("[terms] query does not support multiple fields" if len(fields) > 1
                            else "[terms] query requires an array of values")
    (name, values), = fields.items()
    return _terms_matcher(name, values)


def _terms_matcher(name: str, wanted: list) -> Matcher:
    def match(doc_id: str, source: dict) -> float | None:
        for value in field_values(source, name):
            if _is_text(name, value):
                if any(str(w) in analyze(value) for w in wanted):
                    return 1.0
            elif any(_same(value, w) for w in wanted):
                return 1.0
        return None
    return match


def _match(clause: object, p: Profile) -> Matcher:
    name, text, options = _field_clause("match", clause, "query")
    operator = str(options.get("operator", "or")).lower()
    if operator not in ("or", "and"):
        raise IllegalArgument(f"No enum constant org.elasticsearch.index.query.Operator."
                              f"{operator.upper()}")
    tokens = analyze(str(text)) if not isinstance(text, bool) else [str(text).lower()]

    def match(doc_id: str, source: dict) -> float | None:
        values = field_values(source, name)
        if any(_is_text(name, v) for v in values):
            held = {t for v in values if isinstance(v, str) for t in analyze(v)}
            hits = [t in held for t in tokens]
            ok = all(hits) if operator == "and" else any(hits)
            return 1.0 if ok and tokens else None
        return 1.0 if any(_same(v, text) for v in values) else None
    return match


_RANGE_OPS = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
              "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}


def _range(clause: object, p: Profile) -> Matcher:
    if not isinstance(clause, dict) or len(clause) != 1 or \
            not isinstance(next(iter(clause.values())), dict):
        raise parsing_error("[range] query malformed, no start_object after query name")
    (name, spec), = clause.items()
    bounds = []
    for key, bound in spec.items():
        if key in _RANGE_OPS:
            bounds.append((_RANGE_OPS[key], bound))
        elif key not in ("boost", "format", "time_zone", "relation"):
            raise parsing_error(f"[range] query does not support [{key}]")

    def within(value: object) -> bool:
        for op, bound in bounds:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                try:
                    if not op(float(value), float(bound)):
                        return False
                except (TypeError, ValueError):
                    return False
            elif not op(str(value), str(bound)):
                return False
        return True

    return lambda doc_id, source: 1.0 if any(
        within(v) for v in field_values(source, name)) else None


def _exists(clause: object, p: Profile) -> Matcher:
    name = clause.get("field") if isinstance(clause, dict) else None
    if not isinstance(name, str):
        raise parsing_error("[exists] must be provided with a [field]")
    return lambda doc_id, source: 1.0 if field_values(source, name) else None


def _constant_score(clause: object, p: Profile) -> Matcher:
    if not isinstance(clause, dict) or "filter" not in clause:
        raise parsing_error("[constant_score] requires a 'filter' element")
    inner = compile_query(clause["filter"], p=p)
    boost = float(clause.get("boost", 1.0))
    return lambda doc_id, source: boost if inner(doc_id, source) is not None else None


def _bool(clause: object, p: Profile) -> Matcher:
    if not isinstance(clause, dict):
        raise parsing_error("[bool] query malformed, no start_object after query name")
    parts: dict[str, list[Matcher]] = {}
    for key in ("must", "filter", "should", "must_not"):
        value = clause.get(key, [])
        parts[key] = [compile_query(q, p=p)
                      for q in (value if isinstance(value, list) else [value])]
    for key in clause:
        if key not in parts and key not in ("minimum_should_match", "boost", "_name",
                                            "adjust_pure_negative"):
            raise parsing_error(f"[bool] query does not support [{key}]")
    minimum = _minimum_should_match(clause.get("minimum_should_match"), parts)

    def match(doc_id: str, source: dict) -> float | None:
        score = 0.0
        for q in parts["must"]:
            s = q(doc_id, source)
            if s is None:
                return None
            score += s
        if any(q(doc_id, source) is None for q in parts["filter"]):
            return None
        if any(q(doc_id, source) is not None for q in parts["must_not"]):
            return None
        matched = [s for s in (q(doc_id, source) for q in parts["should"]) if s is not None]
        if len(matched) < minimum:
            return None
        return score + sum(matched)
    return match


def _minimum_should_match(value: object, parts: dict[str, list]) -> int:
    """How many `should` clauses must match: by default one when nothing else must, else none;
    a number, a negative number (all but), or a percentage (rounded down)."""
    should = len(parts["should"])
    if value is None:
        return 0 if parts["must"] or parts["filter"] or not should else 1
    text = str(value).strip()
    match = re.fullmatch(r"(-?)(\d+)(%?)", text)
    if not match:
        raise IllegalArgument(f"failed to parse minimum_should_match [{text}]")
    number = int(match.group(2))
    if match.group(3):
        number = should * number // 100
    return max(0, should - number) if match.group(1) else number


_COMPILERS = {"match_all": _match_all, "match_none": _match_none, "ids": _ids, "term": _term,
              "terms": _terms, "match": _match, "range": _range, "exists": _exists,
              "bool": _bool, "constant_score": _constant_score}


def query_string(q: str) -> dict:
    """The `q=` URL parameter, simply: `*`, `field:value`, or words to match in any field."""
    q = q.strip()
    if q in ("", "*", "*:*"):
        return {"match_all": {}}
    field, sep, value = q.partition(":")
    if sep and field and value:
        return {"match": {field: value}}
    return {"match": {"*": q}}


# -- sorting ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SortKey:
    field: str  # a field path, `_score`, `_doc` or `_id`
    descending: bool


def parse_sort(spec: object) -> list[SortKey]:
    """A body's `sort`: a field, `{field: order}`, `{field: {"order": order}}`, or a list."""
    items = spec if isinstance(spec, list) else [spec]
    keys = []
    for item in items:
        if isinstance(item, str):
            keys.append(SortKey(item, item == "_score"))
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise parsing_error("[sort] malformed, expected a field name or an object")
        (name, order), = item.items()
        if isinstance(order, dict):
            order = order.get("order", "desc" if name == "_score" else "asc")
        if order not in ("asc", "desc"):
            raise IllegalArgument(f"Unknown SortOrder [{order}]")
        keys.append(SortKey(name, order == "desc"))
    return keys


def parse_sort_param(text: str) -> list[SortKey]:
    """The `sort=` URL parameter: `field`, `field:asc`, comma separated."""
    keys = []
    for part in text.split(","):
        name, _, order = part.partition(":")
        if order and order not in ("asc", "desc"):
            raise IllegalArgument(f"Unknown SortOrder [{order}]")
        keys.append(SortKey(name, order == "desc" if order else name == "_score"))
    return keys


def sort_values(hit: dict, keys: list[SortKey]) -> list:
    """A hit's `sort` array: each key's value (min for asc, max for desc; None if missing)."""
    out = []
    for key in keys:
        if key.field == "_score":
            out.append(hit["_score"])
        elif key.field == "_doc":
            out.append(hit["_seq_no"])
        elif key.field == "_id":
            out.append(hit["_id"])
        else:
            values = [v for v in field_values(hit["_source"], key.field)
                      if not isinstance(v, (dict, list))]
            if any(_is_text(key.field, v) for v in values):
                raise TextFieldSort(key.field)
            out.append((max if key.descending else min)(values, key=_order) if values else None)
    return out


class TextFieldSort(IllegalArgument):
    """Sorting on a `text` field (no fielddata); the REST layer words it per generation."""

    def __init__(self, field_name: str) -> None:
        super().__init__(field_name)
        self.field_name = field_name


def _order(value: object) -> tuple:
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value))


def sort_hits(hits: list[dict], keys: list[SortKey]) -> list[dict]:
    """Order hits by their `sort` values (missing values last), then as they came."""
    ordered = list(hits)
    for i in reversed(range(len(keys))):
        desc = keys[i].descending
        present = [h for h in ordered if h["sort"][i] is not None]
        missing = [h for h in ordered if h["sort"][i] is None]
        present.sort(key=lambda h: _order(h["sort"][i]), reverse=desc)
        ordered = present + missing
    return ordered
