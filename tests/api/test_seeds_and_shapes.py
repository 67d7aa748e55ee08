"""The seed documents' requests with their exact bodies, response shapes per profile, and bad
input answered with Elasticsearch's error types without changing state."""

from __future__ import annotations

import pytest

from occsim.node.api.routes import dispatch
from occsim.node.rest import Request


def without_uuid(body: dict) -> dict:
    """The body with every `index_uuid` removed (it differs per run)."""
    if isinstance(body, dict):
        return {k: without_uuid(v) for k, v in body.items() if k != "index_uuid"}
    if isinstance(body, list):
        return [without_uuid(v) for v in body]
    return body


SHARDS_2_1 = {"total": 2, "successful": 1, "failed": 0}


async def test_seed_000_external_version_profile_5(make_api):
    api = await make_api(5)
    path = "/test_index/test_type/8"
    assert await api("PUT", path, {"test_field": "test"}) == (201, {
        "_index": "test_index", "_type": "test_type", "_id": "8", "_version": 1,
        "result": "created", "_shards": SHARDS_2_1, "created": True})
    assert await api("GET", path) == (200, {
        "_index": "test_index", "_type": "test_type", "_id": "8", "_version": 1, "found": True,
        "_source": {"test_field": "test"}})
    assert await api("PUT", path, {"test_field": "test client 1"}, version=2,
                     version_type="external") == (200, {
        "_index": "test_index", "_type": "test_type", "_id": "8", "_version": 2,
        "result": "updated", "_shards": SHARDS_2_1, "created": False})
    status, body = await api("PUT", path, {"test_field": "test client 2"}, version=2,
                             version_type="external")
    reason = ("[test_type][8]: version conflict, current version [2] is higher or equal to the "
              "one provided [2]")
    cause = {"type": "version_conflict_engine_exception", "reason": reason, "shard": "1",
             "index": "test_index"}
    assert status == 409
    assert without_uuid(body) == {"error": {"root_cause": [cause], **cause}, "status": 409}
    assert list(body["error"]) == ["root_cause", "type", "reason", "index_uuid", "shard", "index"]
    assert (await api("GET", path))[1]["_source"] == {"test_field": "test client 1"}
    status, body = await api("PUT", path, {"test_field": "test client 2"}, version=3,
                             version_type="external")
    assert (status, body["_version"], body["result"], body["created"]) == (200, 3, "updated",
                                                                          False)


async def test_seed_004_internal_version_profile_5(make_api):
    api = await make_api(5)
    path = "/website/blog/1"
    await api("PUT", path, {"title": "My first blog entry", "text": "Just trying this out..."})
    status, body = await api("PUT", path, {"title": "My first blog entry",
                                           "text": "Starting to get the hang of this..."},
                             version=1)
    assert (status, body["_version"], body["created"]) == (200, 2, False)
    status, body = await api("PUT", path, {"title": "x"}, version=1)
    assert status == 409
    assert body["error"]["reason"] == ("[blog][1]: version conflict, current version [2] is "
                                       "different than the one provided [1]")
    assert body["error"]["shard"] == "3"
    assert body["error"]["index"] == "website"


async def test_seed_000_profile_7_typeless(make_api):
    api = await make_api(7)
    path = "/test_index/_doc/8"
    status, body = await api("PUT", path, {"test_field": "test"})
    assert status == 201
    assert body == {"_index": "test_index", "_type": "_doc", "_id": "8", "_version": 1,
                    "result": "created", "_shards": SHARDS_2_1, "_seq_no": 0,
                    "_primary_term": 1}
    assert (await api("PUT", path, {"test_field": "c1"}, version=2,
                      version_type="external"))[0] == 200
    status, body = await api("PUT", path, {"test_field": "c2"}, version=2,
                             version_type="external")
    assert status == 409
    assert body["error"]["reason"] == ("[8]: version conflict, current version [2] is higher "
                                       "or equal to the one provided [2]")
    assert body["error"]["shard"] == "0"
    status, body = await api("PUT", path, {"test_field": "c2"}, version=2)
    assert status == 400
    assert body["error"]["type"] == "action_request_validation_exception"
    assert "internal versioning can not be used" in body["error"]["reason"]


