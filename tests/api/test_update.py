"""The update API: every row of reference §7.5 (update/ REST tests) for each profile it applies to,
then the parts no REST test pins: error texts per profile, response shapes, retries on a
conflict provoked between the update's read and its write, scripts and bad bodies refused."""

from __future__ import annotations

import pytest
from reference_rows import ALL, MODERN, SEQ_NO, TYPED_OCC, check_answer, step

from occsim.node.api.update import merge, same_json, suggest


def update_path(api, index: str, doc_id: str) -> str:
    """`/{index}/{type}/{id}/_update` up to 6.x, `/{index}/_update/{id}` from 7.x."""
    if api.major <= 6:
        return f"{api.doc_path(index, doc_id)}/_update"
    return f"/{index}/_update/{doc_id}"


def upd(doc=None, **fields):
    body = dict(fields)
    if doc is not None:
        body["doc"] = doc
    return body


VERSIONING_400 = ("Validation Failed: 1: internal versioning can not be used for optimistic "
                  "concurrency control. Please use `if_seq_no` and `if_primary_term` instead;")

CASES = {
    "update/30_internal_version": (TYPED_OCC, [
        step("update", version=1, body=upd({"foo": "baz"}), status=404,
             error_type="document_missing_exception"),
        step("index", body={"foo": "bar"}, _version=1),
        step("update", version=2, body=upd({"foo": "baz"}), status=409,
             error_type="version_conflict_engine_exception"),
        step("update", version=1, body=upd({"foo": "baz"}), status=200, _version=2),
    ]),
    "update/30_internal_version (7.x rejects)": (MODERN, [
        step("index", body={"foo": "bar"}, _version=1),
        step("update", version=1, body=upd({"foo": "baz"}), status=400,
             error_type="action_request_validation_exception", error_reason=VERSIONING_400),
        step("update", version_type="internal", body=upd({"foo": "baz"}), status=400,
             error_reason=VERSIONING_400),
    ]),
    "update/35_if_seq_no": (SEQ_NO, [
        step("update", if_seq_no=1, if_primary_term=1, body=upd({"foo": "baz"}), status=404),
        step("index", body={"foo": "baz"}, _seq_no=0),
        step("update", if_seq_no=234, if_primary_term=1, body=upd({"foo": "baz"}), status=409,
             error_type="version_conflict_engine_exception", error_reason_end=
             "version conflict, required seqNo [234], primary term [1]. current document has "
             "seqNo [0] and primary term [1]"),
        step("update", if_seq_no=0, if_primary_term=1, body=upd({"foo": "bar"}), status=200,
             _seq_no=1),
        step("get", _source={"foo": "bar"}),
        step("bulk_update", body={"if_seq_no": 100, "if_primary_term": 200},
             errors=True, item_status=409),
    ]),
    "update/35_other_versions (5.x)": ((5,), [
        step("update", version=2, version_type="external",
             body=upd({"foo": "baz"}, upsert={"foo": "bar"}), status=400,
             error_type="action_request_validation_exception", error_reason=
             "Validation Failed: 1: version type [EXTERNAL] is not supported by the update "
             "API;"),
        step("update", version=2, version_type="external_gte",
             body=upd({"foo": "baz"}, upsert={"foo": "bar"}), status=400, error_reason=
             "Validation Failed: 1: version type [EXTERNAL_GTE] is not supported by the update "
             "API;"),
    ]),
    "update/35_other_versions (6.x)": ((6,), [
        step("update", version=2, version_type="external",
             body=upd({"foo": "baz"}, upsert={"foo": "bar"}), status=400,
             error_type="action_request_validation_exception", error_reason=
             "Validation Failed: 1: can't provide both upsert request and a version;2: version "
             "type [EXTERNAL] is not supported by the update API;"),
        step("update", version=2, version_type="external_gte",
             body=upd({"foo": "baz"}, upsert={"foo": "bar"}), status=400, error_reason_end=
             "2: version type [EXTERNAL_GTE] is not supported by the update API;"),
    ]),
    "update/35_other_versions (7.x+)": (MODERN, [
        step("update", version=2, version_type="external",
             body=upd({"foo": "baz"}, upsert={"foo": "bar"}), status=400,
             error_type="action_request_validation_exception", error_reason=VERSIONING_400),
        step("update", version=2, version_type="external_gte",
             body=upd({"foo": "baz"}, upsert={"foo": "bar"}), status=400,
             error_reason=VERSIONING_400),
    ]),
    "update/12_result": (ALL, [
        step("update", body=upd({"foo": "bar"}, doc_as_upsert=True), status=201, _version=1,
             result="created"),
        step("update", body=upd({"foo": "bar"}, doc_as_upsert=True), status=200, _version=1,
             result="noop"),
        step("update", body=upd({"foo": "bar"}, doc_as_upsert=True, detect_noop=False),
             status=200, _version=2, result="updated"),
        step("update", body=upd({"foo": "baz"}, doc_as_upsert=True, detect_noop=True),
             status=200, _version=3, result="updated"),
    ]),
    "update/16_noop": (MODERN, [
        step("index", body={"foo": "bar"}, _seq_no=0, _version=1, _primary_term=1,
             result="created"),
        step("update", body=upd({"foo": "bar"}), _seq_no=0, _version=1, _primary_term=1,
             result="noop", _shards={"total": 0, "successful": 0, "failed": 0}),
        step("update", body=upd({"foo": "bar"}, detect_noop=False), _seq_no=1,
             _primary_term=1, _version=2, result="updated"),
    ]),
    "update/10_doc": (ALL, [
        step("index", body={"foo": "bar", "count": 1, "nested": {"one": 1, "two": 2}}),
        step("update", body=upd({"foo": "baz", "nested": {"one": 3}}), _index="test_1",
             _id="1", _version=2),
        step("get", _source={"foo": "baz", "count": 1, "nested": {"one": 3, "two": 2}}),
    ]),
    "update/11_shard_header": (ALL, [
        step("create_index", index="foobar",
             settings={"number_of_shards": 1, "number_of_replicas": 0}),
        step("index", index="foobar", body={"foo": "bar"}),
        step("update", index="foobar", body=upd({"foo": "baz"}), _index="foobar", _id="1",
             _version=2, _shards={"total": 1, "successful": 1, "failed": 0}),
    ]),
    "update/20_doc_upsert": (ALL, [
        step("update", body=upd({"foo": "bar", "count": 1}, upsert={"foo": "baz"}),
             status=201),
        step("get", _source={"foo": "baz"}),
        step("update", body=upd({"foo": "bar", "count": 1}, upsert={"foo": "baz"}),
             status=200),
        step("get", _source={"foo": "bar", "count": 1}),
    ]),
    "update/22_doc_as_upsert": (ALL, [
        step("update", body=upd({"foo": "bar", "count": 1}, doc_as_upsert=True), status=201),
        step("get", _source={"foo": "bar", "count": 1}),
        step("update", body=upd({"count": 2}, doc_as_upsert=True), status=200),
        step("get", _source={"foo": "bar", "count": 2}),
    ]),
}


