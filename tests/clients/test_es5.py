"""The official 5.x Python client (`elasticsearch5`, document types) drives a profile-5 cluster
unchanged: the document API with internal and external versions, `_update`, bulk helpers, and
a concurrent read-modify-write loop guarded by internal versions that loses no update."""

from __future__ import annotations

import threading

import pytest

es5 = pytest.importorskip("elasticsearch5")
from elasticsearch5 import helpers  # noqa: E402

ES_COMPAT = 5
TYPE = "doc"


@pytest.fixture
def es(cluster):
    client = es5.Elasticsearch(cluster.urls)
    yield client
    client.transport.close()


def test_info_is_a_5x_node(es):
    assert es.ping()
    info = es.info()
    assert info["version"]["number"].startswith("5.6.")
    assert info["tagline"] == "You Know, for Search"


def test_index_get_delete(es, index_name):
    created = es.index(index_name, TYPE, {"title": "one"}, id="1")
    assert (created["result"], created["created"], created["_version"]) == ("created", True, 1)
    assert created["_type"] == TYPE
    got = es.get(index_name, "1", doc_type=TYPE)
    assert (got["found"], got["_version"], got["_source"]) == (True, 1, {"title": "one"})
    updated = es.index(index_name, TYPE, {"title": "two"}, id="1")
    assert (updated["result"], updated["created"], updated["_version"]) == ("updated", False, 2)
    deleted = es.delete(index_name, TYPE, "1")
    assert (deleted["result"], deleted["found"], deleted["_version"]) == ("deleted", True, 3)
    with pytest.raises(es5.NotFoundError) as missing:
        es.get(index_name, "1", doc_type=TYPE)
    assert missing.value.status_code == 404 and missing.value.info["found"] is False
    with pytest.raises(es5.NotFoundError) as gone:
        es.delete(index_name, TYPE, "1")
    assert gone.value.info["result"] == "not_found"
    assert es.exists(index_name, TYPE, "2") is False


def test_create_twice_is_a_conflict(es, index_name):
    assert es.create(index_name, TYPE, "1", {"a": 1})["created"] is True
    with pytest.raises(es5.ConflictError) as conflict:
        es.create(index_name, TYPE, "1", {"a": 2})
    assert conflict.value.status_code == 409
    assert conflict.value.error == "version_conflict_engine_exception"
    assert conflict.value.info["error"]["reason"] == (
        "[doc][1]: version conflict, document already exists (current version [1])")
    assert es.get(index_name, "1", doc_type=TYPE)["_source"] == {"a": 1}


def test_internal_versions_guard_writes(es, index_name):
    es.index(index_name, TYPE, {"v": 1}, id="1")
    assert es.index(index_name, TYPE, {"v": 2}, id="1", version=1)["_version"] == 2
    with pytest.raises(es5.ConflictError) as conflict:
        es.index(index_name, TYPE, {"v": 3}, id="1", version=1)
    assert conflict.value.info["error"]["reason"] == (
        "[doc][1]: version conflict, current version [2] is different than the one provided [1]")
    with pytest.raises(es5.ConflictError):
        es.delete(index_name, TYPE, "1", version=1)
    assert es.delete(index_name, TYPE, "1", version=2)["result"] == "deleted"


def test_external_versions(es, index_name):
    assert es.index(index_name, TYPE, {"v": 5}, id="1", version=5,
                    version_type="external")["_version"] == 5
    with pytest.raises(es5.ConflictError) as conflict:
        es.index(index_name, TYPE, {"v": 5}, id="1", version=5, version_type="external")
    assert conflict.value.info["error"]["reason"] == (
        "[doc][1]: version conflict, current version [5] is higher or equal to the one "
        "provided [5]")
    assert es.index(index_name, TYPE, {"v": 7}, id="1", version=7,
                    version_type="external")["_version"] == 7
    assert es.get(index_name, "1", doc_type=TYPE)["_source"] == {"v": 7}


def test_update(es, index_name):
    es.index(index_name, TYPE, {"a": 1, "nested": {"x": 1}}, id="1")
    merged = es.update(index_name, TYPE, "1", {"doc": {"b": 2, "nested": {"y": 2}}})
    assert (merged["result"], merged["_version"]) == ("updated", 2)
    assert es.get(index_name, "1", doc_type=TYPE)["_source"] == {
        "a": 1, "b": 2, "nested": {"x": 1, "y": 2}}
    noop = es.update(index_name, TYPE, "1", {"doc": {"b": 2}})
    assert (noop["result"], noop["_version"]) == ("noop", 2)
    forced = es.update(index_name, TYPE, "1", {"doc": {"b": 2}, "detect_noop": False})
    assert (forced["result"], forced["_version"]) == ("updated", 3)
    upserted = es.update(index_name, TYPE, "2", {"doc": {"n": 1}, "upsert": {"n": 0}})
    assert (upserted["result"], upserted["_version"]) == ("created", 1)
    assert es.get(index_name, "2", doc_type=TYPE)["_source"] == {"n": 0}
    as_upsert = es.update(index_name, TYPE, "3", {"doc": {"n": 3}, "doc_as_upsert": True})
    assert as_upsert["result"] == "created"
    assert es.get(index_name, "3", doc_type=TYPE)["_source"] == {"n": 3}
    retried = es.update(index_name, TYPE, "3", {"doc": {"n": 4}}, retry_on_conflict=3)
    assert retried["_version"] == 2
    with pytest.raises(es5.NotFoundError) as missing:
        es.update(index_name, TYPE, "4", {"doc": {"n": 1}})
    assert missing.value.error == "document_missing_exception"


def test_bulk_helpers(es, index_name):
    actions = [{"_index": index_name, "_type": TYPE, "_id": str(i), "_source": {"i": i}}
               for i in range(20)]
    assert helpers.bulk(es, actions) == (20, [])
    ok, errors = helpers.bulk(es, [
        {"_op_type": "create", "_index": index_name, "_type": TYPE, "_id": "0",
         "_source": {"i": 0}},
        {"_op_type": "update", "_index": index_name, "_type": TYPE, "_id": "1",
         "doc": {"seen": True}},
        {"_op_type": "delete", "_index": index_name, "_type": TYPE, "_id": "2"},
    ], raise_on_error=False)
    assert ok == 2
    assert [e["create"]["status"] for e in errors] == [409]
    assert es.get(index_name, "1", doc_type=TYPE)["_source"] == {"i": 1, "seen": True}
    assert not es.exists(index_name, TYPE, "2")


def test_concurrent_read_modify_write_loses_no_update(cluster, index_name):
    """Threads, each with its own client on another node: get → +1 → index with the version
    read → on ConflictError read again. Every increment lands exactly once."""
    workers, increments = 4, 8
    setup = es5.Elasticsearch(cluster.urls[:1])
    setup.index(index_name, TYPE, {"counter": 0}, id="c")
    conflicts = []

    def work(n: int) -> None:
        es = es5.Elasticsearch([cluster.urls[n % len(cluster.urls)]])
        for _ in range(increments):
            while True:
                doc = es.get(index_name, "c", doc_type=TYPE)
                source = dict(doc["_source"], counter=doc["_source"]["counter"] + 1)
                try:
                    es.index(index_name, TYPE, source, id="c", version=doc["_version"])
                    break
                except es5.ConflictError:
                    conflicts.append(n)
        es.transport.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    final = setup.get(index_name, "c", doc_type=TYPE)
    assert final["_source"]["counter"] == workers * increments
    assert final["_version"] == workers * increments + 1
    setup.transport.close()
