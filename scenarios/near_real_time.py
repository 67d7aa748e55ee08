"""Near-real-time search: a search sees a copy's last refresh, a GET its latest write, and a
search on a lagging replica hands out an old `_seq_no` that a conditional write must refuse.

Alice indexes a product into an index whose `refresh_interval` is `-1` (no scheduled refresh),
so nothing but a refresh makes the write searchable. Bob's search misses it; his GET finds it,
because GET is real-time. After `_refresh` the search finds it too.

Then Alice raises the price while the network holds the change on its way to the replica. A
refresh now shows the primary at version 2, the replica still at version 1: a search may be
served by either copy, and the replica's answer is the older version with its `_seq_no`. Bob
builds a conditional write from that hit (`if_seq_no`/`if_primary_term`, in 5.x `version`),
and the primary refuses it with 409, which is what optimistic concurrency control is for: a
stale read can never overwrite a newer write. Released, the change reaches the replica and both
copies end at version 2.
"""

from occsim.cluster.scenario import Setup

SETUP = Setup(
    lesson=(
        "A search sees a copy as of its last refresh while a GET is real-time, and a hit from a "
        "lagging copy carries an old seq_no: a write conditioned on it gets the 409 OCC is for."),
    nodes=2, profiles=(7, 5, 6, 8, 9), indices={"catalog": {"settings": {
        "number_of_shards": 1, "number_of_replicas": 1, "refresh_interval": "-1"}}})

INDEX = "catalog"
SEARCH = {"query": {"ids": {"values": ["1"]}}, "version": True}


def hits(reply) -> list[dict]:
    return reply["hits"]["hits"]


def total(reply) -> int:
    value = reply["hits"]["total"]
    return value if isinstance(value, int) else value["value"]


async def run(cluster):
    typed = cluster.doc_type
    search = dict(SEARCH, seq_no_primary_term=True) if cluster.profile >= 6 else SEARCH
    primary, replica = cluster.primary_of(INDEX, "1"), cluster.replicas_of(INDEX, "1")[0]
    alice = cluster.client("alice", node=primary)
    bob = cluster.client("bob", node=replica)

    cluster.say("alice indexes a product; nothing has refreshed the index since")
    created = await alice.index(INDEX, "1", {"name": "lamp", "price": 10}, doc_type=typed)
    cluster.expect_equal(created.status, 201, "alice's write")
    missed = await bob.request("POST", f"/{INDEX}/_search", search)
    cluster.expect_equal(total(missed), 0, "bob's search before a refresh")
    found = await bob.get(INDEX, "1", doc_type=typed)
    cluster.expect_equal((found.status, found["_version"]), (200, 1), "bob's GET (real-time)")

    await alice.request("POST", f"/{INDEX}/_refresh")
    seen = await bob.request("POST", f"/{INDEX}/_search", search)
    cluster.expect_equal([h["_version"] for h in hits(seen)], [1], "bob's search after _refresh")

    cluster.say(f"alice raises the price; the change is held between {primary} and {replica}")
    rule = await cluster.hold(primary, replica, doc="1", version=2)
    raised = cluster.spawn(alice.index(INDEX, "1", {"name": "lamp", "price": 12},
                                       doc_type=typed))
    await cluster.wait_held(1)
    await alice.request("POST", f"/{INDEX}/_refresh")
    on_primary = await alice.request("POST", f"/{INDEX}/_search", search,
                                     preference="_only_local")
    on_replica = await bob.request("POST", f"/{INDEX}/_search", search,
                                   preference="_only_local")
    cluster.expect_equal([h["_version"] for h in hits(on_primary)], [2],
                         f"a search served by the primary on {primary}")
    stale = hits(on_replica)[0]
    cluster.expect_equal((stale["_version"], stale["_source"]["price"]), (1, 10),
                         f"the same search served by the replica on {replica}")

    cluster.say("bob writes a discount based on the replica's hit, conditionally")
    if cluster.profile >= 6:
        condition = {"if_seq_no": stale["_seq_no"], "if_primary_term": stale["_primary_term"]}
    else:
        condition = {"version": stale["_version"]}
    refused = await bob.index(INDEX, "1", {"name": "lamp", "price": 9}, doc_type=typed,
                              **condition)
    cluster.expect_equal(refused.status, 409, "bob's write built from the stale hit")

    await cluster.release(rule)
    cluster.expect_equal((await raised)["_version"], 2, "alice's raise, acknowledged")
    await cluster.quiesce()
    for node, copy in (await cluster.copies(INDEX, "1", doc_type=typed)).items():
        cluster.expect_equal((copy["_version"], copy["_source"]["price"]), (2, 12),
                             f"the copy on {node}")
    searches = [e for e in await cluster.trace() if e["kind"] == "search"]
    cluster.expect(any(e["node"] == replica and [d[1] for d in e["docs"]] == [1]
                       for e in searches), f"the trace shows {replica} searching version 1")
