"""The official 7.17 Python client (`elasticsearch7`) drives a profile-7 cluster unchanged: its
product check (`GET /` reports 7.17 with the `X-Elastic-Product` header), the document API with
external versions and `if_seq_no`/`if_primary_term`, `_update`, bulk helpers, and a concurrent
read-modify-write loop guarded by sequence numbers that loses no update."""

from __future__ import annotations

import threading

import pytest

es7 = pytest.importorskip("elasticsearch7")
from elasticsearch7 import helpers  # noqa: E402

ES_COMPAT = 7


@pytest.fixture
def es(cluster):
    client = es7.Elasticsearch(cluster.urls)
    yield client
    client.close()


def test_product_check_passes(es):
    info = es.info()
    assert info["version"]["number"].startswith("7.17.")
    assert info["version"]["build_flavor"] == "default"
    # the check ran on the first request and accepted the server
    assert es.transport._verified_elasticsearch is True


def test_compatibility_headers_are_read_as_json(es, index_name, monkeypatch):
    """ELASTIC_CLIENT_APIVERSIONING makes the 7.x client send `compatible-with=7` media types,
    which 7.x reads as JSON (and answers in plain JSON)."""
    monkeypatch.setenv("ELASTIC_CLIENT_APIVERSIONING", "1")
    assert es.index(index=index_name, document={"a": 1}, id="1")["result"] == "created"
    assert es.get(index=index_name, id="1")["_source"] == {"a": 1}


def test_index_get_delete(es, index_name):
    created = es.index(index=index_name, document={"title": "one"}, id="1")
    assert (created["result"], created["_version"], created["_seq_no"]) == ("created", 1, 0)
    assert created["_type"] == "_doc"
    got = es.get(index=index_name, id="1")
    assert (got["found"], got["_seq_no"], got["_primary_term"], got["_source"]) == (
        True, 0, 1, {"title": "one"})
    assert es.index(index=index_name, document={"title": "two"}, id="1")["result"] == "updated"
    assert es.delete(index=index_name, id="1")["result"] == "deleted"
    with pytest.raises(es7.NotFoundError) as missing:
        es.get(index=index_name, id="1")
    assert missing.value.status_code == 404 and missing.value.info["found"] is False
    with pytest.raises(es7.NotFoundError):
        es.delete(index=index_name, id="1")
    assert es.exists(index=index_name, id="1") is False
    # 7.x still has typed URLs
    typed = es.index(index=index_name + "-typed", document={"a": 1}, doc_type="mytype", id="1")
    assert typed["_type"] == "mytype"


def test_create_twice_is_a_conflict(es, index_name):
    assert es.create(index=index_name, id="1", document={"a": 1})["result"] == "created"
    with pytest.raises(es7.ConflictError) as conflict:
        es.create(index=index_name, id="1", document={"a": 2})
    assert conflict.value.status_code == 409
    assert conflict.value.info["error"]["reason"] == (
        "[1]: version conflict, document already exists (current version [1])")


def test_if_seq_no_and_if_primary_term(es, index_name):
    first = es.index(index=index_name, document={"v": 1}, id="1")
    second = es.index(index=index_name, document={"v": 2}, id="1", if_seq_no=first["_seq_no"],
                      if_primary_term=first["_primary_term"])
    assert (second["_seq_no"], second["_version"]) == (1, 2)
    with pytest.raises(es7.ConflictError) as conflict:
        es.index(index=index_name, document={"v": 3}, id="1", if_seq_no=first["_seq_no"],
                 if_primary_term=first["_primary_term"])
    assert conflict.value.info["error"]["reason"] == (
        "[1]: version conflict, required seqNo [0], primary term [1]. current document has "
        "seqNo [1] and primary term [1]")
    with pytest.raises(es7.ConflictError):
        es.delete(index=index_name, id="1", if_seq_no=0, if_primary_term=1)
    deleted = es.delete(index=index_name, id="1", if_seq_no=1, if_primary_term=1)
    assert deleted["result"] == "deleted"


def test_versions(es, index_name):
    es.index(index=index_name, document={"v": 1}, id="1")
    with pytest.raises(es7.RequestError) as refused:  # 7.0 refused internal versions for OCC
        es.index(index=index_name, document={"v": 2}, id="1", version=1)
    assert refused.value.error == "action_request_validation_exception"
    assert es.index(index=index_name, document={"v": 5}, id="2", version=5,
                    version_type="external")["_version"] == 5
    with pytest.raises(es7.ConflictError) as conflict:
        es.index(index=index_name, document={"v": 4}, id="2", version=4, version_type="external")
    assert conflict.value.info["error"]["reason"] == (
        "[2]: version conflict, current version [5] is higher or equal to the one provided [4]")