async def _run(api, steps):
    for n, s in enumerate(steps, 1):
        op, index, doc = s["op"], s["index"], s["doc"]
        expect = dict(s["expect"])
        params = {k: v for k, v in expect.items()
                  if not k.startswith(("_", "error", "result", "found", "settings", "errors",
                                       "item_"))}
        for k in params:
            expect.pop(k)
        if op == "create_index":
            status, got = await api("PUT", f"/{index}", {"settings": expect.pop("settings")})
        elif op == "index":
            status, got = await api("PUT", api.doc_path(index, doc), s["body"], **params)
        elif op == "update":
            status, got = await api("POST", update_path(api, index, doc), s["body"], **params)
        elif op == "bulk_update":
            meta = {"_index": index, "_id": doc, **s["body"]}
            if api.major <= 6:
                meta["_type"] = api.doc_path(index, doc).split("/")[2]
            line = __import__("json").dumps({"update": meta})
            status, got = await api("POST", "/_bulk",
                                    f'{line}\n{{"doc": {{"foo": "qux"}}}}\n'.encode())
        else:
            status, got = await api("GET", api.doc_path(index, doc), **params)
        check_answer(s, status, got, expect, f"step {n} {op} {params}: {status} {got}")


@pytest.mark.parametrize(
    "name,major",
    [(name, major) for name, (majors, _) in CASES.items() for major in majors],
    ids=lambda v: str(v),
)
async def test_reference_row(make_api, name, major):
    api = await make_api(major)
    await _run(api, CASES[name][1])


