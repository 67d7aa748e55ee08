"""`_search` and `_count` against an in-process node of each profile: near-real-time visibility
(a search sees the last refresh, a GET the last write), the served queries, paging, sorting,
`_source` filtering, `version` and `seq_no_primary_term` hits that a conditional write accepts,
`hits.total` per generation, and the errors of what is not served."""

from __future__ import annotations

import pytest

ALL = (5, 6, 7, 8, 9)
BOOKS = [("1", {"title": "The Quick Brown Fox", "year": 1999, "tag": "animal"}),
         ("2", {"title": "A lazy dog", "year": 2005, "tag": "animal", "n": [1, 2]}),
         ("3", {"title": "Concurrency Control", "year": 2012, "tag": "cs"}),
         ("4", {"title": "Optimistic concurrency", "year": 2019, "tag": "cs"})]


def total(api, body) -> int:
    t = body["hits"]["total"]
    if api.major <= 6:
        assert isinstance(t, int)
        return t
    assert t["relation"] == "eq"
    return t["value"]


async def books(api):
    await api("PUT", "/books", {"settings": {"number_of_shards": 2}})
    for doc_id, source in BOOKS:
        await api("PUT", api.doc_path("books", doc_id), source)
    await api("POST", "/books/_refresh")


async def ids(api, query=None, **params) -> list[str]:
    status, body = await api("POST", "/books/_search", query, **params)
    assert status == 200, body
    return [h["_id"] for h in body["hits"]["hits"]]


