"""The REST layer's plain data and parsing: requests, responses, query parameters, JSON bodies,
index names and time values, each failing with the error Elasticsearch gives.

No aiohttp here: the HTTP server and the in-process simulation both build a `Request` and
serialise a `Response`, so the API behaves the same behind either.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from occsim.node.errors import ElasticsearchError, IllegalArgument, ParseError, RestError
from occsim.node.profiles import Profile

MAX_MAPPING_DEPTH = 20  # Elasticsearch's index.mapping.depth.limit
# occsim's own limit on how deep a body's arrays and objects may nest (Jackson 2.15+, so
# Elasticsearch 8.x, allows 1000; older ones have none): well inside what Python's parser,
# encoder and the update's merge can walk.
MAX_NESTING_DEPTH = 500
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
JSON = "application/json; charset=UTF-8"


@dataclass(slots=True)
class Request:
    method: str
    path: str  # decoded path, without the query string
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def actor(self) -> str:
        return self.headers.get("x-opaque-id", "client")

    def describe(self) -> str:
        if not self.query:  # most requests: nothing to join
            return self.path
        qs = "&".join(f"{k}={v}" if v else k for k, v in self.query.items())
        return f"{self.path}?{qs}" if qs else self.path


@dataclass(slots=True)
class Response:
    status: int
    body: dict | list | str | None = None  # str: already-formatted text (cat APIs)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """A path template, its handlers by HTTP method, and when it exists (by profile)."""

    segments: tuple[str, ...]  # each a literal, or `{name}`: one non-empty path segment
    methods: dict[str, Callable]
    when: Callable[[object, dict], bool] = lambda node, m: True
    literals: tuple[tuple[int, str], ...] = ()  # (position, text) of the literal segments
    params: tuple[tuple[int, str], ...] = ()  # (position, name) of the `{name}` segments

    @classmethod
    def of(cls, path: str, when: Callable | None = None, **methods: Callable) -> Route:
        """`/{index}/_doc/{id}` style: each `{name}` matches one path segment."""
        segments = path_segments(path)
        return cls(segments, methods, when or (lambda node, m: True),
                   tuple((i, s) for i, s in enumerate(segments) if s[0] != "{"),
                   tuple((i, s[1:-1]) for i, s in enumerate(segments) if s[0] == "{"))

    def fits(self, shape: tuple[str | None, ...]) -> bool:
        """Whether paths of this shape (as many segments; each that is some template's
        literal as it is, the others None) have this template's literal segments."""
        return all(shape[i] == text for i, text in self.literals)

    def bind(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        """The named segments of a path that `fits` this template; None if one is empty."""
        m = {}
        for i, name in self.params:
            if not segments[i]:
                return None
            m[name] = segments[i]
        return m


def path_segments(path: str) -> tuple[str, ...] | None:
    """A path's segments between its slashes (`/` has none); None if it starts with none."""
    if not path.startswith("/"):
        return None
    return () if path == "/" else tuple(path.split("/")[1:])


class Params:
    """A request's query parameters, read the way Elasticsearch's RestRequest reads them.

    Every read marks the parameter as consumed; `check_consumed` then rejects the rest as
    unrecognized, as Elasticsearch does.
    """

    ALWAYS = {"pretty", "human", "error_trace", "filter_path", "format"}

    def __init__(self, request: Request) -> None:
        self._request = request
        self._query = request.query
        self._used: set[str] = set()
        self.warnings: list[str] = []  # deprecation warnings of this request (`Warning`)

    def given(self) -> bool:
        """Whether the request has a query string."""
        return bool(self._query)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def has(self, name: str) -> bool:
        self._used.add(name)
        return name in self._query

    def str(self, name: str, default: str | None = None) -> str | None:
        if not self._query:  # most requests: nothing to read, nothing left unrecognized
            return default
        self._used.add(name)
        return self._query.get(name, default)

    def long(self, name: str, default: int) -> int:
        value = self.str(name)
        if value is None:
            return default
        return parse_long(name, value)

    def bool(self, name: str, default: bool) -> bool:
        value = self.str(name)
        if value is None:
            return default
        if value in ("", "true"):
            return True
        if value == "false":
            return False
        raise IllegalArgument(
            f"Failed to parse value [{value}] as only [true] or [false] are allowed."
        )

    def accept(self, *names: str) -> None:
        """Mark parameters as recognized without reading them."""
        self._used.update(names)

    def check_consumed(self) -> None:
        if not self._query:
            return
        unknown = [k for k in self._query if k not in self._used and k not in self.ALWAYS]
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            names = ", ".join(f"[{k}]" for k in unknown)
            raise IllegalArgument(
                f"request [{self._request.path}] contains unrecognized parameter{plural}: {names}"
            )


def parse_long(name: str, value: str) -> int:
    """Java's Long.parseLong, with Elasticsearch's message when it fails."""
    if re.fullmatch(r"[+-]?\d+", value):
        number = int(value)
        if LONG_MIN <= number <= LONG_MAX:
            return number
    raise IllegalArgument(
        f"Failed to parse long parameter [{name}] with value [{value}]",
        caused_by={"type": "number_format_exception", "reason": f'For input string: "{value}"'},
    )


_TIME_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001,
               "micros": 1e-6, "nanos": 1e-9}


