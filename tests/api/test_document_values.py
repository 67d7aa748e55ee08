"""Values at the REST edge, through one node's dispatcher: what Elasticsearch keeps as sent
(lone surrogates), what its JSON parser refuses (NaN, Infinity), what its dynamic mapping
cannot hold (an integer beyond a long, a number beyond a float), nesting, and versions."""

from __future__ import annotations

import pytest

from occsim.node.rest import LONG_MAX, LONG_MIN, MAX_NESTING_DEPTH, render

MAJORS = [5, 6, 7, 8, 9]
NESTED = b'{"a":' + b"[" * 480 + b"1" + b"]" * 480 + b"}"


def nested(depth: int) -> bytes:
    return b'{"a":' + b"[" * (depth - 1) + b"1" + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize("major", MAJORS)
async def test_a_lone_surrogate_is_kept_and_served_back_escaped(make_api, major):
    api = await make_api(major)
    path = api.doc_path("p", "x")
    status, _ = await api("PUT", path, b'{"a":"\\ud800","\\udfff":["\\udc00z"]}')
    assert status == 201
    status, body = await api("GET", path)
    assert body["_source"] == {"a": "\ud800", "\udfff": ["\udc00z"]}
    assert render(body, pretty=False).endswith(
        b'"_source":{"a":"\\ud800","\\udfff":["\\udc00z"]}}')
    assert b'"a" : "\\ud800"' in render(body, pretty=True)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("major", [5, 7])
async def test_non_numeric_numbers_are_not_json(make_api, major, token):
    api = await make_api(major)
    path = api.doc_path("p", "x")
    status, body = await api("PUT", path, f'{{"a":{token}}}'.encode())
    assert status == 400
    assert body["error"]["type"] == "mapper_parsing_exception"
    assert body["error"]["caused_by"]["reason"] == (
        f"Non-standard token '{token}': enable JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS "
        "to allow")
    await api("PUT", path, {"a": 1})
    update = "/p/_update/x" if major >= 7 else f"{path}/_update"
    status, body = await api("POST", update, f'{{"doc":{{"a":{token}}}}}'.encode())
    assert (status, body["error"]["type"]) == (400, "x_content_parse_exception")
    assert (await api("GET", path))[1]["_source"] == {"a": 1}


LONG_REFUSAL = {
    7: ("failed to parse field [o.n] of type [long] in document with id 'x'. Preview of "
        "field's value: '{v}'",
        {"type": "input_coercion_exception", "reason": "Numeric value ({v}) out of range of "
         "long (-9223372036854775808 - 9223372036854775807)"}),
    6: ("failed to parse", {"type": "illegal_state_exception",
                            "reason": "No matching token for number_type [BIG_INTEGER]"}),
}


@pytest.mark.parametrize("value", [LONG_MAX + 1, LONG_MIN - 1, 10**40])
@pytest.mark.parametrize("major", MAJORS)
async def test_an_integer_beyond_a_long_is_refused(make_api, major, value):
    api = await make_api(major)
    path = api.doc_path("p", "x")
    status, body = await api("PUT", path, {"o": {"n": [1, value]}})
    assert status == 400, body
    reason, cause = LONG_REFUSAL[min(max(major, 6), 7)]
    assert body["error"]["type"] == "mapper_parsing_exception"
    assert body["error"]["reason"] == reason.format(v=value)
    assert body["error"]["caused_by"] == {k: v.format(v=value) for k, v in cause.items()}
    assert (await api("GET", path))[0] == 404


@pytest.mark.parametrize("raw,preview,infinity", [
    (b"1e999999", "Infinity", "Infinity"), (b"-1e999999", "-Infinity", "-Infinity"),
    (b"1e39", "1.0E39", "Infinity"), (b"-3.5e38", "-3.5E38", "-Infinity")])