@pytest.mark.parametrize("major", ALL)
async def test_a_search_sees_the_last_refresh_and_a_get_the_last_write(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1", {"settings": {"refresh_interval": "-1"}})
    await api("PUT", api.doc_path("test_1", "1"), {"foo": "bar"})
    status, body = await api("GET", "/test_1/_search")
    assert status == 200 and total(api, body) == 0 and body["hits"]["hits"] == []
    assert body["timed_out"] is False and isinstance(body["took"], int)
    assert body["hits"]["max_score"] is None
    assert (await api("GET", api.doc_path("test_1", "1")))[0] == 200
    await api("POST", "/test_1/_refresh")
    _, body = await api("GET", "/test_1/_search")
    assert total(api, body) == 1
    hit = body["hits"]["hits"][0]
    assert hit["_index"] == "test_1" and hit["_id"] == "1" and hit["_score"] == 1.0
    assert hit["_source"] == {"foo": "bar"}
    assert ("_type" in hit) == (major <= 7)
    assert "_version" not in hit and "_seq_no" not in hit
    shards = {"total": 1 if major >= 7 else 5, "successful": 1 if major >= 7 else 5,
              "skipped": 0, "failed": 0}
    if major == 5:
        del shards["skipped"]
    assert body["_shards"] == shards


@pytest.mark.parametrize("major", ALL)
async def test_the_served_queries(make_api, major):
    api = await make_api(major)
    await books(api)
    q = lambda query: {"query": query}  # noqa: E731
    assert sorted(await ids(api, q({"match_all": {}}))) == ["1", "2", "3", "4"]
    assert sorted(await ids(api, q({"ids": {"values": ["2", "4", "9"]}}))) == ["2", "4"]
    assert sorted(await ids(api, q({"term": {"tag": "cs"}}))) == ["3", "4"]
    assert await ids(api, q({"term": {"title": "Quick"}})) == []  # text is lower-cased
    assert await ids(api, q({"term": {"title.keyword": "A lazy dog"}})) == ["2"]
    assert sorted(await ids(api, q({"terms": {"year": [1999, "2012"]}}))) == ["1", "3"]
    assert sorted(await ids(api, q({"match": {"title": "CONCURRENCY fox"}}))) == ["1", "3", "4"]
    assert await ids(api, q({"match": {"title": {"query": "optimistic concurrency",
                                                 "operator": "and"}}})) == ["4"]
    assert sorted(await ids(api, q({"range": {"year": {"gte": 2005, "lt": 2019}}}))) == \
        ["2", "3"]
    assert await ids(api, q({"term": {"n": 2}})) == ["2"]
    assert sorted(await ids(api, q({"bool": {
        "must": [{"match": {"tag": "cs"}}], "filter": [{"range": {"year": {"gt": 2000}}}],
        "must_not": [{"ids": {"values": ["4"]}}]}}))) == ["3"]
    assert sorted(await ids(api, q({"bool": {"should": [{"term": {"year": 1999}},
                                                        {"term": {"year": 2019}}]}}))) == \
        ["1", "4"]
    _, body = await api("POST", "/books/_search", q({"bool": {"filter": {"term": {"tag": "cs"}}}}))
    assert {h["_score"] for h in body["hits"]["hits"]} == {0.0}  # filters do not score
    assert sorted(await ids(api, None, q="tag:animal")) == ["1", "2"]


@pytest.mark.parametrize("major", ALL)
async def test_paging_sorting_and_source_filtering(make_api, major):
    api = await make_api(major)
    await books(api)
    _, body = await api("POST", "/books/_search", {"sort": [{"year": "desc"}], "size": 2,
                                                   "_source": ["title"]})
    assert [h["_id"] for h in body["hits"]["hits"]] == ["4", "3"]
    assert [h["sort"] for h in body["hits"]["hits"]] == [[2019], [2012]]
    assert body["hits"]["hits"][0]["_source"] == {"title": "Optimistic concurrency"}
    assert body["hits"]["hits"][0]["_score"] is None and body["hits"]["max_score"] is None
    assert total(api, body) == 4
    assert await ids(api, {"sort": "_id", "from": 1, "size": 2}) == ["2", "3"]
    assert await ids(api, None, sort="year:asc", size="1", **{"from": "3"}) == ["4"]
    assert await ids(api, {"sort": [{"tag.keyword": "asc"}, {"year": {"order": "desc"}}]}) == \
        ["2", "1", "4", "3"]
    _, body = await api("POST", "/books/_search", {"_source": False, "size": 1})
    assert "_source" not in body["hits"]["hits"][0]
    status, body = await api("POST", "/books/_search", {"sort": "title"})
    assert status == 400
    assert body["error"]["type"] == "search_phase_execution_exception"
    assert body["error"]["root_cause"][0]["type"] == "illegal_argument_exception"
    assert "[title]" in body["error"]["caused_by"]["reason"]


@pytest.mark.parametrize("major", (6, 7, 8, 9))
async def test_seq_no_primary_term_hits_feed_a_conditional_write(make_api, major):
    api = await make_api(major)
    await books(api)
    _, body = await api("POST", "/books/_search", {"query": {"ids": {"values": ["3"]}},
                                                   "seq_no_primary_term": True,
                                                   "version": True})
    hit = body["hits"]["hits"][0]
    assert hit["_version"] == 1 and hit["_primary_term"] == 1
    cas = {"if_seq_no": hit["_seq_no"], "if_primary_term": hit["_primary_term"]}
    status, body = await api("PUT", api.doc_path("books", "3"), {"title": "v2"}, **cas)
    assert status == 200 and body["_version"] == 2
    status, body = await api("PUT", api.doc_path("books", "3"), {"title": "v3"}, **cas)
    assert status == 409  # the hit is stale now: exactly what OCC is for


async def test_seq_no_primary_term_is_unrecognized_in_5(make_api):
    api = await make_api(5)
    await books(api)
    status, body = await api("GET", "/books/_search", seq_no_primary_term="true")
    assert status == 400 and "seq_no_primary_term" in body["error"]["reason"]


@pytest.mark.parametrize("major", (7, 8, 9))
async def test_total_hits_tracking_from_7(make_api, major):
    api = await make_api(major)
    await books(api)
    _, body = await api("POST", "/books/_search", {"track_total_hits": 2})
    assert body["hits"]["total"] == {"value": 2, "relation": "gte"}
    _, body = await api("POST", "/books/_search", {"track_total_hits": False})
    assert "total" not in body["hits"]
    _, body = await api("GET", "/books/_search", rest_total_hits_as_int="true")
    assert body["hits"]["total"] == 4


@pytest.mark.parametrize("major", ALL)
async def test_count_runs_the_query(make_api, major):
    api = await make_api(major)
    await books(api)
    status, body = await api("POST", "/books/_count", {"query": {"term": {"tag": "cs"}}})
    assert (status, body["count"]) == (200, 2)


@pytest.mark.parametrize("major", ALL)
async def test_what_is_not_served_is_refused_by_name(make_api, major):
    api = await make_api(major)
    await books(api)
    status, body = await api("POST", "/books/_search", {"query": {"frobnicate": {}}})
    assert status == 400 and body["error"]["type"] == "parsing_exception"
    assert body["error"]["reason"] == ("no [query] registered for [frobnicate]" if major == 5
                                       else "unknown query [frobnicate]")
    status, body = await api("POST", "/books/_search", {"query": {"wildcard": {"t": "x*"}}})
    assert status == 400 and "[wildcard] query is not supported" in body["error"]["reason"]
    status, body = await api("POST", "/books/_search", {"aggs": {}})
    assert status == 400 and "[aggs]" in body["error"]["reason"]
    status, body = await api("POST", "/books/_search", {"size": 9000, "from": 2000})
    assert status == 400 and body["error"]["reason"].startswith("Result window is too large")


@pytest.mark.parametrize("major,ok", [(5, True), (6, True), (7, False), (9, False)])
async def test_primary_preference_until_7(make_api, major, ok):
    api = await make_api(major)
    await books(api)
    status, body = await api("GET", "/books/_search", preference="_primary")
    if ok:
        assert status == 200 and total(api, body) == 4
    else:
        assert status == 400 and body["error"]["reason"] == "no Preference for [_primary]"


@pytest.mark.parametrize("major", ALL)
async def test_search_over_several_indices_and_an_alias(make_api, major):
    api = await make_api(major)
    await books(api)
    await api("PUT", "/other", {"aliases": {"more": {}}})
    await api("PUT", api.doc_path("other", "9"), {"tag": "cs"}, refresh="true")
    _, body = await api("POST", "/books,more/_search", {"query": {"term": {"tag": "cs"}}})
    assert sorted((h["_index"], h["_id"]) for h in body["hits"]["hits"]) == [
        ("books", "3"), ("books", "4"), ("other", "9")]
    _, body = await api("GET", "/_search", q="tag:cs")
    assert total(api, body) == 3
    status, body = await api("GET", "/nope/_search")
    assert status == 404 and body["error"]["type"] == "index_not_found_exception"


@pytest.mark.parametrize("body", [
    {"query": {"match_all": {"boost": "x"}}}, {"query": {"constant_score": {
        "filter": {"match_all": {}}, "boost": []}}}, {"query": "x"}, {"query": {"bool": {
            "must": [None]}}}, {"size": "abc"}, {"from": 1.5}, {"sort": 5},
    {"sort": [{"year": {"order": "up"}}]}, {"_source": 5}, {"track_total_hits": "many"},
    {"query": {"range": {"year": {"gte": {}}}}}, {"query": {"terms": {"tag": [{}]}}},
    {"query": {"bool": {"should": [], "minimum_should_match": "most"}}}])
async def test_bad_search_bodies_are_400s(make_api, body):
    api = await make_api(7)
    await books(api)
    status, answer = await api("POST", "/books/_search", body)
    assert status in (200, 400), answer
    if status == 400:
        assert answer["error"]["type"] in ("parsing_exception", "illegal_argument_exception")


async def test_minimum_should_match(make_api):
    api = await make_api(7)
    await books(api)
    should = [{"term": {"tag": "cs"}}, {"range": {"year": {"gt": 2015}}},
              {"match": {"title": "optimistic"}}]
    for value, expected in ((2, ["4"]), ("-1", ["4"]), ("100%", ["4"]), ("34%", ["3", "4"])):
        query = {"bool": {"should": should, "minimum_should_match": value}}
        assert sorted(await ids(api, {"query": query})) == expected, value


@pytest.mark.parametrize("major", ALL)
async def test_routing_searches_only_the_shards_it_routes_to(make_api, major):
    api = await make_api(major)
    await api("PUT", "/r", {"settings": {"number_of_shards": 4}})
    await api("PUT", api.doc_path("r", "1"), {"k": 1}, routing="a")
    await api("PUT", api.doc_path("r", "2"), {"k": 2}, routing="b")
    await api("POST", "/r/_refresh")
    meta = api.node.index_meta("r")
    assert api.node.shard_of(meta, "", "a") != api.node.shard_of(meta, "", "b")
    _, body = await api("GET", "/r/_search", routing="a")
    assert [h["_id"] for h in body["hits"]["hits"]] == ["1"]
    assert body["hits"]["hits"][0]["_routing"] == "a"
    assert body["_shards"]["total"] == 1
    _, body = await api("GET", "/r/_count", routing="a,b")
    assert (body["count"], body["_shards"]["total"]) == (2, 2)


async def test_min_score_track_scores_and_unserved_parameters(make_api):
    api = await make_api(7)
    await books(api)
    query = {"bool": {"should": [{"term": {"tag": "cs"}}, {"range": {"year": {"gt": 2015}}}]}}
    assert await ids(api, {"query": query, "min_score": 2}) == ["4"]
    _, body = await api("POST", "/books/_search", {"sort": "year", "track_scores": True})
    assert body["hits"]["max_score"] == 1.0 and body["hits"]["hits"][0]["_score"] == 1.0
    for param in ("scroll", "explain", "stored_fields"):
        status, body = await api("GET", "/books/_search", **{param: "1m"})
        assert status == 400 and f"[{param}]" in body["error"]["reason"]