def parse_time(setting: str, value: object) -> float:
    """An Elasticsearch time value ("60s", "1m", "500ms", "-1") in seconds."""
    text = str(value).strip().lower()
    if text in ("-1", "0"):
        return float(text)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(d|h|m|s|ms|micros|nanos)", text)
    if not match:
        raise ParseError(
            f"failed to parse setting [{setting}] with value [{value}] as a time value: "
            "unit is missing or unrecognized"
        )
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]




def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):  # the first key seen twice
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


class _DuplicateKey(ValueError):
    pass


class _NonNumeric(ValueError):
    pass


def _refuse_constant(name: str) -> object:
    raise _NonNumeric(name)


# Jackson refuses NaN and (-)Infinity unless ALLOW_NON_NUMERIC_NUMBERS, which Elasticsearch
# leaves off; Python's decoder would accept them and answer them back as invalid JSON.
_LENIENT = json.JSONDecoder(parse_constant=_refuse_constant)
_STRICT = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_refuse_constant)


def parse_json(body: bytes, *, strict_duplicates: bool) -> object:
    """Decode a JSON body; raises `ValueError` with a Jackson-like message when it is not JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"Invalid UTF-8 start byte 0x{body[exc.start]:02x}") from None
    try:
        value = (_STRICT if strict_duplicates else _LENIENT).decode(text)
    except _DuplicateKey as exc:
        raise ValueError(f"Duplicate field '{exc.args[0]}'") from None
    except _NonNumeric as exc:
        raise ValueError(f"Non-standard token '{exc.args[0]}': enable "
                         "JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS to allow") from None
    except RecursionError:
        raise ValueError("Maximum nesting depth exceeded") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at [line: {exc.lineno}, column: {exc.colno}]") from None
    if body.count(b"[") + body.count(b"{") > MAX_NESTING_DEPTH:
        depth = _depth(value)
        if depth > MAX_NESTING_DEPTH:
            raise ValueError(f"Document nesting depth ({depth}) exceeds the maximum allowed "
                             f"({MAX_NESTING_DEPTH}, occsim's limit)")
    return value


def _depth(value: object) -> int:
    """How deep arrays and objects nest in a parsed body, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in value)
    return deepest


def require_body(request: Request) -> bytes:
    if not request.body.strip():
        raise ParseError("request body is required")
    return request.body


def parse_source(request: Request, *, strict_duplicates: bool) -> dict:
    """A document source: a JSON object no deeper than the mapping depth limit."""
    body = require_body(request)
    try:
        source = parse_json(body, strict_duplicates=strict_duplicates)
    except ValueError as exc:
        raise _failed_to_parse("json_parse_exception", str(exc)) from None
    if not isinstance(source, dict):
        raise _failed_to_parse(
            "not_x_content_exception",
            "Compressor detection can only be called on some xcontent bytes or compressed "
            "xcontent bytes",
        )
    field_path = None
    if body.count(b"{") > MAX_MAPPING_DEPTH:  # (objects nested deeper take more `{` than that)
        field_path = _too_deep(source, MAX_MAPPING_DEPTH)
    if field_path:
        raise _failed_to_parse(
            "illegal_argument_exception",
            f"Limit of mapping depth [{MAX_MAPPING_DEPTH}] has been exceeded due to object "
            f"field [{field_path}]",
        )
    return source