@pytest.mark.parametrize("major", MAJORS)
async def test_a_number_beyond_a_float_is_refused(make_api, major, raw, preview, infinity):
    api = await make_api(major)
    path = api.doc_path("p", "x")
    status, body = await api("PUT", path, b'{"f":' + raw + b"}")
    assert status == 400, body
    assert body["error"]["type"] == "mapper_parsing_exception"
    assert body["error"]["reason"] == {
        5: "failed to parse [f]",
        6: "failed to parse field [f] of type [float] in document with id 'x'",
    }.get(major, "failed to parse field [f] of type [float] in document with id 'x'. "
                 f"Preview of field's value: '{preview}'")
    assert body["error"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": f"[float] supports only finite values, but got [{infinity}]"}


@pytest.mark.parametrize("major", [5, 7])
async def test_the_edges_of_long_and_float_are_kept(make_api, major):
    api = await make_api(major)
    path = api.doc_path("p", "x")
    source = {"lo": LONG_MIN, "hi": LONG_MAX, "f": 3.4e38, "g": -1.5e-300, "t": True}
    assert (await api("PUT", path, source))[0] == 201
    assert (await api("GET", path))[1]["_source"] == source


async def test_an_update_refuses_a_value_that_cannot_be_mapped_and_keeps_the_document(
        make_api):
    api = await make_api(7)
    await api("PUT", "/p/_doc/x", {"a": 1})
    status, body = await api("POST", "/p/_update/x", {"doc": {"b": LONG_MAX + 1}})
    assert (status, body["error"]["type"]) == (400, "mapper_parsing_exception")
    status, body = await api("POST", "/p/_update/x", b'{"doc":{"b":1e999999}}')
    assert (status, body["error"]["type"]) == (400, "mapper_parsing_exception")
    assert (await api("GET", "/p/_doc/x"))[1]["_version"] == 1
    status, body = await api("POST", "/p/_update/x",
                             b'{"doc":{"b":1},"if_seq_no":1e999999,"if_primary_term":1}')
    assert (status, body["error"]["type"]) == (400, "x_content_parse_exception")


@pytest.mark.parametrize("major", [5, 7])
async def test_deeply_nested_arrays_are_indexed_and_updated(make_api, major):
    api = await make_api(major)
    path = api.doc_path("p", "x")
    update = "/p/_update/x" if major >= 7 else f"{path}/_update"
    assert (await api("PUT", path, {"a": 1}))[0] == 201
    status, body = await api("POST", update, b'{"doc":' + NESTED + b"}")
    assert status == 200, body
    status, body = await api("POST", update, b'{"doc":' + NESTED + b"}")
    assert (status, body["result"]) == (200, "noop")
    status, body = await api("GET", path)
    assert render(body["_source"], pretty=False) == NESTED
    assert (await api("PUT", path, nested(MAX_NESTING_DEPTH)))[0] == 200


@pytest.mark.parametrize("major", [5, 7])
async def test_a_body_nested_deeper_than_the_limit_is_refused(make_api, major):
    api = await make_api(major)
    path = api.doc_path("p", "x")
    status, body = await api("PUT", path, nested(MAX_NESTING_DEPTH + 1))
    assert (status, body["error"]["type"]) == (400, "mapper_parsing_exception")
    assert body["error"]["caused_by"]["reason"] == (
        f"Document nesting depth ({MAX_NESTING_DEPTH + 1}) exceeds the maximum allowed "
        f"({MAX_NESTING_DEPTH}, occsim's limit)")


def nested_objects(depth: int) -> dict:
    """An object `depth` objects deep, the outermost included."""
    obj: dict = {"x": 1}
    for _ in range(depth - 1):
        obj = {"a": obj}
    return obj


@pytest.mark.parametrize("major", [5, 7])
async def test_objects_nested_deeper_than_the_mapping_depth_are_refused(make_api, major):
    api = await make_api(major)
    path = api.doc_path("p", "x")
    assert (await api("PUT", path, nested_objects(20)))[0] == 201
    assert (await api("PUT", path, {"braces": "{" * 50, "b": [{"c": "{"}] * 30}))[0] == 200
    status, body = await api("PUT", path, nested_objects(21))
    assert (status, body["error"]["caused_by"]["reason"]) == (400, (
        "Limit of mapping depth [20] has been exceeded due to object field ["
        + ".".join(["a"] * 20) + "]"))


@pytest.mark.parametrize("major", [5, 7])
async def test_a_key_given_twice_is_refused_from_6x(make_api, major):
    api = await make_api(major)
    path = api.doc_path("p", "x")
    status, body = await api("PUT", path, b'{"a":1,"b":{"c":1,"d":2,"c":3},"b":2,"a":4}')
    if major == 5:  # the last value of a key wins
        assert status == 201
        assert (await api("GET", path))[1]["_source"] == {"a": 4, "b": 2}
    else:  # the first key seen twice, the inner object's before the outer one's
        assert (status, body["error"]["caused_by"]) == (400, {
            "type": "json_parse_exception", "reason": "Duplicate field 'c'"})


@pytest.mark.parametrize("major", MAJORS)
async def test_no_version_above_the_largest_long_is_ever_answered(make_api, major):
    api = await make_api(major)
    path = api.doc_path("p", "x")
    status, body = await api("PUT", path, {"a": 1}, version=LONG_MAX, version_type="external")
    assert (status, body["_version"]) == (201, LONG_MAX)
    status, body = await api("PUT", path, {"a": 2})
    assert (status, body["error"]["type"]) == (400, "illegal_argument_exception")
    assert body["error"]["reason"].startswith(f"version [{LONG_MAX}] is the largest a document "
                                              "can have")
    status, body = await api("GET", path)
    assert (body["_version"], body["_source"]) == (LONG_MAX, {"a": 1})


async def test_a_bulk_item_that_cannot_be_mapped_fails_alone(make_api):
    api = await make_api(7)
    body = (b'{"index":{"_index":"p","_id":"1"}}\n{"a":1}\n'
            b'{"index":{"_index":"p","_id":"2"}}\n{"a":18446744073709551616}\n'
            b'{"create":{"_index":"p","_id":"3"}}\n{"a":"\\ud800"}\n')
    status, answer = await api("POST", "/_bulk", body)
    assert status == 200 and answer["errors"] is True
    statuses = [next(iter(item.values()))["status"] for item in answer["items"]]
    assert statuses == [201, 400, 201]
    assert answer["items"][1]["index"]["error"]["type"] == "mapper_parsing_exception"
    assert (await api("GET", "/p/_doc/3"))[1]["_source"] == {"a": "\ud800"}


@pytest.mark.parametrize("major", [5, 7])
async def test_lone_surrogates_in_ids_routing_and_index_names(make_api, major):
    api = await make_api(major)
    kind = "_doc" if major >= 7 else "t"
    body = (b'{"index":{"_index":"p","_type":"' + kind.encode() + b'","_id":"\\ud800",'
            b'"routing":"\\udc00"}}\n{"a":1}\n'
            b'{"index":{"_index":"p\\ud800","_type":"' + kind.encode() + b'","_id":"'
            + b"x" * 511 + b'\\udfff"}}\n{"a":2}\n')
    if major >= 7:
        body = body.replace(b'"_type":"_doc",', b"")
    status, answer = await api("POST", "/_bulk", body)
    assert status == 200, answer
    assert [next(iter(i.values()))["status"] for i in answer["items"]] == [201, 201]
    status, got = await api("GET", f"/p/{kind}/\ud800", routing="\udc00")
    assert (status, got["_source"]) == (200, {"a": 1})
