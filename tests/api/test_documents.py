"""The document APIs' finer points against an in-process node of each profile: `_source`
filtering (get, mget, update, bulk update), `_routing` and `realtime=false` on reads, the index
settings `number_of_routing_shards` and `refresh_interval`, bulk's empty `_id`, deprecation
warnings, and how each generation treats types in reads and writes."""

from __future__ import annotations

import json

import pytest

ALL = (5, 6, 7, 8, 9)
DOC = {"include": {"field1": "v1", "field2": "v2"}, "count": 1, "bigint": 72057594037927936}


def ndjson(*lines: object) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def includes_param(major: int) -> str:
    return "_source_include" if major == 5 else "_source_includes"


def update_path(api, index: str, doc_id: str) -> str:
    if api.major <= 6:
        return f"{api.doc_path(index, doc_id)}/_update"
    return f"/{index}/_update/{doc_id}"


# -- _source filtering ---------------------------------------------------------------------
@pytest.mark.parametrize("major", ALL)
async def test_get_source_filtering(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), DOC)
    status, body = await api("GET", api.doc_path("test_1", "1"), _source="false")
    assert status == 200 and body["found"] is True and "_source" not in body
    _, body = await api("GET", api.doc_path("test_1", "1"), _source="count")
    assert body["_source"] == {"count": 1}
    _, body = await api("GET", api.doc_path("test_1", "1"), _source="include.field1")
    assert body["_source"] == {"include": {"field1": "v1"}}
    _, body = await api("GET", api.doc_path("test_1", "1"),
                        **{includes_param(major): "include", "_source_exclude"
                           if major == 5 else "_source_excludes": "*.field2"})
    assert body["_source"] == {"include": {"field1": "v1"}}
    _, body = await api("GET", api.doc_path("test_1", "1"), _source="in*.field2,count")
    assert body["_source"] == {"include": {"field2": "v2"}, "count": 1}


@pytest.mark.parametrize("major", (5, 6))
async def test_both_spellings_of_source_includes_before_7(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), DOC)
    _, body = await api("GET", api.doc_path("test_1", "1"), _source_includes="count")
    assert body["_source"] == {"count": 1}
    _, body = await api("GET", api.doc_path("test_1", "1"), _source_includes="count",
                        _source_include="bigint")
    assert body["_source"] == {"bigint": DOC["bigint"]}  # the singular wins


async def test_singular_source_include_is_deprecated_in_6(make_api):
    api = await make_api(6)
    await api("PUT", api.doc_path("test_1", "1"), DOC)
    _, body = await api("GET", api.doc_path("test_1", "1"), _source_include="count")
    assert body["_source"] == {"count": 1}
    assert ('"Deprecated field [_source_include] used, expected [_source_includes] instead"'
            in api.last.headers["Warning"])


@pytest.mark.parametrize("major", (7, 8, 9))
async def test_singular_source_include_is_gone_from_7(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), DOC)
    status, body = await api("GET", api.doc_path("test_1", "1"), _source_include="count")
    assert status == 400
    assert "unrecognized parameter: [_source_include]" in body["error"]["reason"]


@pytest.mark.parametrize("major", ALL)
async def test_mget_source_filtering_per_doc_and_from_the_url(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), DOC)
    typed = {"_type": "test"} if major == 5 else {}
    docs = [{"_index": "test_1", "_id": "1", **typed, "_source": False},
            {"_index": "test_1", "_id": "1", **typed, "_source": "count"},
            {"_index": "test_1", "_id": "1", **typed, "_source": ["include.field1"]},
            {"_index": "test_1", "_id": "1", **typed,
             "_source": {"includes": "include", "excludes": "*.field1"}},
            {"_index": "test_1", "_id": "1", **typed}]
    status, body = await api("POST", "/_mget", {"docs": docs}, _source="count")
    assert status == 200
    got = [d.get("_source", "absent") for d in body["docs"]]
    assert got == ["absent", {"count": 1}, {"include": {"field1": "v1"}},
                   {"include": {"field2": "v2"}}, {"count": 1}]


@pytest.mark.parametrize("major", ALL)
async def test_update_answers_the_filtered_source(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), DOC)
    status, body = await api("POST", update_path(api, "test_1", "1"),
                             {"doc": {"count": 2}}, _source="count")
    assert status == 200
    assert body["get"]["_source"] == {"count": 2} and body["get"]["found"] is True
    _, body = await api("POST", update_path(api, "test_1", "1"), {"doc": {"count": 3}},
                        _source="false")
    assert "get" not in body


@pytest.mark.parametrize("major", ALL)
async def test_bulk_update_items_answer_the_filtered_source(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), DOC)
    action = {"_index": "test_1", "_id": "1"}
    if major <= 6:
        action["_type"] = "test" if major == 5 else "_doc"
    status, body = await api("POST", "/_bulk", ndjson(
        {"update": action}, {"doc": {"count": 5}, "_source": ["count"]},
        {"update": action}, {"doc": {"count": 6}}), _source="include.field2")
    assert status == 200 and body["errors"] is False
    first, second = (item["update"] for item in body["items"])
    assert first["get"]["_source"] == {"count": 5}
    assert second["get"]["_source"] == {"include": {"field2": "v2"}}