def parse_object(request: Request, *, strict_duplicates: bool, required: bool = True) -> dict:
    """A request body that must be a JSON object (settings, update, mget)."""
    if not request.body.strip():
        if required:
            raise ParseError("request body is required")
        return {}
    try:
        obj = parse_json(request.body, strict_duplicates=strict_duplicates)
    except ValueError as exc:
        raise ElasticsearchError(str(exc), status=400, type="x_content_parse_exception") from None
    if not isinstance(obj, dict):
        raise ParseError("request body must be a JSON object")
    return obj


def _failed_to_parse(cause_type: str, cause: str) -> ElasticsearchError:
    return ElasticsearchError(
        "failed to parse", status=400, type="mapper_parsing_exception",
        caused_by={"type": cause_type, "reason": cause},
    )


_FLOAT_OVERFLOW = 2.0**128 - 2.0**103  # from here on, a double rounds to an infinite float


def check_mappable(source: dict, doc_id: str, p: Profile) -> None:
    """Refuse, as indexing does, a document holding a number the field its dynamic mapping
    would create cannot hold: an integer beyond a `long` (5.x/6.x cannot map it at all), or a
    number beyond a `float`, the type a floating-point value is mapped to. Everything else is
    kept as sent, lone UTF-16 surrogates in strings included (Elasticsearch does the same)."""
    if not _holds_unmappable(source):  # the usual document: no field names to build
        return
    field, value = next((f, v) for f, v in _leaves(source) if _unmappable(v))  # the first
    if type(value) is int:
        if p.big_integer_unmappable:
            raise _failed_to_parse("illegal_state_exception",
                                   "No matching token for number_type [BIG_INTEGER]")
        raise _field_error(field, "long", doc_id, str(value), p, {
            "type": "input_coercion_exception",
            "reason": f"Numeric value ({value}) out of range of long ({LONG_MIN} - "
                      f"{LONG_MAX})"})
    infinity = "Infinity" if value > 0 else "-Infinity"
    raise _field_error(field, "float", doc_id, _java_double(value), p, {
        "type": "illegal_argument_exception",
        "reason": f"[float] supports only finite values, but got [{infinity}]"})


def _unmappable(value: object) -> bool:
    """Whether a leaf value is an integer beyond a `long` or a number beyond a `float`."""
    kind = type(value)
    return ((kind is int and not LONG_MIN <= value <= LONG_MAX)
            or (kind is float and not abs(value) < _FLOAT_OVERFLOW))


def _holds_unmappable(source: dict) -> bool:
    """Whether a value anywhere in `source` is `_unmappable`, found without building the
    field names `_leaves` builds."""
    stack: list = [source.values()]
    while stack:
        for value in stack.pop():
            if isinstance(value, dict):
                stack.append(value.values())
            elif isinstance(value, list):
                stack.append(value)
            elif _unmappable(value):
                return True
    return False


def _field_error(field: str, kind: str, doc_id: str, preview: str, p: Profile,
                 cause: dict) -> ElasticsearchError:
    """FieldMapper.parse's error in each generation."""
    return ElasticsearchError(p.field_parse_error(field, kind, doc_id, preview), status=400,
                              type="mapper_parsing_exception",
                              caused_by=cause)


def _java_double(value: float) -> str:
    """Java's Double.toString for a double of 1e7 or more (or infinite)."""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    mantissa, _, exponent = repr(value).partition("e")
    return f"{mantissa if '.' in mantissa else mantissa + '.0'}E{int(exponent)}"


def _leaves(source: dict) -> Iterator[tuple[str, object]]:
    """(dotted field name, value) of every value that is not an object or array, in document
    order, without recursion (arrays may nest as deep as the parser allows)."""
    stack: list[tuple[str, bool, Iterator]] = [("", False, iter(source.items()))]
    while stack:
        path, in_array, items = stack[-1]
        item = next(items, _END)
        if item is _END:
            stack.pop()
            continue
        if in_array:
            field, value = path, item
        else:
            field, value = (f"{path}.{item[0]}" if path else item[0]), item[1]
        if isinstance(value, dict):
            stack.append((field, False, iter(value.items())))
        elif isinstance(value, list):
            stack.append((field, True, iter(value)))
        else:
            yield field, value