# -- the merge ---------------------------------------------------------------------------------
def test_merge_is_recursive_for_objects_and_replaces_everything_else():
    source = {"a": 1, "o": {"x": 1, "y": [1, 2]}, "l": [1, {"k": 1}]}
    merged, modified = merge(source, {"o": {"y": [3]}, "l": [{"k": 2}], "n": None})
    assert modified
    assert merged == {"a": 1, "o": {"x": 1, "y": [3]}, "l": [{"k": 2}], "n": None}
    assert source == {"a": 1, "o": {"x": 1, "y": [1, 2]}, "l": [1, {"k": 1}]}  # untouched


def test_noop_detection_compares_json_types():
    def is_noop(source: dict, changes: dict) -> bool:
        return not merge(source, changes)[1]

    assert is_noop({"a": 1, "o": {"x": "y"}}, {"o": {"x": "y"}})
    assert is_noop({"a": 1}, {})
    assert not is_noop({"a": 1}, {"a": 1.0})
    assert not is_noop({"a": 1}, {"a": True})
    assert not is_noop({"a": [1, 2]}, {"a": [2, 1]})
    assert not is_noop({"a": 1}, {"b": None})
    assert same_json({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})


def test_did_you_mean_suggestions():
    fields = ("script", "upsert", "doc", "doc_as_upsert", "detect_noop")
    assert suggest("docs", fields) == " did you mean [doc]?"
    assert suggest("foo", fields) == ""
    assert suggest("upsrt", ("upsert", "upsort")) == " did you mean any of [upsert, upsort]?"


# -- answers per profile -----------------------------------------------------------------------
@pytest.mark.parametrize("major,reason", [
    (5, "[test][1]: document missing"), (6, "[_doc][1]: document missing"),
    (7, "[_doc][1]: document missing"), (8, "[1]: document missing"),
    (9, "[1]: document missing"),
])
async def test_document_missing_text_per_profile(make_api, major, reason):
    api = await make_api(major)
    await api("PUT", "/test_1", {"settings": {"number_of_shards": 1}})
    status, body = await api("POST", update_path(api, "test_1", "1"), {"doc": {"foo": "bar"}})
    assert status == 404
    error = body["error"]
    assert (error["type"], error["reason"]) == ("document_missing_exception", reason)
    assert list(error) == ["root_cause", "type", "reason", "index_uuid", "shard", "index"]
    assert (error["shard"], error["index"]) == ("0", "test_1")
    assert error["root_cause"] == [{k: v for k, v in error.items() if k != "root_cause"}]


async def test_update_auto_creates_the_index(make_api):
    api = await make_api(7)
    status, _ = await api("POST", "/fresh/_update/1", {"doc": {"a": 1}})
    assert status == 404
    assert (await api("HEAD", "/fresh"))[0] == 200


@pytest.mark.parametrize("major", ALL)
async def test_update_response_shape_per_profile(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"foo": "bar"})
    status, body = await api("POST", update_path(api, "test_1", "1"), {"doc": {"foo": "baz"}})
    shards = {"total": 2, "successful": 1, "failed": 0}
    expected = {"_index": "test_1", "_type": "test" if major == 5 else "_doc", "_id": "1",
                "_version": 2, "result": "updated", "_shards": shards,
                "_seq_no": 1, "_primary_term": 1}
    if major == 5:  # 5.x UpdateResponse: no seq_no, and no `created` flag
        del expected["_seq_no"], expected["_primary_term"]
    if major >= 8:
        del expected["_type"]
    assert status == 200
    assert body == expected
    assert list(body) == list(expected)


