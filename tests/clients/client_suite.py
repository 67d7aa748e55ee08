"""The document API suite both current official clients pass unchanged (`elasticsearch8`
against profile 8, `elasticsearch` 9.x against profile 9): the test modules import these tests
and give the client module as the `esmod` fixture."""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture
def es(cluster, esmod):
    """A blocking client of the module's kind on every node of the module's cluster."""
    client = esmod.Elasticsearch(cluster.urls)
    yield client
    client.close()


def test_index_get_delete(es, index_name, esmod):
    created = es.index(index=index_name, id="1", document={"title": "one"})
    assert (created["result"], created["_version"], created["_seq_no"]) == ("created", 1, 0)
    assert "_type" not in created
    got = es.get(index=index_name, id="1")
    assert (got["found"], got["_seq_no"], got["_primary_term"], got["_source"]) == (
        True, 0, 1, {"title": "one"})
    assert es.index(index=index_name, id="1", document={"title": "two"})["result"] == "updated"
    assert es.delete(index=index_name, id="1")["result"] == "deleted"
    with pytest.raises(esmod.NotFoundError) as missing:
        es.get(index=index_name, id="1")
    assert missing.value.meta.status == 404 and missing.value.body["found"] is False
    with pytest.raises(esmod.NotFoundError):
        es.delete(index=index_name, id="1")
    assert not es.exists(index=index_name, id="1")


def test_create_twice_is_a_conflict(es, index_name, esmod):
    assert es.create(index=index_name, id="1", document={"a": 1})["result"] == "created"
    with pytest.raises(esmod.ConflictError) as conflict:
        es.create(index=index_name, id="1", document={"a": 2})
    assert conflict.value.meta.status == 409
    assert conflict.value.message == "version_conflict_engine_exception"
    assert conflict.value.body["error"]["reason"] == (
        "[1]: version conflict, document already exists (current version [1])")


def test_if_seq_no_and_if_primary_term(es, index_name, esmod):
    first = es.index(index=index_name, id="1", document={"v": 1})
    second = es.index(index=index_name, id="1", document={"v": 2}, if_seq_no=first["_seq_no"],
                      if_primary_term=first["_primary_term"])
    assert (second["_seq_no"], second["_version"]) == (1, 2)
    with pytest.raises(esmod.ConflictError) as conflict:
        es.index(index=index_name, id="1", document={"v": 3}, if_seq_no=0, if_primary_term=1)
    assert conflict.value.body["error"]["reason"] == (
        "[1]: version conflict, required seqNo [0], primary term [1]. current document has "
        "seqNo [1] and primary term [1]")
    with pytest.raises(esmod.ConflictError):
        es.delete(index=index_name, id="1", if_seq_no=0, if_primary_term=1)
    deleted = es.delete(index=index_name, id="1", if_seq_no=1, if_primary_term=1)
    assert deleted["result"] == "deleted"


def test_versions(es, index_name, esmod):
    es.index(index=index_name, id="1", document={"v": 1})
    with pytest.raises(esmod.BadRequestError) as refused:
        es.index(index=index_name, id="1", document={"v": 2}, version=1)
    assert refused.value.message == "action_request_validation_exception"
    assert es.index(index=index_name, id="2", document={"v": 5}, version=5,
                    version_type="external")["_version"] == 5
    with pytest.raises(esmod.ConflictError) as conflict:
        es.index(index=index_name, id="2", document={"v": 5}, version=5,
                 version_type="external")
    assert conflict.value.body["error"]["reason"] == (
        "[2]: version conflict, current version [5] is higher or equal to the one provided [5]")
    assert es.index(index=index_name, id="2", document={"v": 6}, version=6,
                    version_type="external_gte")["_version"] == 6