def test_update(es, index_name):
    es.index(index=index_name, document={"a": 1}, id="1")
    merged = es.update(index=index_name, id="1", doc={"b": 2})
    assert (merged["result"], merged["_version"]) == ("updated", 2)
    assert es.get(index=index_name, id="1")["_source"] == {"a": 1, "b": 2}
    noop = es.update(index=index_name, id="1", doc={"b": 2})
    assert (noop["result"], noop["_seq_no"]) == ("noop", 1)
    forced = es.update(index=index_name, id="1", doc={"b": 2}, detect_noop=False)
    assert forced["result"] == "updated"
    upserted = es.update(index=index_name, id="2", doc={"n": 1}, upsert={"n": 0})
    assert upserted["result"] == "created"
    assert es.get(index=index_name, id="2")["_source"] == {"n": 0}
    as_upsert = es.update(index=index_name, id="3", doc={"n": 3}, doc_as_upsert=True)
    assert as_upsert["result"] == "created"
    retried = es.update(index=index_name, id="3", doc={"n": 4}, retry_on_conflict=2)
    assert retried["_version"] == 2
    with pytest.raises(es7.ConflictError):
        es.update(index=index_name, id="3", doc={"n": 5}, if_seq_no=0, if_primary_term=1)
    with pytest.raises(es7.NotFoundError) as missing:
        es.update(index=index_name, id="4", doc={"n": 1})
    assert missing.value.error == "document_missing_exception"


def test_bulk_helpers(es, index_name):
    actions = [{"_index": index_name, "_id": str(i), "_source": {"i": i}} for i in range(20)]
    assert helpers.bulk(es, actions) == (20, [])
    ok, errors = helpers.bulk(es, [
        {"_op_type": "create", "_index": index_name, "_id": "0", "_source": {"i": 0}},
        {"_op_type": "index", "_index": index_name, "_id": "1", "_source": {"i": 1},
         "if_seq_no": 99, "if_primary_term": 1},
        {"_op_type": "update", "_index": index_name, "_id": "2", "doc": {"seen": True}},
    ], raise_on_error=False)
    assert ok == 1
    assert sorted(next(iter(e.values()))["status"] for e in errors) == [409, 409]
    assert es.get(index=index_name, id="2")["_source"] == {"i": 2, "seen": True}


def test_concurrent_read_modify_write_loses_no_update(cluster, index_name):
    """Threads, each with its own client on another node: get → +1 → index with the
    `_seq_no`/`_primary_term` read → on ConflictError read again."""
    workers, increments = 4, 8
    setup = es7.Elasticsearch(cluster.urls[:1])
    setup.index(index=index_name, document={"counter": 0}, id="c")

    def work(n: int) -> None:
        es = es7.Elasticsearch([cluster.urls[n % len(cluster.urls)]])
        for _ in range(increments):
            while True:
                doc = es.get(index=index_name, id="c")
                source = dict(doc["_source"], counter=doc["_source"]["counter"] + 1)
                try:
                    es.index(index=index_name, document=source, id="c", if_seq_no=doc["_seq_no"],
                             if_primary_term=doc["_primary_term"])
                    break
                except es7.ConflictError:
                    pass
        es.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    final = setup.get(index=index_name, id="c")
    assert final["_source"]["counter"] == workers * increments
    assert final["_seq_no"] == workers * increments
    setup.close()


def test_search_hits_feed_a_conditional_write(es, index_name):
    es.indices.create(index=index_name, aliases={"books": {}},
                      settings={"number_of_shards": 1, "refresh_interval": "-1"})
    es.index(index="books", id="1", document={"title": "Concurrency Control", "year": 2012})
    assert es.search(index=index_name)["hits"]["total"]["value"] == 0
    assert es.get_source(index=index_name, id="1")["year"] == 2012
    es.indices.refresh(index=index_name)
    found = es.search(index="books", query={"match": {"title": "concurrency"}},
                      seq_no_primary_term=True, version=True)
    hit = found["hits"]["hits"][0]
    assert (hit["_type"], hit["_version"]) == ("_doc", 1)
    es.index(index=index_name, id="1", document={"title": "v2"}, if_seq_no=hit["_seq_no"],
             if_primary_term=hit["_primary_term"])
    with pytest.raises(es7.ConflictError):
        es.index(index=index_name, id="1", document={"title": "v3"}, if_seq_no=hit["_seq_no"],
                 if_primary_term=hit["_primary_term"])
    assert es.count(index=index_name, body={"query": {"term": {"year": 2012}}})["count"] == 1
    assert es.indices.get_alias(name="books") == {index_name: {"aliases": {"books": {}}}}