@pytest.mark.parametrize("major", ALL)
async def test_noop_answer_per_profile(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"foo": "bar", "n": {"a": 1}})
    status, body = await api("POST", update_path(api, "test_1", "1"),
                             {"doc": {"n": {"a": 1}}})
    assert (status, body["result"], body["_version"]) == (200, "noop", 1)
    assert body["_shards"] == {"total": 0, "successful": 0, "failed": 0}
    assert ("_seq_no" in body) == (major >= 7)  # 7.4 added them to noop answers
    if major >= 7:
        assert (body["_seq_no"], body["_primary_term"]) == (0, 1)
    status, got = await api("GET", api.doc_path("test_1", "1"))
    assert got["_version"] == 1  # nothing was written


async def test_upsert_after_a_delete_continues_the_tombstone_version(make_api):
    api = await make_api(7)
    await api("PUT", "/test_1/_doc/1", {"a": 1})
    await api("DELETE", "/test_1/_doc/1")
    status, body = await api("POST", "/test_1/_update/1", {"doc": {"a": 2}, "upsert": {"a": 3}})
    assert (status, body["result"], body["_version"]) == (201, "created", 3)


async def test_source_param_returns_the_get_section(make_api):
    api = await make_api(7)
    await api("PUT", "/test_1/_doc/1", {"a": 1})
    status, body = await api("POST", "/test_1/_update/1", {"doc": {"b": 2}}, _source="true")
    assert body["get"] == {"_seq_no": 1, "_primary_term": 1, "found": True,
                           "_source": {"a": 1, "b": 2}}


async def test_refresh_true_on_update_forces_a_refresh(make_api):
    api = await make_api(7)
    await api("PUT", "/test_1/_doc/1", {"a": 1})
    assert (await api("GET", "/test_1/_count"))[1]["count"] == 0
    status, body = await api("POST", "/test_1/_update/2", {"doc": {"a": 2},
                                                           "doc_as_upsert": True}, refresh="true")
    assert (status, body["forced_refresh"]) == (201, True)
    assert (await api("GET", "/test_1/_count"))[1]["count"] == 2


# -- retry_on_conflict: a write lands between the update's read and its write ------------------
def interfere_once(api, source: dict):
    """Make the next conditional write of an update meet a concurrent plain write first."""
    original = api.node.write
    calls = []

    async def write(w):
        conditional = w.if_seq_no is not None or w.version >= 0 or w.create
        if conditional and not calls:
            calls.append(w)
            concurrent = type(w)(w.index, w.doc_type, w.doc_id, w.op, source=source,
                                 routing=w.routing)
            await original(concurrent)
        return await original(w)

    api.node.write = write
    return calls


@pytest.mark.parametrize("major,reason", [
    (5, "[test][1]: version conflict, current version [2] is different than the one provided "
        "[1]"),
    (6, "[_doc][1]: version conflict, current version [2] is different than the one provided "
        "[1]"),
    (7, "[1]: version conflict, required seqNo [0], primary term [1]. current document has "
        "seqNo [1] and primary term [1]"),
    (9, "[1]: version conflict, required seqNo [0], primary term [1]. current document has "
        "seqNo [1] and primary term [1]"),
])
async def test_a_concurrent_write_fails_the_update_without_retries(make_api, major, reason):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1, "b": 1})
    calls = interfere_once(api, {"a": 5, "b": 5})
    status, body = await api("POST", update_path(api, "test_1", "1"), {"doc": {"b": 2}})
    assert calls, "the update did not write with a condition"
    assert status == 409
    assert body["error"]["type"] == "version_conflict_engine_exception"
    assert body["error"]["reason"] == reason
    got = (await api("GET", api.doc_path("test_1", "1")))[1]
    assert (got["_version"], got["_source"]) == (2, {"a": 5, "b": 5})