def test_update(es, index_name, esmod):
    es.index(index=index_name, id="1", document={"a": 1})
    merged = es.update(index=index_name, id="1", doc={"b": 2})
    assert (merged["result"], merged["_version"]) == ("updated", 2)
    assert es.get(index=index_name, id="1")["_source"] == {"a": 1, "b": 2}
    assert es.update(index=index_name, id="1", doc={"b": 2})["result"] == "noop"
    assert es.update(index=index_name, id="1", doc={"b": 2},
                     detect_noop=False)["result"] == "updated"
    assert es.update(index=index_name, id="2", doc={"n": 1},
                     upsert={"n": 0})["result"] == "created"
    assert es.get(index=index_name, id="2")["_source"] == {"n": 0}
    assert es.update(index=index_name, id="3", doc={"n": 3},
                     doc_as_upsert=True)["result"] == "created"
    assert es.update(index=index_name, id="3", doc={"n": 4},
                     retry_on_conflict=2)["_version"] == 2
    with pytest.raises(esmod.ConflictError):
        es.update(index=index_name, id="3", doc={"n": 5}, if_seq_no=0, if_primary_term=1)
    with pytest.raises(esmod.NotFoundError) as missing:
        es.update(index=index_name, id="4", doc={"n": 1})
    assert missing.value.message == "document_missing_exception"
    assert missing.value.body["error"]["reason"] == "[4]: document missing"


def test_bulk_helpers(es, index_name, esmod):
    actions = [{"_index": index_name, "_id": str(i), "_source": {"i": i}} for i in range(20)]
    assert esmod.helpers.bulk(es, actions) == (20, [])
    ok, errors = esmod.helpers.bulk(es, [
        {"_op_type": "create", "_index": index_name, "_id": "0", "_source": {"i": 0}},
        {"_op_type": "delete", "_index": index_name, "_id": "1", "if_seq_no": 99,
         "if_primary_term": 1},
        {"_op_type": "update", "_index": index_name, "_id": "2", "doc": {"seen": True}},
    ], raise_on_error=False)
    assert ok == 1
    assert sorted(next(iter(e.values()))["status"] for e in errors) == [409, 409]
    assert es.get(index=index_name, id="2")["_source"] == {"i": 2, "seen": True}


async def test_concurrent_read_modify_write_loses_no_update(cluster, index_name, esmod):
    """asyncio tasks, each with its own `AsyncElasticsearch` on another node: get → +1 →
    index with the `_seq_no`/`_primary_term` read → on ConflictError read again."""
    workers, increments = 5, 8
    clients = [esmod.AsyncElasticsearch(url) for url in cluster.urls]
    await clients[0].index(index=index_name, id="c", document={"counter": 0})
    conflicts = 0

    async def work(es) -> None:
        nonlocal conflicts
        for _ in range(increments):
            while True:
                doc = await es.get(index=index_name, id="c")
                source = dict(doc["_source"], counter=doc["_source"]["counter"] + 1)
                try:
                    await es.index(index=index_name, id="c", document=source,
                                   if_seq_no=doc["_seq_no"],
                                   if_primary_term=doc["_primary_term"])
                    break
                except esmod.ConflictError:
                    conflicts += 1

    try:
        await asyncio.gather(*(work(clients[n % len(clients)]) for n in range(workers)))
        final = await clients[0].get(index=index_name, id="c")
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    assert final["_source"]["counter"] == workers * increments
    assert final["_seq_no"] == workers * increments


def test_search_hits_feed_a_conditional_write(es, index_name, esmod):
    es.indices.create(index=index_name, aliases={"books": {}},
                      settings={"number_of_shards": 1, "refresh_interval": "-1"})
    es.index(index="books", id="1", document={"title": "Concurrency Control", "year": 2012})
    assert es.search(index=index_name, query={"match_all": {}})["hits"]["total"]["value"] == 0
    assert es.get_source(index=index_name, id="1") == {"title": "Concurrency Control",
                                                       "year": 2012}
    es.indices.refresh(index=index_name)
    found = es.search(index="books", query={"match": {"title": "concurrency"}},
                      seq_no_primary_term=True, version=True)
    hit = found["hits"]["hits"][0]
    assert (found["hits"]["total"], hit["_version"]) == ({"value": 1, "relation": "eq"}, 1)
    es.index(index=index_name, id="1", document={"title": "v2"}, if_seq_no=hit["_seq_no"],
             if_primary_term=hit["_primary_term"])
    with pytest.raises(esmod.ConflictError):
        es.index(index=index_name, id="1", document={"title": "v3"}, if_seq_no=hit["_seq_no"],
                 if_primary_term=hit["_primary_term"])
    assert es.count(index=index_name, query={"term": {"year": 2012}})["count"] == 1
    assert es.indices.get(index=index_name)[index_name]["aliases"] == {"books": {}}
    assert es.indices.get_alias(name="books") == {index_name: {"aliases": {"books": {}}}}