# -- routing, realtime and index settings --------------------------------------------------
@pytest.mark.parametrize("major", ALL)
async def test_get_shows_the_routing_a_document_was_indexed_with(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1", {"settings": {"number_of_shards": 5}})
    await api("PUT", api.doc_path("test_1", "1"), {"foo": "bar"}, routing="5")
    status, body = await api("GET", api.doc_path("test_1", "1"), routing="5")
    assert status == 200 and body["_routing"] == "5"
    _, body = await api("POST", "/_mget", {"docs": [
        {"_index": "test_1", "_id": "1", "routing": "5",
         **({"_type": "test"} if major == 5 else {})}]})
    assert body["docs"][0]["_routing"] == "5"
    _, body = await api("PUT", api.doc_path("test_1", "2"), {"foo": "bar"})
    _, body = await api("GET", api.doc_path("test_1", "2"))
    assert "_routing" not in body


@pytest.mark.parametrize("major", ALL)
async def test_realtime_false_reads_what_the_last_refresh_made_visible(make_api, major):
    api = await make_api(major)
    status, _ = await api("PUT", "/test_1", {"settings": {"index.refresh_interval": "-1"}})
    assert status == 200
    await api("PUT", api.doc_path("test_1", "1"), {"foo": "bar"})
    status, body = await api("GET", api.doc_path("test_1", "1"), realtime="false")
    assert status == 404 and body["found"] is False
    api.clock.now += 3600  # refresh_interval -1: time alone refreshes nothing
    status, _ = await api("GET", api.doc_path("test_1", "1"), realtime="false")
    assert status == 404
    status, body = await api("GET", api.doc_path("test_1", "1"))
    assert status == 200  # realtime, the default, sees the write
    await api("POST", "/test_1/_refresh")
    status, body = await api("GET", api.doc_path("test_1", "1"), realtime="false")
    assert status == 200 and body["_source"] == {"foo": "bar"}


@pytest.mark.parametrize("major", ALL)
async def test_refresh_interval_drives_when_writes_become_visible(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1", {"settings": {"refresh_interval": "5s"}})
    await api("PUT", api.doc_path("test_1", "1"), {"foo": "bar"})
    api.clock.now += 2
    _, body = await api("GET", "/test_1/_count")
    assert body["count"] == 0
    api.clock.now += 4
    _, body = await api("GET", "/test_1/_count")
    assert body["count"] == 1


@pytest.mark.parametrize("major", (6, 7, 8, 9))
async def test_number_of_routing_shards_is_a_setting_from_6_1(make_api, major):
    api = await make_api(major)
    status, _ = await api("PUT", "/test_1", {"settings": {"number_of_shards": 2,
                                                          "number_of_routing_shards": 8}})
    assert status == 200
    assert api.node.state["indices"]["test_1"]["routing_num_shards"] == 8
    status, body = await api("PUT", "/test_2", {"settings": {
        "number_of_shards": 8, "index.number_of_routing_shards": 4}})
    assert status == 400 and body["error"]["reason"] == (
        "index.number_of_routing_shards [4] must be >= index.number_of_shards [8]")
    status, body = await api("PUT", "/test_3", {"settings": {
        "number_of_shards": 2, "number_of_routing_shards": 3}})
    assert status == 400 and body["error"]["reason"] == (
        "the number of source shards [2] must be a factor of [3]")


async def test_number_of_routing_shards_is_unknown_in_5(make_api):
    api = await make_api(5)
    status, body = await api("PUT", "/test_1", {"settings": {"number_of_routing_shards": 10}})
    assert status == 400
    assert body["error"]["reason"].startswith("unknown setting [index.number_of_routing_shards]")


# -- bulk: an empty _id --------------------------------------------------------------------
@pytest.mark.parametrize("major", ALL)
async def test_bulk_refuses_an_empty_id_in_its_item(make_api, major):
    api = await make_api(major)
    action = {"_index": "test_1", "_id": ""}
    if major <= 6:
        action["_type"] = "test" if major == 5 else "_doc"
    status, body = await api("POST", "/_bulk", ndjson(
        {"index": action}, {"f": 1}, {"index": {**action, "_id": "ok"}}, {"f": 2}))
    assert status == 200 and body["errors"] is True
    bad, good = (item["index"] for item in body["items"])
    assert bad["status"] == 400 and bad["_id"] == ""
    assert bad["error"] == {"type": "illegal_argument_exception",
                            "reason": "if _id is specified it must not be empty"}
    assert good["status"] == 201


# -- deprecation warnings ------------------------------------------------------------------
async def test_force_version_type_is_deprecated_in_5(make_api):
    api = await make_api(5)
    status, _ = await api("PUT", api.doc_path("test_1", "1"), {"f": 1}, version=5,
                          version_type="force")
    assert status == 201
    warning = api.last.headers["Warning"]
    assert warning.startswith('299 Elasticsearch-5.6.16-3a740d1 "version type FORCE is '
                              'deprecated and will be removed in the next major version" "')
    assert warning.endswith(' GMT"')
    await api("GET", api.doc_path("test_1", "1"), version=2, version_type="force")
    assert "version type FORCE" in api.last.headers["Warning"]
    await api("GET", api.doc_path("test_1", "1"))
    assert "Warning" not in api.last.headers


async def test_internal_versioning_for_occ_is_deprecated_in_6(make_api):
    api = await make_api(6)
    await api("PUT", "/test_1/test/1", {"f": 1})
    status, _ = await api("PUT", "/test_1/test/1", {"f": 2}, version=1)
    assert status == 200
    assert api.last.headers["Warning"].startswith(
        '299 Elasticsearch-6.8.23-4f67856 "Usage of internal versioning for optimistic '
        'concurrency control is deprecated and will be removed. Please use the `if_seq_no` and '
        '`if_primary_term` parameters instead. (request for index [test_1], type [test])" "')
    status, _ = await api("DELETE", "/test_1/test/1", version=1)
    assert status == 409 and "Warning" in api.last.headers
    await api("PUT", "/test_1/test/2", {"f": 2}, version=3, version_type="external")
    assert "Warning" not in api.last.headers


# -- types ---------------------------------------------------------------------------------
async def test_get_of_all_types_answers_the_real_type_in_5(make_api):
    api = await make_api(5)
    await api("PUT", "/test_1/test/1", {"f": 1})
    status, body = await api("GET", "/test_1/_all/1")
    assert status == 200 and body["_type"] == "test"


@pytest.mark.parametrize("major", (6, 7))
async def test_get_with_another_type_finds_nothing(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1/test/1", {"f": 1})
    status, body = await api("GET", "/test_1/other/1")
    assert status == 404 and body["found"] is False and body["_type"] == "other"


async def test_doc_on_delete_and_update_targets_the_index_type_in_6(make_api):
    api = await make_api(6)
    await api("PUT", "/test_1/test/1", {"f": 1})
    status, body = await api("POST", "/test_1/_doc/1/_update", {"doc": {"g": 2}})
    assert status == 200 and body["_type"] == "_doc" and body["result"] == "updated"
    status, body = await api("DELETE", "/test_1/_doc/1")
    assert status == 200 and body["_type"] == "_doc" and body["result"] == "deleted"


async def test_mget_type_is_null_without_a_mapping_in_7(make_api):
    api = await make_api(7)
    await api("PUT", "/test_1")
    _, body = await api("POST", "/_mget", {"docs": [{"_index": "test_1", "_id": "1"},
                                                    {"_index": "test_2", "_id": "1"}]})
    assert [d["_type"] for d in body["docs"]] == [None, None]
    assert body["docs"][0]["found"] is False
    assert body["docs"][1]["error"]["type"] == "index_not_found_exception"


async def test_mget_ignores_a_top_level_string_in_5(make_api):
    api = await make_api(5)
    await api("PUT", "/test_1/test/1", {"f": 1})
    status, body = await api("POST", "/_mget", {
        "index": "test_2", "docs": [{"_index": "test_1", "_type": "test", "_id": "1"}]})
    assert status == 200 and body["docs"][0]["found"] is True


@pytest.mark.parametrize("major", (7, 8, 9))
async def test_an_explicit_refresh_interval_keeps_a_shard_from_going_search_idle(make_api,
                                                                                major):
    api = await make_api(major)
    for index, settings in (("idle", {}), ("busy", {"refresh_interval": "1s"})):
        await api("PUT", f"/{index}", {"settings": {"number_of_shards": 1, **settings}})
    api.clock.now += 40.0  # no search for 30s: the default index goes search-idle
    for index in ("idle", "busy"):
        await api("PUT", api.doc_path(index, "1"), {"a": 1})
    api.clock.now += 0.5
    assert (await api("GET", "/idle/_count"))[1]["count"] == 1  # refreshed when searched
    assert (await api("GET", "/busy/_count"))[1]["count"] == 0  # waits for its schedule


@pytest.mark.parametrize("major", ALL)
async def test_get_with_refresh_and_stored_fields(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1", {"settings": {"refresh_interval": "-1"}})
    await api("PUT", api.doc_path("test_1", "1"), {"foo": "bar"})
    status, _ = await api("GET", api.doc_path("test_1", "1"), realtime="false")
    assert status == 404
    status, body = await api("GET", api.doc_path("test_1", "1"), realtime="false",
                             refresh="true")
    assert status == 200 and body["_source"] == {"foo": "bar"}
    _, body = await api("GET", api.doc_path("test_1", "1"), stored_fields="foo")
    assert body["found"] is True and "_source" not in body
    _, body = await api("GET", api.doc_path("test_1", "1"), stored_fields="foo", _source="true")
    assert body["_source"] == {"foo": "bar"}