@pytest.mark.parametrize("major", ALL)
async def test_retry_on_conflict_rereads_and_merges_again(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1, "b": 1})
    calls = interfere_once(api, {"a": 5, "b": 5})
    status, body = await api("POST", update_path(api, "test_1", "1"), {"doc": {"b": 2}},
                             retry_on_conflict=1)
    assert calls
    assert (status, body["result"], body["_version"]) == (200, "updated", 3)
    got = (await api("GET", api.doc_path("test_1", "1")))[1]
    assert got["_source"] == {"a": 5, "b": 2}  # merged into what the concurrent write left
    retries = [e for e in api.node.recorder.drain() if e["kind"] == "update_retry"]
    assert [e["attempt"] for e in retries] == [1]


@pytest.mark.parametrize("major", (5, 7))
async def test_a_concurrent_create_makes_the_upsert_retry_as_an_update(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1", {})
    interfere_once(api, {"a": 5})
    status, _ = await api("POST", update_path(api, "test_1", "1"),
                          {"doc": {"b": 2}, "upsert": {"a": 0}})
    assert status == 409  # create: document already exists
    await api("DELETE", api.doc_path("test_1", "1"))
    api.clock.now += 61
    interfere_once(api, {"a": 5})
    status, body = await api("POST", update_path(api, "test_1", "2"),
                             {"doc": {"b": 2}, "upsert": {"a": 0}}, retry_on_conflict=2)
    assert (status, body["result"]) == (200, "updated")
    assert (await api("GET", api.doc_path("test_1", "2")))[1]["_source"] == {"a": 5, "b": 2}


# -- refused requests --------------------------------------------------------------------------
@pytest.mark.parametrize("major", ALL)
async def test_scripts_are_refused(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    status, body = await api("POST", update_path(api, "test_1", "1"),
                             {"script": {"source": "ctx._source.a += 1"}})
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert "scripts are not supported by occsim" in body["error"]["reason"]
    status, body = await api("POST", update_path(api, "test_1", "1"),
                             {"script": "ctx._source.a += 1", "doc": {"a": 2}})
    assert (status, body["error"]["reason"]) == (
        400, "Validation Failed: 1: can't provide both script and doc;")
    assert (await api("GET", api.doc_path("test_1", "1")))[1]["_source"] == {"a": 1}


async def test_a_script_with_an_upsert_on_a_missing_doc_just_upserts(make_api):
    api = await make_api(7)
    status, body = await api("POST", "/test_1/_update/1",
                             {"script": "ctx._source.a += 1", "upsert": {"a": 0}})
    assert (status, body["result"]) == (201, "created")
    status, body = await api("POST", "/test_1/_update/2", {
        "script": "ctx._source.a += 1", "upsert": {"a": 0}, "scripted_upsert": True})
    assert status == 400 and "scripts are not supported" in body["error"]["reason"]


@pytest.mark.parametrize("major", MODERN)
async def test_unknown_body_fields_are_refused_from_7(make_api, major):
    api = await make_api(major)
    status, body = await api("POST", update_path(api, "test_1", "1"), b'{"foo": 1}')
    assert (status, body["error"]["type"], body["error"]["reason"]) == (
        400, "x_content_parse_exception", "[1:2] [UpdateRequest] unknown field [foo]")
    status, body = await api("POST", update_path(api, "test_1", "1"),
                             b'{\n  "docs": {"a": 1}\n}')
    assert body["error"]["reason"] == ("[2:3] [UpdateRequest] unknown field [docs] did you "
                                       "mean [doc]?")
    status, body = await api("POST", update_path(api, "test_1", "1"), b'{"doc": 1}')
    assert body["error"]["reason"] == ("[1:9] [UpdateRequest] doc doesn't support values of "
                                       "type: VALUE_NUMBER")
    status, body = await api("POST", update_path(api, "test_1", "1"),
                             b'{"doc": {"a": 1}, "detect_noop": "yes"}')
    assert body["error"]["reason"] == "[1:34] [UpdateRequest] failed to parse field [detect_noop]"
    assert body["error"]["caused_by"]["reason"] == (
        "Failed to parse value [yes] as only [true] or [false] are allowed.")


@pytest.mark.parametrize("major", TYPED_OCC)
async def test_unknown_body_fields_are_ignored_before_7(make_api, major):
    api = await make_api(major)
    status, body = await api("POST", update_path(api, "test_1", "1"),
                             {"doc": {"a": 1}, "doc_as_upsert": True, "foo": 1})
    assert (status, body["result"]) == (201, "created")


async def test_if_seq_no_in_the_body_from_7(make_api):
    api = await make_api(7)
    await api("PUT", "/test_1/_doc/1", {"a": 1})
    status, body = await api("POST", "/test_1/_update/1",
                             {"doc": {"a": 2}, "if_seq_no": 5, "if_primary_term": 1})
    assert status == 409
    status, body = await api("POST", "/test_1/_update/1",
                             {"doc": {"a": 2}, "if_seq_no": 0, "if_primary_term": 1})
    assert (status, body["_seq_no"]) == (200, 1)


@pytest.mark.parametrize("query,body,reason", [
    ({"retry_on_conflict": "abc"}, {"doc": {"a": 1}},
     "Failed to parse int parameter [retry_on_conflict] with value [abc]"),
    ({"retry_on_conflict": 2, "if_seq_no": 1, "if_primary_term": 1}, {"doc": {"a": 1}},
     "Validation Failed: 1: compare and write operations can not be retried;"),
    ({"if_seq_no": 0, "if_primary_term": 1}, {"doc": {"a": 1}, "doc_as_upsert": True},
     "Validation Failed: 1: compare and write operations can not be used with upsert;"),
    ({"if_seq_no": 0, "if_primary_term": 1}, {"doc": {"a": 1}, "upsert": {"a": 0}},
     "Validation Failed: 1: upsert requests don't support `if_seq_no` and `if_primary_term`;"),
    ({"if_seq_no": 0}, {"doc": {"a": 1}},
     "Validation Failed: 1: ifSeqNo is set, but primary term is [0];"),
    ({}, {"doc_as_upsert": True}, "Validation Failed: 1: script or doc is missing;2: doc must "
     "be specified if doc_as_upsert is enabled;"),
    ({"foo": "bar"}, {"doc": {"a": 1}},
     "request [/test_1/_update/1] contains unrecognized parameter: [foo]"),
])
async def test_bad_requests(make_api, query, body, reason):
    api = await make_api(7)
    status, got = await api("POST", "/test_1/_update/1", body, **query)
    assert (status, got["error"]["reason"]) == (400, reason)


@pytest.mark.parametrize("major", TYPED_OCC)
async def test_version_and_retries_do_not_mix_before_7(make_api, major):
    api = await make_api(major)
    status, got = await api("POST", update_path(api, "test_1", "1"), {"doc": {"a": 1}},
                            version=1, retry_on_conflict=1)
    assert (status, got["error"]["reason"]) == (
        400, "Validation Failed: 1: can't provide both retry_on_conflict and a specific "
        "version;")


async def test_if_seq_no_is_not_a_5x_parameter(make_api):
    api = await make_api(5)
    status, got = await api("POST", update_path(api, "test_1", "1"), {"doc": {"a": 1}},
                            if_seq_no=0, if_primary_term=1)
    assert status == 400
    assert "unrecognized parameters: [if_seq_no], [if_primary_term]" in got["error"]["reason"]


async def test_update_routes_per_profile(make_api):
    api5 = await make_api(5)
    status, got = await api5("POST", "/test_1/_doc/1/_update", {"doc": {"a": 1}})
    assert got["error"]["type"] == "document_missing_exception"  # nothing of that type
    status, got = await api5("POST", "/test_1/_doc/1/_update",
                             {"doc": {"a": 1}, "doc_as_upsert": True})
    assert got["error"]["type"] == "invalid_type_name_exception"  # 5.x: `_doc` is no type
    api7 = await make_api(7)
    status, _ = await api7("POST", "/test_1/custom/1/_update",
                           {"doc": {"a": 1}, "doc_as_upsert": True})
    assert status == 201  # 7.x still has typed URLs
    api8 = await make_api(8)
    status, _ = await api8("POST", "/test_1/_doc/1/_update", {"doc": {"a": 1}})
    assert status in (400, 405)  # gone in 8.x
