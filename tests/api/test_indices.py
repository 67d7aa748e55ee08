"""Index-level APIs against an in-process node of each profile: `DELETE /_all` per generation,
aliases (created with the index or later, listed, written and read through, `require_alias`),
the `_source` endpoint and exists_source, and answers in YAML."""

from __future__ import annotations

import json

import pytest

ALL = (5, 6, 7, 8, 9)


def ndjson(*lines: object) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


@pytest.mark.parametrize("major", (5, 6, 7))
async def test_delete_all_deletes_every_index_up_to_7(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1")
    await api("PUT", "/test_2")
    status, body = await api("DELETE", "/_all")
    assert (status, body) == (200, {"acknowledged": True})
    assert api.node.state["indices"] == {}


@pytest.mark.parametrize("major", (8, 9))
async def test_delete_all_is_refused_from_8(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1")
    for target in ("/_all", "/test_*", "/*"):
        status, body = await api("DELETE", target)
        assert status == 400
        assert body["error"]["type"] == "illegal_argument_exception"
        assert body["error"]["reason"] == "Wildcard expressions or all indices are not allowed"
    assert "test_1" in api.node.state["indices"]


@pytest.mark.parametrize("major", ALL)
async def test_delete_of_a_missing_index_is_404(make_api, major):
    api = await make_api(major)
    status, body = await api("DELETE", "/nope")
    assert status == 404 and body["error"]["type"] == "index_not_found_exception"


@pytest.mark.parametrize("major", ALL)
async def test_aliases_from_the_create_body_and_put_alias(make_api, major):
    api = await make_api(major)
    status, _ = await api("PUT", "/test_1", {"aliases": {"alias_1": {}}})
    assert status == 200
    await api("PUT", "/test_2")
    status, body = await api("PUT", "/test_2/_alias/alias_2")
    assert (status, body) == (200, {"acknowledged": True})
    _, body = await api("GET", "/_alias")
    assert body == {"test_1": {"aliases": {"alias_1": {}}},
                    "test_2": {"aliases": {"alias_2": {}}}}
    _, body = await api("GET", "/_alias/alias_2")
    assert body == {"test_2": {"aliases": {"alias_2": {}}}}
    status, body = await api("GET", "/_alias/missing")
    assert (status, body) == (404, {"error": "alias [missing] missing", "status": 404})
    status, body = await api("PUT", "/test_2/_alias/test_1")
    assert status == 400 and body["error"]["type"] == "invalid_alias_name_exception"
    assert body["error"]["reason"] == (
        "Invalid alias name [test_1], an index exists with the same name as the alias"
        if major <= 6 else "Invalid alias name [test_1]: an index or data stream exists with "
        "the same name as the alias")
    status, body = await api("PUT", "/alias_1")
    assert status == 400 and body["error"]["reason"] == (
        "Invalid index name [alias_1], already exists as alias")


@pytest.mark.parametrize("major", ALL)
async def test_write_and_read_through_an_alias(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1", {"aliases": {"alias_1": {}}})
    status, body = await api("PUT", api.doc_path("alias_1", "1"), {"foo": "bar"})
    assert status == 201 and body["_index"] == "test_1"
    status, body = await api("GET", api.doc_path("alias_1", "1"))
    assert status == 200 and body["_index"] == "test_1" and body["_source"] == {"foo": "bar"}
    typed = {"_type": "test"} if major == 5 else {}
    _, body = await api("POST", "/_mget", {"docs": [{"_index": "alias_1", "_id": "1", **typed}]})
    assert body["docs"][0]["_index"] == "test_1" and body["docs"][0]["found"] is True
    status, body = await api("DELETE", api.doc_path("alias_1", "1"))
    assert status == 200 and body["result"] == "deleted" and body["_index"] == "test_1"


@pytest.mark.parametrize("major", ALL)
async def test_a_write_through_an_alias_of_two_indices_is_refused(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1", {"aliases": {"both": {}}})
    await api("PUT", "/test_2", {"aliases": {"both": {}}})
    status, body = await api("PUT", api.doc_path("both", "1"), {"foo": "bar"})
    assert status == 400 and body["error"]["type"] == "illegal_argument_exception"


@pytest.mark.parametrize("major", (7, 8, 9))
async def test_require_alias_refuses_a_plain_index(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1", {"aliases": {"alias_1": {}}})
    status, body = await api("PUT", "/test_1/_doc/1", {"f": 1}, require_alias="true")
    assert status == 404
    assert body["error"]["type"] == "index_not_found_exception"
    assert body["error"]["reason"] == ("no such index [test_1] and [require_alias] request flag "
                                       "is [true] and [test_1] is not an alias")
    status, _ = await api("PUT", "/new_index/_doc/1", {"f": 1}, require_alias="true")
    assert status == 404 and "new_index" not in api.node.state["indices"]
    status, body = await api("PUT", "/alias_1/_doc/1", {"f": 1}, require_alias="true")
    assert status == 201 and body["_index"] == "test_1"
    status, body = await api("POST", "/_bulk", ndjson(
        {"index": {"_index": "test_1", "_id": "2"}}, {"f": 2},
        {"index": {"_index": "test_1", "_id": "3", "require_alias": False}}, {"f": 3}),
        require_alias="true")
    assert body["errors"] is True
    refused, accepted = (item["index"] for item in body["items"])
    assert refused["status"] == 404 and accepted["status"] == 201


@pytest.mark.parametrize("major", (5, 6))
async def test_require_alias_is_unrecognized_before_7(make_api, major):
    api = await make_api(major)
    status, body = await api("PUT", api.doc_path("test_1", "1"), {"f": 1}, require_alias="true")
    assert status == 400
    assert "unrecognized parameter: [require_alias]" in body["error"]["reason"]


# -- the _source endpoint ------------------------------------------------------------------
def source_path(api, index: str, doc_id: str) -> str:
    if api.major <= 6:
        return f"{api.doc_path(index, doc_id)}/_source"
    return f"/{index}/_source/{doc_id}"


@pytest.mark.parametrize("major", ALL)
async def test_get_source_answers_the_source_alone(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"foo": "bar", "n": 1})
    status, body = await api("GET", source_path(api, "test_1", "1"))
    assert (status, body) == (200, {"foo": "bar", "n": 1})
    _, body = await api("GET", source_path(api, "test_1", "1"), _source="n")
    assert body == {"n": 1}
    status, body = await api("HEAD", source_path(api, "test_1", "1"))
    assert (status, body) == (200, None)
    status, body = await api("HEAD", source_path(api, "test_1", "2"))
    assert (status, body) == (404, None)
    status, body = await api("GET", source_path(api, "test_1", "2"))
    assert status == 404
    if major == 5:
        assert body is None
    else:
        assert body["error"]["type"] == "resource_not_found_exception"
        assert body["error"]["reason"] == ("Document not found [test_1]/[_doc]/[2]"
                                           if major <= 7 else "Document not found [test_1]/[2]")


async def test_typeless_source_endpoint_does_not_exist_in_6(make_api):
    api = await make_api(6)
    await api("PUT", "/test_1/_doc/1", {"foo": "bar"})
    status, _ = await api("GET", "/test_1/_source/1")
    assert status != 200


# -- YAML ----------------------------------------------------------------------------------
@pytest.mark.parametrize("major", ALL)
async def test_format_yaml_answers_in_yaml(make_api, major):
    api = await make_api(major)
    await api("PUT", api.doc_path("test_1", "1"), {"foo": "bar"})
    status, body = await api("GET", api.doc_path("test_1", "1"), format="yaml")
    assert status == 200
    assert api.last.headers["Content-Type"] == "application/yaml"
    assert body.startswith("---\n_index: \"test_1\"\n")
    assert "found: true\n_source:\n  foo: \"bar\"\n" in body


# -- indices.get ---------------------------------------------------------------------------
@pytest.mark.parametrize("major", ALL)
async def test_get_index_lists_aliases_mappings_and_settings(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1", {"aliases": {"alias_1": {}}, "settings": {
        "number_of_shards": 2, "number_of_replicas": 0, "refresh_interval": "-1"}})
    await api("PUT", api.doc_path("test_1", "1"), {
        "title": "x", "n": 1, "f": 1.5, "ok": True, "when": "2015-01-01", "obj": {"a": "b"}})
    status, body = await api("GET", "/test_1")
    assert status == 200 and list(body) == ["test_1"]
    index = body["test_1"]
    assert index["aliases"] == {"alias_1": {}}
    settings = index["settings"]["index"]
    assert settings["number_of_shards"] == "2" and settings["number_of_replicas"] == "0"
    assert settings["refresh_interval"] == "-1" and settings["provided_name"] == "test_1"
    assert settings["uuid"] == api.node.state["indices"]["test_1"]["uuid"]
    properties = {
        "f": {"type": "float"}, "n": {"type": "long"},
        "obj": {"properties": {"a": {"type": "text", "fields": {
            "keyword": {"type": "keyword", "ignore_above": 256}}}}},
        "ok": {"type": "boolean"},
        "title": {"type": "text", "fields": {"keyword": {"type": "keyword",
                                                          "ignore_above": 256}}},
        "when": {"type": "date"}}
    mappings = index["mappings"]
    if major >= 7:
        assert mappings == {"properties": properties}
    else:
        assert mappings == {("test" if major == 5 else "_doc"): {"properties": properties}}
    status, body = await api("GET", "/nope")
    assert status == 404 and body["error"]["type"] == "index_not_found_exception"
    await api("PUT", "/empty")
    _, body = await api("GET", "/empty")
    assert body["empty"]["mappings"] == {}


@pytest.mark.parametrize("major", ALL)
async def test_an_api_occsim_does_not_serve_is_refused_by_name(make_api, major):
    api = await make_api(major)
    await api("PUT", "/test_1")
    status, body = await api("GET", "/test_1/_mapping")
    assert status == 400 and body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"].startswith(
        "occsim does not serve the Elasticsearch API [indices.get_mapping / "
        "indices.put_mapping] ([GET /test_1/_mapping])")
    status, body = await api("GET", "/_mapping")  # not an index named `_mapping`
    assert status == 400 and "[indices.get_mapping" in body["error"]["reason"]
    status, body = await api("POST", "/_aliases", {"actions": []})
    assert status == 400 and "[indices.update_aliases]" in body["error"]["reason"]
    status, body = await api("GET", "/_cat/shards")
    assert status == 200  # served
    status, body = await api("GET", "/_cat/whatever")
    assert status == 400 and "[cat]" in body["error"]["reason"]


@pytest.mark.parametrize("major", ALL)
async def test_accept_yaml_answers_in_yaml(make_api, major):
    from occsim.node.api.routes import dispatch
    from occsim.node.rest import Request
    api = await make_api(major)
    response = await dispatch(api.node, Request("GET", "/", {}, {"accept": "application/yaml"}))
    assert response.status == 200 and response.headers["Content-Type"] == "application/yaml"
    assert response.body.startswith("---\nname: \"n1\"\n")