async def test_profile_8_has_no_type_and_no_typed_urls(make_api):
    api = await make_api(8)
    status, body = await api("PUT", "/idx/_doc/1", {"a": 1})
    assert status == 201 and "_type" not in body and body["_seq_no"] == 0
    status, body = await api("GET", "/idx/_doc/1")
    assert list(body) == ["_index", "_id", "_version", "_seq_no", "_primary_term", "found",
                          "_source"]
    status, body = await api("PUT", "/idx/mytype/1", {"a": 1})
    assert status == 400 and "no handler found for uri [/idx/mytype/1]" in body["error"]


async def test_profile_5_rejects_doc_type(make_api):
    api = await make_api(5)
    status, body = await api("PUT", "/idx/_doc/1", {"a": 1})
    assert status == 400
    assert body["error"]["type"] == "invalid_type_name_exception"
    assert body["error"]["reason"] == "mapping type name [_doc] can't start with '_'"


async def test_profile_6_one_type_per_index(make_api):
    api = await make_api(6)
    assert (await api("PUT", "/idx/t1/1", {"a": 1}))[0] == 201
    status, body = await api("PUT", "/idx/t2/1", {"a": 1})
    assert status == 400 and "more than 1 type: [t1, t2]" in body["error"]["reason"]


@pytest.mark.parametrize("major", [5, 6, 7, 8, 9])
async def test_root_and_product_header(make_api, major):
    api = await make_api(major)
    response = await dispatch(api.node, Request("GET", "/"))
    body = response.body
    assert body["tagline"] == "You Know, for Search"
    assert body["version"]["number"].startswith(f"{major}.")
    assert "lucene_version" in body["version"]
    assert ("build_flavor" in body["version"]) == (major >= 6)
    assert (response.headers.get("X-elastic-product") == "Elasticsearch") == (major >= 7)


@pytest.mark.parametrize("major,defaults", [(5, 5), (6, 5), (7, 1), (8, 1), (9, 1)])
async def test_auto_created_index_uses_profile_defaults(make_api, major, defaults):
    api = await make_api(major)
    await api("PUT", api.doc_path("auto", "1"), {"a": 1})
    meta = api.node.state["indices"]["auto"]
    assert (meta["shards"], meta["replicas"]) == (defaults, 1)