_END = object()


def _too_deep(source: dict, limit: int) -> str | None:
    """The dotted path of the first object nested deeper than `limit`, iteratively."""
    stack: list[tuple[dict, str, int]] = [(source, "", 1)]
    while stack:
        obj, prefix, depth = stack.pop()
        for key, value in obj.items():
            if isinstance(value, list):
                value = next((v for v in value if isinstance(v, dict)), None)
            if isinstance(value, dict):
                path = f"{prefix}.{key}" if prefix else key
                if depth + 1 > limit:
                    return path
                stack.append((value, path, depth + 1))
    return None


_INVALID_INDEX_CHARS = ' , ", *, \\, <, |, ,, >, /, ?'


def validate_index_name(name: str) -> None:
    """Elasticsearch's rules for a new index's name (invalid_index_name_exception)."""
    problem = None
    if name in (".", ".."):
        problem = "must not be '.' or '..'"
    elif name != name.lower():
        problem = "must be lowercase"
    elif any(c in name for c in '\\/*?"<>| ,'):
        problem = f"must not contain the following characters [{_INVALID_INDEX_CHARS}]"
    elif "#" in name:
        problem = "must not contain '#'"
    elif ":" in name:
        problem = "must not contain ':'"
    elif name[:1] in ("_", "-", "+"):
        problem = "must not start with '_', '-', or '+'"
    elif len(name.encode("utf-8", "replace")) > 255:  # Java's getBytes(UTF_8): `?` for a lone
        problem = f"index name is too long, ({len(name.encode('utf-8', 'replace'))} > 255)"
    if problem:
        raise ElasticsearchError(
            f"Invalid index name [{name}], {problem}", status=400,
            type="invalid_index_name_exception", meta={"index_uuid": "_na_", "index": name},
        )


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# What `_COMPACT.encode` runs, made once: `encode` makes a new C encoder for every body (and a
# circular-reference check, which a body parsed from JSON or built here never needs)
_ENCODE_COMPACT = json.encoder.c_make_encoder and json.encoder.c_make_encoder(
    None, _COMPACT.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)


def render(body: dict | list | str | None, *, pretty: bool) -> bytes:
    """Serialise a body the way Elasticsearch does (Jackson's `" : "` when pretty).

    A lone UTF-16 surrogate (kept from a document that was sent with one, as Elasticsearch
    keeps it) goes out as the `\\uXXXX` escape it came in as: the answer stays valid UTF-8."""
    if body is None:
        return b""
    if isinstance(body, str):
        text = body
    elif pretty:
        text = json.dumps(body, indent=2, separators=(",", " : "), ensure_ascii=False) + "\n"
    else:
        text = "".join(_ENCODE_COMPACT(body, 0)) if _ENCODE_COMPACT else _COMPACT.encode(body)
    return text.encode("utf-8", "backslashreplace")


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def to_yaml(body: object) -> str:
    """A body as Elasticsearch writes YAML (Jackson's YAML generator): a `---` document,
    string values double-quoted, list items at their key's indentation."""
    lines = ["---"]
    _yaml_lines(body, 0, lines)
    return "\n".join(lines) + "\n"


def _yaml_scalar(value: object) -> str:
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)


def _yaml_lines(value: object, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict) and value:
        for key, item in value.items():
            head = f"{pad}{key if _PLAIN_KEY.fullmatch(key) else json.dumps(key)}:"
            if isinstance(item, (dict, list)) and item:
                lines.append(head)
                _yaml_lines(item, indent + 2 if isinstance(item, dict) else indent, lines)
            else:
                lines.append(f"{head} {_yaml_scalar(item)}")
    elif isinstance(value, list) and value:
        for item in value:
            start = len(lines)
            _yaml_lines(item, indent + 2, lines)
            lines[start] = f"{pad}- {lines[start][indent + 2:]}"
    else:
        lines.append(pad + _yaml_scalar(value))


def error_response(exc: Exception) -> Response:
    if isinstance(exc, RestError):
        return Response(exc.status, exc.body(), dict(exc.headers))
    assert isinstance(exc, ElasticsearchError)
    return Response(exc.status, exc.body())
