"""Reads only from active copies, `_cluster/health` from the routing, and a node that answers
only once it has joined: one in-process node driven by hand-made cluster states (reference §5.7).
"""

from __future__ import annotations

import asyncio

import pytest

import occsim.node.api.routes

ALL = (5, 6, 7, 8, 9)
GET_TEXT = {5: "get [u][test][1]: routing [null]", 6: "get [u][_doc][1]: routing [null]",
            7: "get [u][_doc][1]: routing [null]", 8: "get [u][1]: routing [null]",
            9: "get [u][1]: routing [null]"}
RECOVERING = ("CurrentState[RECOVERING] operations only allowed when shard state is one of "
              "[POST_RECOVERY, STARTED]")


async def routed(api, index: str, *, primary: str | None = None,
                 replicas: tuple = (None,), in_sync: tuple = (), initializing: tuple = ()) -> None:
    """Apply a newer cluster state in which shard 0 of `index` has this routing (each copy
    keeping the allocation id it had, where the routing carries them)."""
    state = api.master.state
    meta = state["indices"][index]
    known = meta["routing"][0].get("alloc")
    alloc = {n: (known or {}).get(n, f"{n}:{state['version']}")
             for n in (primary, *replicas) if n is not None}
    table = [{"primary": primary, "replicas": list(replicas), "term": 1,
              "in_sync": [alloc[n] if known is not None else n for n in in_sync],
              "initializing": list(initializing), "alloc": alloc}]
    api.master.state = {**state, "version": state["version"] + 1,
                        "indices": {**state["indices"], index: {**meta, "routing": table}}}
    await api.node.apply_state(api.master.state)


async def index_u(api) -> None:
    """Index `u` (1 shard, 1 replica slot) holding doc 1 on this node, the primary."""
    status, _ = await api("PUT", "/u", {"settings": {"number_of_shards": 1,
                                                     "number_of_replicas": 1}})
    assert status == 200
    status, _ = await api("PUT", api.doc_path("u", "1"), {"a": 1})
    assert status == 201


@pytest.mark.parametrize("major", ALL)
async def test_a_recovering_copy_never_answers_a_read(make_api, major):
    api = await make_api(major)
    await index_u(api)
    # the primary is gone; this node's copy is a replica still recovering
    await routed(api, "u", replicas=("n1",), initializing=("n1",))
    for preference in ({}, {"preference": "_only_local"}):
        status, body = await api("GET", api.doc_path("u", "1"), **preference)
        assert status == 503, body
        error = body["error"]
        assert error["type"] == "no_shard_available_action_exception"
        assert error["reason"] == f"No shard available for [{GET_TEXT[major]}]"
        cause = {"type": "illegal_index_shard_state_exception",
                 "reason": RECOVERING.replace("STARTED]", "STARTED, RELOCATED]")
                 if major == 5 else RECOVERING,
                 "index_uuid": api.master.state["indices"]["u"]["uuid"], "shard": "0",
                 "index": "u"}
        assert error["caused_by"] == cause and error["root_cause"] == [cause]
    status, _ = await api("HEAD", api.doc_path("u", "1"))
    assert status == 503
    await routed(api, "u", replicas=("n1",), in_sync=("n1",))  # recovered: started
    status, body = await api("GET", api.doc_path("u", "1"), preference="_only_local")
    assert status == 200 and body["_source"] == {"a": 1}


@pytest.mark.parametrize("major", ALL)
async def test_no_copy_at_all_fails_at_once_with_no_shard_available(make_api, major):
    api = await make_api(major)
    await index_u(api)
    await routed(api, "u")  # primary and replica unassigned
    status, body = await api("GET", api.doc_path("u", "1"))
    cause = {"type": "no_shard_available_action_exception",
             "reason": f"No shard available for [{GET_TEXT[major]}]"}
    assert (status, body) == (503, {"error": {"root_cause": [cause], **cause}, "status": 503})


@pytest.mark.parametrize("major", ALL)
async def test_only_local_on_a_node_without_a_copy_is_no_shard_available(make_api, major):
    api = await make_api(major)
    await index_u(api)
    await routed(api, "u", primary="n2", in_sync=("n2",))  # the one copy lives elsewhere
    status, body = await api("GET", api.doc_path("u", "1"), preference="_only_local")
    assert status == 503 and "caused_by" not in body["error"]
    assert body["error"]["reason"] == f"No shard available for [{GET_TEXT[major]}]"


