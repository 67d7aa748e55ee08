"""`_bulk`, `_mget`, `_refresh` and `_count` against an in-process node of each profile: item
answers and errors identical to the single-document API's, per-item OCC, the parser's 400s,
mget entries, and what a count sees before and after a refresh."""

from __future__ import annotations

import json

import pytest

ALL = (5, 6, 7, 8, 9)
SEQ_NO = (6, 7, 8, 9)
MODERN = (7, 8, 9)


def ndjson(*lines: object) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def meta(api, index: str, doc_id: str | None = None, **more) -> dict:
    """An action's metadata: `_type` where the profile needs one (5.x/6.x)."""
    out = {"_index": index}
    if api.major <= 6:
        out["_type"] = "test" if api.major == 5 else "_doc"
    if doc_id is not None:
        out["_id"] = doc_id
    out.update(more)
    return out


def type_name(api) -> str:
    return "test" if api.major == 5 else "_doc"


def update_path(api, index: str, doc_id: str) -> str:
    if api.major <= 6:
        return f"{api.doc_path(index, doc_id)}/_update"
    return f"/{index}/_update/{doc_id}"


def without_root_cause(error: dict) -> dict:
    return {k: v for k, v in error.items() if k != "root_cause"}


# -- bulk: the four actions --------------------------------------------------------------------
@pytest.mark.parametrize("major", ALL)
async def test_bulk_with_all_four_actions(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "3"), {"old": True})
    await api("PUT", api.doc_path("test_1", "4"), {"n": 1})
    status, body = await api("POST", "/_bulk", ndjson(
        {"index": meta(api, "test_1", "1")}, {"foo": "bar"},
        {"create": meta(api, "test_1", "2")}, {"foo": "baz"},
        {"delete": meta(api, "test_1", "3")},
        {"update": meta(api, "test_1", "4")}, {"doc": {"m": 2}},
        {"index": meta(api, "test_1")}, {"auto": "id"},
    ))
    assert status == 200
    assert body["errors"] is False
    assert isinstance(body["took"], int)
    assert list(body) == ["took", "errors", "items"]
    items = body["items"]
    assert [list(i)[0] for i in items] == ["index", "create", "delete", "update", "index"]
    first = items[0]["index"]
    expected = {"_index": "test_1", "_type": type_name(api), "_id": "1", "_version": 1,
                "result": "created", "_shards": {"total": 2, "successful": 1, "failed": 0}}
    if major >= 6:
        expected.update(_seq_no=first["_seq_no"], _primary_term=1)
    if major == 5:
        expected["created"] = True
    if major >= 8:
        del expected["_type"]
    assert first == {**expected, "status": 201}
    assert (items[1]["create"]["status"], items[1]["create"]["result"]) == (201, "created")
    assert (items[2]["delete"]["status"], items[2]["delete"]["result"]) == (200, "deleted")
    assert (items[3]["update"]["status"], items[3]["update"]["result"],
            items[3]["update"]["_version"]) == (200, "updated", 2)
    auto_id = items[4]["index"]["_id"]
    assert len(auto_id) == 20
    for doc_id, source in (("1", {"foo": "bar"}), ("2", {"foo": "baz"}),
                           ("4", {"n": 1, "m": 2}), (auto_id, {"auto": "id"})):
        assert (await api("GET", api.doc_path("test_1", doc_id)))[1]["_source"] == source
    assert (await api("GET", api.doc_path("test_1", "3")))[0] == 404


@pytest.mark.parametrize("major", ALL)
async def test_single_doc_body_equals_the_bulk_item(make_api, major):
    """A bulk item is the single-document answer plus `status`."""
    api = await make_api(major)
    single = await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    status, body = await api("POST", "/_bulk", ndjson({"index": meta(api, "test_1", "2")},
                                                      {"a": 1}))
    item = body["items"][0]["index"]
    assert item.pop("status") == single[0]
    assert {k: v for k, v in item.items() if k not in ("_id", "_seq_no")} == \
        {k: v for k, v in single[1].items() if k not in ("_id", "_seq_no")}


