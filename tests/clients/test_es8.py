"""The official 8.19 Python client (`elasticsearch8`) drives a profile-8 cluster unchanged: it
sends `application/vnd.elasticsearch+json; compatible-with=8` and checks `X-Elastic-Product`;
the nodes answer in that media type. The document API with external versions and
`if_seq_no`/`if_primary_term`, `_update`, bulk helpers, and a concurrent read-modify-write loop
(asyncio tasks on `AsyncElasticsearch`) that loses no update."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

es8 = pytest.importorskip("elasticsearch8")
from elasticsearch8 import helpers  # noqa: E402,F401  (loads esmod.helpers)

ES_COMPAT = 8
VENDOR_8 = "application/vnd.elasticsearch+json;compatible-with=8"


from client_suite import *  # noqa: E402,F401,F403  (the shared document API tests)


@pytest.fixture
def esmod():
    """The client module the shared tests use for its exceptions and helpers."""
    return es8


def test_answers_in_the_vendor_media_type(es):
    info = es.info()
    assert info["version"]["number"].startswith("8.19.")
    assert info.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert info.meta.headers["content-type"] == VENDOR_8


def test_a_9x_request_is_refused_as_elasticsearch_8_refuses_it(cluster):
    """What the 9.x client meets on an 8.x server: 400 before any routing."""
    vendor_9 = "application/vnd.elasticsearch+json; compatible-with=9"
    request = urllib.request.Request(cluster.urls[0] + "/", headers={"Accept": vendor_9})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert refused.value.headers["Content-Type"] == "application/json"
    reason = "Invalid media-type value on headers [Accept, Content-Type]"
    assert json.loads(refused.value.read()) == {"error": {
        "root_cause": [{"type": "media_type_header_exception", "reason": reason}],
        "type": "media_type_header_exception", "reason": reason,
        "caused_by": {"type": "status_exception",
                      "reason": "Accept version must be either version 8 or 7, but found 9. "
                                f"Accept={vendor_9}"}}, "status": 400}