@pytest.mark.parametrize("major", (5, 7, 8))
async def test_mget_names_its_shard_request_when_no_copy_can_read(make_api, major):
    api = await make_api(major)
    await index_u(api)
    await routed(api, "u", replicas=("n1",), initializing=("n1",))
    doc = {"_index": "u", "_id": "1"} | ({"_type": "test"} if major == 5 else {})
    status, body = await api("POST", "/_mget", {"docs": [doc]})
    assert status == 200
    error = body["docs"][0]["error"]
    assert error["type"] == "no_shard_available_action_exception"
    assert error["reason"].startswith(
        "No shard available for [org.elasticsearch.action.get.MultiGetShardRequest@")
    assert error["caused_by"]["type"] == "illegal_index_shard_state_exception"


# -- _cluster/health -----------------------------------------------------------------------------
async def health(api, path: str = "/_cluster/health", **params) -> tuple[int, dict]:
    return await api("GET", path, **params)


@pytest.mark.parametrize("major", ALL)
async def test_health_counts_copies_from_the_routing(make_api, major):
    api = await make_api(major)
    await index_u(api)
    await api("PUT", "/v", {"settings": {"number_of_shards": 1, "number_of_replicas": 1}})
    await routed(api, "u", primary="n1", replicas=("n2",), in_sync=("n1",), initializing=("n2",))
    await routed(api, "v")  # nothing assigned: red
    status, body = await health(api)
    assert status == 200
    assert {k: body[k] for k in ("status", "timed_out", "active_primary_shards",
                                 "active_shards", "initializing_shards", "unassigned_shards",
                                 "active_shards_percent_as_number")} == {
        "status": "red", "timed_out": False, "active_primary_shards": 1, "active_shards": 1,
        "initializing_shards": 1, "unassigned_shards": 2,
        "active_shards_percent_as_number": 25.0}
    status, body = await health(api, "/_cluster/health/u")  # only u's copies
    assert (status, body["status"], body["initializing_shards"], body["unassigned_shards"],
            body["active_shards_percent_as_number"]) == (200, "yellow", 1, 0, 25.0)


@pytest.mark.parametrize("major", ALL)
async def test_health_waits_for_status_and_times_out_with_408(make_api, major):
    api = await make_api(major)
    await index_u(api)
    await routed(api, "u", primary="n1", replicas=("n2",), in_sync=("n1",), initializing=("n2",))
    status, body = await health(api, wait_for_status="green", timeout="0s")
    assert (status, body["status"], body["timed_out"]) == (408, "yellow", True)
    status, body = await health(api, wait_for_status="green", timeout="20ms")
    assert (status, body["timed_out"]) == (408, True)
    status, body = await health(api, wait_for_status="YELLOW", timeout="0s")
    assert (status, body["timed_out"]) == (200, False)
    waiting = asyncio.ensure_future(health(api, wait_for_status="green", timeout="30s"))
    await asyncio.sleep(0)  # let the request start waiting
    assert not waiting.done()
    await routed(api, "u", primary="n1", replicas=("n2",), in_sync=("n1", "n2"))  # n2 started
    status, body = await waiting
    assert (status, body["status"], body["timed_out"], body["initializing_shards"]) == (
        200, "green", False, 0)


@pytest.mark.parametrize("major", (6, 7, 8, 9))
async def test_health_waits_for_no_initializing_shards(make_api, major):
    api = await make_api(major)
    await index_u(api)
    await routed(api, "u", primary="n1", replicas=("n2",), in_sync=("n1",), initializing=("n2",))
    status, body = await health(api, wait_for_no_initializing_shards="true", timeout="0s")
    assert (status, body["timed_out"], body["initializing_shards"]) == (408, True, 1)
    waiting = asyncio.ensure_future(health(api, wait_for_no_initializing_shards="true"))
    await asyncio.sleep(0)
    assert not waiting.done()
    await routed(api, "u", primary="n1", replicas=(None,), in_sync=("n1",))  # failed instead
    status, body = await waiting
    assert (status, body["status"], body["initializing_shards"]) == (200, "yellow", 0)


async def test_5x_has_no_wait_for_no_initializing_shards(make_api):
    api = await make_api(5)
    status, body = await health(api, wait_for_no_initializing_shards="true")
    assert status == 400
    assert body["error"]["reason"] == ("request [/_cluster/health] contains unrecognized "
                                       "parameter: [wait_for_no_initializing_shards]")


