"""The current official Python client (`elasticsearch` 9.x) drives a profile-9 cluster
unchanged: it sends `application/vnd.elasticsearch+json; compatible-with=9` and checks
`X-Elastic-Product`; the nodes answer in that media type. An 8.x node refuses it as
Elasticsearch 8 does. The document API with external versions and
`if_seq_no`/`if_primary_term`, `_update`, bulk helpers, and a concurrent read-modify-write loop
(asyncio tasks on `AsyncElasticsearch`) that loses no update.

elasticsearch 9 needs elastic-transport 9, elasticsearch8 needs 8: this suite runs in its own
virtual environment (`.ci/run`, extra `test-es9`) and is skipped where `elasticsearch` 9.x is
not installed.
"""

from __future__ import annotations


import pytest

es9 = pytest.importorskip("elasticsearch")
if not es9.__versionstr__.startswith("9."):
    pytest.skip(f"elasticsearch {es9.__versionstr__} is not 9.x", allow_module_level=True)
from elasticsearch import helpers  # noqa: E402,F401  (loads esmod.helpers)

ES_COMPAT = 9
VENDOR_9 = "application/vnd.elasticsearch+json;compatible-with=9"


from client_suite import *  # noqa: E402,F401,F403  (the shared document API tests)


@pytest.fixture
def esmod():
    """The client module the shared tests use for its exceptions and helpers."""
    return es9


def test_answers_in_the_vendor_media_type(es):
    info = es.info()
    assert info["version"]["number"].startswith("9.")
    assert info.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert info.meta.headers["content-type"] == VENDOR_9


def test_an_8x_node_refuses_the_9x_client(start_cluster):
    """A 9.x client against Elasticsearch 8 fails on its first request with 400
    `media_type_header_exception`, as it does against the real server."""
    client = es9.Elasticsearch(start_cluster(nodes=1, es_compat=8).urls)
    with pytest.raises(es9.BadRequestError) as refused:
        client.info()
    client.close()
    assert refused.value.message == "media_type_header_exception"
    error = refused.value.body["error"]
    assert error["reason"] == "Invalid media-type value on headers [Accept, Content-Type]"
    assert error["caused_by"] == {
        "type": "status_exception",
        "reason": "Accept version must be either version 8 or 7, but found 9. "
                  "Accept=application/vnd.elasticsearch+json; compatible-with=9"}


def test_no_typed_urls(es, index_name):
    with pytest.raises(es9.BadRequestError) as refused:
        es.perform_request("PUT", f"/{index_name}/mytype/1", body={"a": 1},
                           headers={"content-type": "application/json",
                                    "accept": "application/json"})
    assert refused.value.body["error"] == (
        f"no handler found for uri [/{index_name}/mytype/1] and method [PUT]")
