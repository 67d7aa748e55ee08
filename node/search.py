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

from node.errors import ElasticsearchError, IllegalArgument


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