@pytest.mark.parametrize("params, status", [
    ({"wait_for_nodes": "1"}, 200), ({"wait_for_nodes": ">=1"}, 200),
    ({"wait_for_nodes": "ge(2)"}, 408), ({"wait_for_nodes": "lt(2)"}, 200),
    ({"wait_for_nodes": ">1"}, 408), ({"wait_for_active_shards": "1"}, 200),
    ({"wait_for_active_shards": "2"}, 408), ({"wait_for_active_shards": "all"}, 408),
    ({"wait_for_no_relocating_shards": "true"}, 200),
])
async def test_health_conditions(make_api, params, status):
    api = await make_api(7)
    await index_u(api)  # one node: the primary is active, the replica slot unassigned
    got, body = await health(api, timeout="0s", **params)
    assert (got, body["timed_out"]) == (status, status == 408)


@pytest.mark.parametrize("params, error_type, reason", [
    ({"wait_for_status": "blue"}, "illegal_argument_exception",
     "No enum constant org.elasticsearch.cluster.health.ClusterHealthStatus.BLUE"),
    ({"wait_for_nodes": ">=x"}, "number_format_exception", 'For input string: "x"'),
    ({"wait_for_active_shards": "-1"}, "illegal_argument_exception",
     "shard count cannot be a negative value"),
    ({"wait_for_active_shards": "some"}, "illegal_argument_exception",
     "cannot parse ActiveShardCount[some]"),
])
async def test_health_refuses_bad_conditions(make_api, params, error_type, reason):
    api = await make_api(8)
    status, body = await health(api, **params)
    assert (status, body["error"]["type"], body["error"]["reason"]) == (400, error_type, reason)


@pytest.mark.parametrize("major", ALL)
async def test_health_of_a_missing_index_is_red_until_timeout(make_api, major):
    api = await make_api(major)
    status, body = await health(api, "/_cluster/health/nope", timeout="0s")
    assert (status, body["status"], body["timed_out"], body["active_shards"]) == (
        408, "red", True, 0)
    waiting = asyncio.ensure_future(health(api, "/_cluster/health/nope"))
    await asyncio.sleep(0)
    assert not waiting.done()
    await api("PUT", "/nope", {"settings": {"number_of_replicas": 0}})
    status, body = await waiting
    assert (status, body["status"], body["timed_out"]) == (200, "green", False)


# -- a node answers only once it has joined ---------------------------------------------------
async def test_a_node_that_has_not_joined_waits_instead_of_answering_from_an_empty_state(
        make_api):
    api = await make_api(7)
    await index_u(api)
    joined = api.node.state
    api.node.state = {"version": 0, "indices": {}, "nodes": {}}  # as a node just (re)started
    write = asyncio.ensure_future(api("PUT", "/u/_doc/2", {"b": 2}))
    read = asyncio.ensure_future(api("GET", "/u/_doc/1"))
    await asyncio.sleep(0)
    assert not write.done() and not read.done()
    await api.node.apply_state({**joined, "version": joined["version"] + 1})
    status, body = await read
    assert (status, body["_source"]) == (200, {"a": 1})
    status, body = await write
    assert (status, body["result"]) == (201, "created")


async def test_a_node_that_never_joins_answers_state_not_recovered(make_api, monkeypatch):
    monkeypatch.setattr(occsim.node.api.routes, "INITIAL_STATE_TIMEOUT", 0.01)
    api = await make_api(8)
    api.node.state = {"version": 0, "indices": {}, "nodes": {}}
    status, body = await api("GET", "/u/_doc/1")
    reason = "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"
    assert (status, body["error"]["type"], body["error"]["reason"]) == (
        503, "cluster_block_exception", reason)
    status, body = await api("GET", "/")
    assert status == 200


@pytest.mark.parametrize("major", (5, 7))
async def test_auto_creating_an_index_created_meanwhile_uses_it(make_api, major):
    api = await make_api(major)
    api.node.state = {**api.node.state}  # the node's own copy of the state it applied
    api.master.create_index("u", {})  # through another node: this one has not applied it yet
    write = asyncio.ensure_future(api("PUT", api.doc_path("u", "1"), {"a": 1}))
    await asyncio.sleep(0)
    assert not write.done()
    await api.node.apply_state(api.master.state)
    status, body = await write
    assert (status, body["result"]) == (201, "created")