# -- bad input: (profile, method, path, body, params, status, error type) -----------------
BAD = [
    (7, "PUT", "/i/_doc/1", b'{"a": ', {}, 400, "mapper_parsing_exception"),
    (7, "PUT", "/i/_doc/1", b"[1, 2]", {}, 400, "mapper_parsing_exception"),
    (7, "PUT", "/i/_doc/1", b'"text"', {}, 400, "mapper_parsing_exception"),
    (7, "PUT", "/i/_doc/1", b"\xff\xfe{}", {}, 400, "mapper_parsing_exception"),
    (7, "PUT", "/i/_doc/1", b'{"a": 1, "a": 2}', {}, 400, "mapper_parsing_exception"),
    (7, "PUT", "/i/_doc/1", b"[" * 100_000, {}, 400, "mapper_parsing_exception"),
    (7, "PUT", "/i/_doc/1", b'{"a":' * 50 + b"1" + b"}" * 50, {}, 400,
     "mapper_parsing_exception"),
    (7, "PUT", "/i/_doc/1", b"", {}, 400, "parse_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"version_type": "bogus"}, 400, "illegal_argument_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"version": "abc", "version_type": "external"}, 400,
     "illegal_argument_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"version": "99999999999999999999",
                                     "version_type": "external"}, 400,
     "illegal_argument_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"version": "-5", "version_type": "external"}, 400,
     "action_request_validation_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"if_seq_no": "1"}, 400,
     "action_request_validation_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"if_primary_term": "1"}, 400,
     "action_request_validation_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"if_seq_no": "-1", "if_primary_term": "1"}, 400,
     "illegal_argument_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"if_seq_no": "1", "if_primary_term": "1", "version": "2",
                                     "version_type": "external"}, 400,
     "action_request_validation_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"refresh": "sometimes"}, 400, "illegal_argument_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"op_type": "upsert"}, 400, "illegal_argument_exception"),
    (7, "PUT", "/i/_doc/1", b"{}", {"nonsense": "1"}, 400, "illegal_argument_exception"),
    (6, "PUT", "/i/_doc/1", b"{}", {"version_type": "force", "version": "3"}, 400,
     "action_request_validation_exception"),
    (5, "PUT", "/i/t/1", b"{}", {"if_seq_no": "1", "if_primary_term": "1"}, 400,
     "illegal_argument_exception"),
    (7, "PUT", "/UPPER/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    (7, "PUT", "/_leading/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    (7, "PUT", "/-leading/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    (7, "PUT", "/+leading/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    (7, "PUT", "/a*b/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    (7, "PUT", "/a,b/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    (7, "PUT", "/a%23b/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    (7, "PUT", "/../_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    (7, "PUT", "/" + "a" * 256 + "/_doc/1", b"{}", {}, 400, "invalid_index_name_exception"),
    (7, "GET", "/nope/_doc/1", b"", {}, 404, "index_not_found_exception"),
    (7, "DELETE", "/nope", b"", {}, 404, "index_not_found_exception"),
    (7, "PUT", "/i", b'{"settings": {"number_of_shards": 0}}', {}, 400,
     "illegal_argument_exception"),
    (7, "PUT", "/i", b'{"settings": {"index.bogus": 1}}', {}, 400, "illegal_argument_exception"),
]


@pytest.mark.parametrize("major,method,path,body,params,status,etype", BAD,
                         ids=[f"{i}" for i in range(len(BAD))])
async def test_bad_input_is_refused_without_change(make_api, major, method, path, body, params,
                                                   status, etype):
    api = await make_api(major)
    before = repr(api.node.state["indices"])
    got_status, got = await api(method, path, body, **params)
    assert got_status == status, got
    assert got["error"]["type"] == etype, got
    assert got["error"]["reason"]
    assert got["status"] == status
    assert repr(api.node.state["indices"]) == before


async def test_rest_layer_errors_have_string_bodies(make_api):
    api = await make_api(7)
    status, body = await api("PATCH", "/i/_doc/1")
    assert status == 405
    assert body["error"].startswith("Incorrect HTTP method for uri [/i/_doc/1] and method "
                                    "[PATCH], allowed:")
    status, body = await api("GET", "/a/b/c/d/e")
    assert (status, body["error"]) == (400, "no handler found for uri [/a/b/c/d/e] and method "
                                            "[GET]")


async def test_content_type_is_required_from_profile_6(make_api):
    api = await make_api(6)
    response = await dispatch(api.node, Request("PUT", "/i/_doc/1", {}, {}, b"{}"))
    assert (response.status, response.body) == (406, {"error": "Content-Type header is missing",
                                                      "status": 406})
    api5 = await make_api(5)
    response = await dispatch(api5.node, Request("PUT", "/i/t/1", {}, {}, b"{}"))
    assert response.status == 201


async def test_validation_messages_are_numbered(make_api):
    api = await make_api(7)
    status, body = await api("PUT", "/i/_doc/1", {}, version="-5", version_type="external",
                             if_seq_no="1", if_primary_term="1")
    assert status == 400
    assert body["error"]["reason"] == (
        "Validation Failed: 1: illegal version value [-5] for version type [EXTERNAL];"
        "2: compare and write operations can not use versioning;")


async def test_an_unreachable_master_is_a_503_not_a_crash(make_api):
    from occsim.transport.message import TransportError

    api = await make_api(7)

    async def unreachable(*args):
        raise TransportError("[manager] did not answer [create_index] within 30s")

    api.node.master.create_index = unreachable
    status, body = await api("PUT", "/fresh/_doc/1", {"a": 1})
    assert status == 503
    assert body["error"]["type"] == "node_not_connected_exception"
    assert "did not answer" in body["error"]["reason"]