async def test_default_index_and_type_from_the_url(make_api):
    api5 = await make_api(5)
    status, body = await api5("POST", "/test_1/test/_bulk", ndjson({"index": {"_id": "1"}},
                                                                  {"a": 1}))
    item = body["items"][0]["index"]
    assert (status, item["_index"], item["_type"], item["status"]) == (200, "test_1", "test",
                                                                       201)
    api7 = await make_api(7)
    status, body = await api7("POST", "/test_1/_bulk", ndjson({"index": {"_id": "1"}}, {"a": 1},
                                                              {"index": {"_index": "other"}},
                                                              {"b": 2}))
    assert [i["index"]["_index"] for i in body["items"]] == ["test_1", "other"]
    assert body["items"][0]["index"]["_type"] == "_doc"


# -- bulk: errors inside items -----------------------------------------------------------------
@pytest.mark.parametrize("major", ALL)
async def test_item_errors_are_the_single_doc_errors(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    single_conflict = await api("PUT", api.create_path("test_1", "1"), {"a": 2})
    single_missing = await api("POST", update_path(api, "test_1", "9"), {"doc": {"a": 1}})
    assert (single_conflict[0], single_missing[0]) == (409, 404)
    status, body = await api("POST", "/_bulk", ndjson(
        {"create": meta(api, "test_1", "1")}, {"a": 2},
        {"update": meta(api, "test_1", "9")}, {"doc": {"a": 1}},
        {"index": meta(api, "test_1", "2")}, {"b": 1},
        {"delete": meta(api, "test_1", "7")},
    ))
    assert status == 200
    assert body["errors"] is True
    conflict, missing, ok, not_found = (list(i.values())[0] for i in body["items"])
    head = {"_index": "test_1", "_type": type_name(api)} if major <= 7 else {"_index": "test_1"}
    assert conflict == {**head, "_id": "1", "status": 409,
                        "error": without_root_cause(single_conflict[1]["error"])}
    assert list(conflict) == [*head, "_id", "status", "error"]
    assert missing == {**head, "_id": "9", "status": 404,
                       "error": without_root_cause(single_missing[1]["error"])}
    assert list(conflict["error"]) == ["type", "reason", "index_uuid", "shard", "index"]
    assert (ok["status"], ok["result"]) == (201, "created")
    # a delete of a missing document is an answer (404 `not_found`), not an error
    assert (not_found["status"], not_found["result"]) == (404, "not_found")
    assert "error" not in not_found
    assert (await api("GET", api.doc_path("test_1", "1")))[1]["_source"] == {"a": 1}


@pytest.mark.parametrize("major", ALL)
async def test_an_unparsable_source_fails_only_its_item(make_api, major):
    api = await make_api(major)
    body = (json.dumps({"index": meta(api, "test_1", "1")}) + '\n{"a": \n'
            + json.dumps({"index": meta(api, "test_1", "2")}) + '\n[1, 2]\n'
            + json.dumps({"index": meta(api, "test_1", "3")}) + '\n{"ok": 1}\n').encode()
    status, got = await api("POST", "/_bulk", body)
    assert (status, got["errors"]) == (200, True)
    bad_json, not_object, ok = (i["index"] for i in got["items"])
    assert bad_json["status"] == 400
    assert bad_json["error"]["type"] == "mapper_parsing_exception"
    assert bad_json["error"]["caused_by"]["type"] == "json_parse_exception"
    assert not_object["error"]["caused_by"]["type"] == "not_x_content_exception"
    assert ok["status"] == 201


@pytest.mark.parametrize("major", ALL)
async def test_per_item_external_versions(make_api, major):
    api = await make_api(major)
    version = "_version" if major <= 6 else "version"
    version_type = "_version_type" if major <= 6 else "version_type"
    ext = {version: 5, version_type: "external"}
    status, body = await api("POST", "/_bulk", ndjson(
        {"index": meta(api, "test_1", "1", **ext)}, {"a": 1},
        {"index": meta(api, "test_1", "1", **ext)}, {"a": 2},
        {"index": meta(api, "test_1", "1", **{version: 6, version_type: "external"})},
        {"a": 3},
        {"delete": meta(api, "test_1", "1", **{version: 6, version_type: "external"})},
    ))
    items = [list(i.values())[0] for i in body["items"]]
    assert [i["status"] for i in items] == [201, 409, 200, 409]
    assert items[1]["error"]["reason"].endswith(
        "version conflict, current version [5] is higher or equal to the one provided [5]")
    assert (await api("GET", api.doc_path("test_1", "1")))[1]["_source"] == {"a": 3}


@pytest.mark.parametrize("major", (5, 6))
async def test_per_item_internal_versions_before_7(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    status, body = await api("POST", "/_bulk", ndjson(
        {"index": meta(api, "test_1", "1", _version=2)}, {"a": 2},
        {"index": meta(api, "test_1", "1", version=1)}, {"a": 3},
        {"update": meta(api, "test_1", "1", _version=1)}, {"doc": {"b": 1}},
        {"update": meta(api, "test_1", "1", _version=2)}, {"doc": {"b": 1}},
    ))
    assert [list(i.values())[0]["status"] for i in body["items"]] == [409, 200, 409, 200]


@pytest.mark.parametrize("major", MODERN)
async def test_underscore_metadata_names_are_gone_from_7(make_api, major):
    api = await make_api(major)
    status, body = await api("POST", "/_bulk", ndjson(
        {"index": {"_index": "test_1", "_id": "1", "_version": 2}}, {"a": 1}))
    assert (status, body["error"]["reason"]) == (
        400, "Action/metadata line [1] contains an unknown parameter [_version]")


@pytest.mark.parametrize("major", SEQ_NO)
async def test_per_item_if_seq_no(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    status, body = await api("POST", "/_bulk", ndjson(
        {"index": meta(api, "test_1", "1", if_seq_no=5, if_primary_term=1)}, {"a": 2},
        {"index": meta(api, "test_1", "1", if_seq_no=0, if_primary_term=1)}, {"a": 3},
        {"delete": meta(api, "test_1", "1", if_seq_no=0, if_primary_term=1)},
        {"update": meta(api, "test_1", "1", if_seq_no=1, if_primary_term=1)},
        {"doc": {"b": 1}},
    ))
    items = [list(i.values())[0] for i in body["items"]]
    assert [i["status"] for i in items] == [409, 200, 409, 200]
    assert items[0]["error"]["reason"].endswith(
        "version conflict, required seqNo [5], primary term [1]. current document has seqNo "
        "[0] and primary term [1]")
    assert items[3]["_seq_no"] == 2


@pytest.mark.parametrize("major", ALL)
async def test_a_shard_without_enough_copies_fails_each_of_its_items(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1", {"settings": {"number_of_shards": 1}})
    shard_request = ("BulkShardRequest to [test_1] containing [2] requests" if major == 5
                     else "BulkShardRequest [[test_1][0]] containing [2] requests")
    status, body = await api("POST", "/_bulk?wait_for_active_shards=all&timeout=10ms", ndjson(
        {"index": meta(api, "test_1", "1")}, {"a": 1},
        {"delete": meta(api, "test_1", "2")},
    ))
    assert (status, body["errors"]) == (200, True)
    for item in (body["items"][0]["index"], body["items"][1]["delete"]):
        assert item["status"] == 503
        assert item["error"]["type"] == "unavailable_shards_exception"
        assert item["error"]["reason"] == (
            "[test_1][0] Not enough active copies to meet shard count of [ALL] (have 1, needed "
            f"2). Timeout: [10ms], request: [{shard_request}]")


@pytest.mark.parametrize("major", ALL)
async def test_bulk_update_retries_and_noops(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    retry = "retry_on_conflict" if major >= 7 else "_retry_on_conflict"
    status, body = await api("POST", "/_bulk", ndjson(
        {"update": meta(api, "test_1", "1", **{retry: 3})}, {"doc": {"a": 1}},
        {"update": meta(api, "test_1", "2")}, {"doc": {"a": 1}, "doc_as_upsert": True},
    ))
    noop, created = (i["update"] for i in body["items"])
    assert (noop["status"], noop["result"], noop["_version"]) == (200, "noop", 1)
    # a bulk item carries its shard's `_shards`, a noop too
    assert noop["_shards"] == {"total": 2, "successful": 1, "failed": 0}
    assert (created["status"], created["result"]) == (201, "created")


# -- bulk: requests refused as a whole ---------------------------------------------------------
@pytest.mark.parametrize("major,body,reason", [
    (7, b"[1]\n", "Malformed action/metadata line [1], expected START_OBJECT but found "
     "[START_ARRAY]"),
    (7, b"{}\n", "Malformed action/metadata line [1], expected FIELD_NAME but found "
     "[END_OBJECT]"),
    (7, b'{"index": 1}\n{}\n', "Malformed action/metadata line [1], expected START_OBJECT or "
     "END_OBJECT but found [VALUE_NUMBER]"),
    (7, b'{"index": {"_id": ["1"]}}\n{}\n', "Malformed action/metadata line [1], expected a "
     "simple value for field [_id] but found [START_ARRAY]"),
    (7, b'{"index": {"_index": "i"}}\n{}\n{"upsert": {"_index": "i"}}\n{}\n',
     "Malformed action/metadata line [4], expected field [create], [delete], [index] or "
     "[update] but found [upsert]"),
    (7, b'{"index": {"_foo": "x"}}\n{}\n', "Action/metadata line [1] contains an unknown "
     "parameter [_foo]"),
    (8, b'{"index": {"_index": "i", "_type": "t"}}\n{}\n', "Action/metadata line [1] contains "
     "an unknown parameter [_type]"),
    (8, b'{"index": {"_index": "i"}, "x": 1}\n{}\n', "Malformed action/metadata line [1], "
     "expected END_OBJECT but found [FIELD_NAME]"),
    (6, b'{"index": {"_index": "i", "_type": "t"}}\n{}', "The bulk request must be terminated "
     "by a newline [\\n]"),
    (9, b'{"index": {"_index": "i"}}\n{}', "The bulk request must be terminated by a newline "
     "[\\n]"),
    (7, b"\n\n", "Validation Failed: 1: no requests added;"),
    (7, b'{"index": {}}\n{}\n{"delete": {"_index": "i"}}\n',
     "Validation Failed: 1: index is missing;2: id is missing;"),
    (6, b'{"index": {"_index": "i"}}\n{}\n', "Validation Failed: 1: type is missing;"),
    (7, b'{"index": {"_index": "i", "_id": "1", "version": 2}}\n{}\n', "Validation Failed: 1: "
     "internal versioning can not be used for optimistic concurrency control. Please use "
     "`if_seq_no` and `if_primary_term` instead;"),
    (7, b'{"create": {"_index": "i", "_id": "1", "version": 2, "version_type": "external"}}\n'
     b'{}\n', "Validation Failed: 1: create operations only support internal versioning. use "
     "index instead;"),
    (7, b'{"update": {"_index": "i", "_id": "1", "version": 2}}\n{"doc": {}}\n',
     "Update requests do not support versioning. Please use `if_seq_no` and "
     "`if_primary_term` instead"),
    (7, b'{"update": {"_index": "i", "_id": "1"}}\n{"doc": {}, "foo": 1}\n',
     "[1:13] [UpdateRequest] unknown field [foo]"),
    (6, b'{"update": {"_index": "i", "_type": "t", "_id": "1", "version_type": "external", '
     b'"version": 3}}\n{"doc": {}}\n',
     "Validation Failed: 1: version type [EXTERNAL] is not supported by the update API;"),
])
async def test_malformed_or_invalid_bulk_is_a_400(make_api, major, body, reason):
    api = await make_api(major)
    status, got = await api("POST", "/_bulk", body)
    assert status == 400, got
    assert got["error"]["reason"] == reason
    assert (await api("HEAD", "/i"))[0] == 404  # nothing ran


async def test_empty_bulk_body(make_api):
    api = await make_api(7)
    status, got = await api("POST", "/_bulk", b"")
    assert (status, got["error"]["type"], got["error"]["reason"]) == (
        400, "parse_exception", "request body is required")


async def test_5x_drops_a_last_line_without_newline(make_api):
    api = await make_api(5)
    status, got = await api("POST", "/_bulk", ndjson(
        {"index": meta(api, "test_1", "1")}, {"a": 1}) + b'{"index": {"_index": "test_1", '
        b'"_type": "test", "_id": "2"}}\n{"a": 2}')
    assert status == 200
    assert len(got["items"]) == 1
    assert (await api("GET", api.doc_path("test_1", "2")))[0] == 404


async def test_ndjson_content_type_and_crlf(make_api):
    from occsim.node.api.routes import dispatch
    from occsim.node.rest import Request
    api = await make_api(7)
    body = b'{"index": {"_index": "test_1", "_id": "1"}}\r\n{"a": 1}\r\n'
    response = await dispatch(api.node, Request("POST", "/_bulk", {}, {
        "content-type": "application/x-ndjson"}, body))
    assert response.status == 200
    assert response.body["items"][0]["index"]["status"] == 201


# -- mget --------------------------------------------------------------------------------------
@pytest.mark.parametrize("major", ALL)
async def test_mget_docs_and_ids(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    await api("PUT", api.doc_path("test_1", "2"), {"b": 2})
    single = (await api("GET", api.doc_path("test_1", "1")))[1]
    missing = (await api("GET", api.doc_path("test_1", "3")))[1]
    docs = [meta(api, "test_1", "1"), meta(api, "test_1", "3")]
    status, body = await api("POST", "/_mget", {"docs": docs})
    assert status == 200
    assert body["docs"] == [single, missing]
    path = "/test_1/test/_mget" if major == 5 else "/test_1/_mget"
    status, body = await api("GET", path, {"ids": ["2", "1", "3"]})
    assert [d["found"] for d in body["docs"]] == [True, True, False]
    assert body["docs"][0]["_source"] == {"b": 2}
    assert body["docs"][1] == single


@pytest.mark.parametrize("major,reason", [(5, "no such index"), (6, "no such index"),
                                          (7, "no such index [nope]"),
                                          (9, "no such index [nope]")])
async def test_mget_missing_index_is_an_error_entry(make_api, major, reason):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    status, body = await api("POST", "/_mget", {"docs": [meta(api, "nope", "1"),
                                                         meta(api, "test_1", "1")]})
    assert status == 200
    error_entry, found = body["docs"]
    assert error_entry["_index"] == "nope" and error_entry["_id"] == "1"
    assert error_entry["error"]["type"] == "index_not_found_exception"
    assert error_entry["error"]["reason"] == reason
    assert error_entry["error"]["root_cause"][0]["type"] == "index_not_found_exception"
    single = await api("GET", api.doc_path("nope", "1"))
    assert single[1]["error"] == error_entry["error"]
    assert found["found"] is True


async def test_mget_without_type_finds_any_type_in_5x(make_api):
    api = await make_api(5)
    await api("PUT", "/test_1/some_type/1", {"a": 1})
    status, body = await api("GET", "/test_1/_mget", {"ids": ["1", "2"]})
    assert body["docs"][0]["_type"] == "some_type"
    assert body["docs"][0]["_source"] == {"a": 1}
    assert body["docs"][1]["found"] is False


async def test_mget_per_entry_version_and_routing(make_api):
    api = await make_api(7)
    await api("PUT", "/test_1/_doc/1", {"a": 1}, routing="r")
    status, body = await api("POST", "/test_1/_mget", {"docs": [
        {"_id": "1", "routing": "r"}, {"_id": "1", "routing": "r", "version": 7}]})
    found, conflict = body["docs"]
    assert found["found"] is True
    assert conflict["error"]["type"] == "version_conflict_engine_exception"


@pytest.mark.parametrize("body,status,reason", [
    ({"docs": []}, 400, "Validation Failed: 1: no documents to get;"),
    (None, 400, "Validation Failed: 1: no documents to get;"),
    ({"ids": ["1"]}, 400, "Validation Failed: 1: index is missing for doc 0;"),
    ({"docs": [{"_index": "i"}]}, 400, "Validation Failed: 1: id is missing for doc 0;"),
    ({"docs": [{"_index": "i", "_id": "1", "foo": 1}]}, 400,
     "failed to parse multi get request. unknown field [foo]"),
    ({"documents": []}, 400, "unknown key [documents] for a START_ARRAY, expected [docs] or "
     "[ids]"),
])
async def test_bad_mget(make_api, body, status, reason):
    api = await make_api(7)
    got_status, got = await api("POST", "/_mget", body)
    assert (got_status, got["error"]["reason"]) == (status, reason)


# -- refresh and count -------------------------------------------------------------------------
async def _setup(api, shards=2, replicas=0):
    await api("PUT", "/test_1", {"settings": {"number_of_shards": shards,
                                              "number_of_replicas": replicas}})


@pytest.mark.parametrize("major", ALL)
async def test_count_sees_only_refreshed_documents(make_api, major):
    api = await make_api(major)
    await _setup(api)
    for n in range(3):
        await api("PUT", api.doc_path("test_1", str(n)), {"n": n})
    status, body = await api("GET", "/test_1/_count")
    shards = {"total": 2, "successful": 2, "skipped": 0, "failed": 0}
    if major == 5:
        del shards["skipped"]
    assert (status, body) == (200, {"count": 0, "_shards": shards})
    assert (await api("GET", api.doc_path("test_1", "1")))[0] == 200  # GET is realtime
    status, body = await api("POST", "/test_1/_refresh")
    assert (status, body) == (200, {"_shards": {"total": 2, "successful": 2, "failed": 0}})
    assert (await api("GET", "/test_1/_count"))[1]["count"] == 3
    await api("DELETE", api.doc_path("test_1", "1"))
    assert (await api("POST", "/_count"))[1]["count"] == 3
    await api("GET", "/_refresh")
    assert (await api("GET", "/_count"))[1]["count"] == 2


@pytest.mark.parametrize("major", ALL)
async def test_refresh_true_makes_a_write_visible_at_once(make_api, major):
    api = await make_api(major)
    await _setup(api)
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    status, body = await api("PUT", api.doc_path("test_1", "2"), {"a": 2}, refresh="true")
    assert body["forced_refresh"] is True
    assert list(body).index("forced_refresh") == list(body).index("result") + 1
    count = (await api("GET", "/test_1/_count"))[1]["count"]
    # the refresh covers the shard the write went to (and so everything it held)
    meta = api.node.index_meta("test_1")
    apart = api.node.shard_of(meta, "1", None) != api.node.shard_of(meta, "2", None)
    assert count == (1 if apart else 2)
    status, body = await api("DELETE", api.doc_path("test_1", "2"), refresh="wait_for")
    assert "forced_refresh" not in body
    assert (await api("GET", "/test_1/_count"))[1]["count"] == count - 1


async def test_refresh_reaches_replicas_and_reports_unassigned_copies(make_api):
    api = await make_api(6)
    status, body = await api("POST", "/_refresh")
    assert body == {"_shards": {"total": 0, "successful": 0, "failed": 0}}
    await _setup(api, shards=3, replicas=1)
    await api("PUT", "/other", {})
    status, body = await api("POST", "/_refresh")
    # 3 + 5 primaries, each with an unassigned replica on this one-node cluster
    assert body == {"_shards": {"total": 16, "successful": 8, "failed": 0}}
    status, body = await api("POST", "/test_1,other/_refresh")
    assert body["_shards"]["total"] == 16
    assert (await api("GET", "/_count"))[1]["_shards"]["total"] == 8


@pytest.mark.parametrize("major", ALL)
async def test_bulk_refresh_true(make_api, major):
    api = await make_api(major)
    await _setup(api)
    status, body = await api("POST", "/_bulk?refresh=true", ndjson(
        {"index": meta(api, "test_1", "1")}, {"a": 1},
        {"index": meta(api, "test_1", "2")}, {"a": 2}))
    assert all(i["index"]["forced_refresh"] is True for i in body["items"])
    assert (await api("GET", "/test_1/_count"))[1]["count"] == 2


@pytest.mark.parametrize("major", ALL)
async def test_scheduled_refresh_every_second(make_api, major):
    api = await make_api(major)
    await _setup(api, shards=1)
    api.clock.now += 0.5
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    assert (await api("GET", "/test_1/_count"))[1]["count"] == 0
    api.clock.now += 0.5  # one second after the index was created: a refresh is due
    assert (await api("GET", "/test_1/_count"))[1]["count"] == 1
    api.clock.now += 0.2
    await api("PUT", api.doc_path("test_1", "2"), {"a": 2})
    assert (await api("GET", "/test_1/_count"))[1]["count"] == 1
    api.clock.now += 1.0
    assert (await api("GET", "/test_1/_count"))[1]["count"] == 2


@pytest.mark.parametrize("major,visible", [(5, 0), (6, 0), (7, 1), (9, 1)])
async def test_search_idle_shards_refresh_when_searched(make_api, major, visible):
    """From 7.0 a shard with no search for 30s skips scheduled refreshes; a search then
    refreshes first. Before, the schedule alone decides."""
    api = await make_api(major)
    await _setup(api, shards=1)
    api.clock.now += 40.0  # a refresh ran (5.x/6.x) or was skipped (7.x+) at every second
    await api("PUT", api.doc_path("test_1", "1"), {"a": 1})
    api.clock.now += 0.5  # the next scheduled refresh is not due yet
    assert (await api("GET", "/test_1/_count"))[1]["count"] == visible
    api.clock.now += 0.5
    assert (await api("GET", "/test_1/_count"))[1]["count"] == 1


async def test_count_query_body(make_api):
    api = await make_api(7)
    await _setup(api)
    await api("PUT", "/test_1/_doc/1?refresh=true", {"a": 1})
    status, body = await api("POST", "/test_1/_count", {"query": {"match_all": {}}})
    assert (status, body["count"]) == (200, 1)
    status, body = await api("GET", "/_count?q=*:*")
    assert (status, body["count"]) == (200, 1)
    status, body = await api("POST", "/test_1/_count", {"query": {"term": {"a": 1}}})
    assert (status, body["count"]) == (200, 1)
    status, body = await api("POST", "/test_1/_count", {"query": {"prefix": {"a": "x"}}})
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert "the [prefix] query is not supported" in body["error"]["reason"]
    status, body = await api("POST", "/test_1/_count", b'{"query": {"match_all": {}}, '
                                                       b'"size": 1}')
    assert (status, body["error"]["type"], body["error"]["reason"]) == (
        400, "parsing_exception", "request does not support [size]")
    assert (body["error"]["line"], body["error"]["col"]) == (1, 30)
    status, body = await api("GET", "/_count?q=a:2")
    assert (status, body["count"]) == (200, 0)


@pytest.mark.parametrize("path", ["/nope/_count", "/nope/_refresh"])
async def test_count_and_refresh_of_a_missing_index(make_api, path):
    api = await make_api(7)
    status, body = await api("POST", path)
    assert (status, body["error"]["type"]) == (404, "index_not_found_exception")
