"""Seed document 004: replicas ignore an older version that arrives late, and internal
versions guard a read-modify-write.

Part 1 follows the seed's own example: a blog post at version 1 is updated with `?version=1`
(it becomes 2); a second update that still says `?version=1` is refused with 409, because the
document moved on. From Elasticsearch 7 an internal version may no longer guard a write (400),
and `if_seq_no`/`if_primary_term` does the same job.

Part 2 is the replica story the seed begins with: two updates race, the primary sends both to
its replica, and the network delivers them out of order. The replica applies version 4 first;
when version 3 arrives late it keeps 4 and discards 3, so the newer write is never overwritten.
"""

from occsim.cluster.scenario import Setup

SETUP = Setup(
    lesson=(
        "A replica keeps the newer version when an older one arrives late, and a write "
        "guarded by what was read (version in 5.x, if_seq_no/if_primary_term from 7.x) gets a "
        "409 once someone else wrote first."),
    nodes=2, profiles=(5, 6, 7, 8, 9))

INDEX = "website"
POST = {"title": "My first blog entry", "text": "Just trying this out..."}


async def run(cluster):
    typed = "blog" if cluster.profile <= 6 else "_doc"
    prefix = f"[{typed}][1]" if cluster.profile <= 6 else "[1]"
    alice, bob = cluster.client("alice"), cluster.client("bob")

    cluster.say("part 1: a read-modify-write guarded by the version read")
    await alice.index(INDEX, "1", POST, doc_type=typed)
    seen = await alice.get(INDEX, "1", doc_type=typed)
    edit = {**POST, "text": "Starting to get the hang of this..."}
    if cluster.profile <= 6:
        saved = await alice.index(INDEX, "1", edit, doc_type=typed, version=seen["_version"])
        cluster.expect_equal(saved["_version"], 2, "alice's guarded update")
        stale = await bob.index(INDEX, "1", {**POST, "text": "stale"}, doc_type=typed, version=1)
        cluster.expect_equal(stale.status, 409, "bob's update with the old version")
        cluster.expect_equal(stale.reason, f"{prefix}: version conflict, current version [2] "
                             "is different than the one provided [1]", "its reason")
        cluster.expect_equal(stale["error"]["shard"], "3" if cluster.profile <= 6 else "0",
                             "the shard named in the error")
    else:
        refused = await alice.index(INDEX, "1", edit, doc_type=typed, version=seen["_version"])
        cluster.expect_equal(refused.status, 400, "internal versions no longer guard writes")
        saved = await alice.index(INDEX, "1", edit, doc_type=typed, if_seq_no=seen["_seq_no"],
                                  if_primary_term=seen["_primary_term"])
        cluster.expect_equal(saved["_version"], 2, "alice's guarded update with if_seq_no")
        stale = await bob.index(INDEX, "1", {**POST, "text": "stale"}, doc_type=typed,
                                if_seq_no=seen["_seq_no"],
                                if_primary_term=seen["_primary_term"])
        cluster.expect_equal(stale.status, 409, "bob's update with the old seq_no")
        cluster.expect_equal(
            stale.reason, f"{prefix}: version conflict, required seqNo [{seen['_seq_no']}], "
            f"primary term [1]. current document has seqNo [{saved['_seq_no']}] and primary "
            "term [1]", "its reason")

    cluster.say("part 2: two updates race to the replica; the network delivers them reversed")
    primary = cluster.primary_of(INDEX, "1")
    replica = cluster.replicas_of(INDEX, "1")[0]
    rule = await cluster.hold(primary, replica, doc="1", version=3)
    late = cluster.spawn(alice.index(INDEX, "1", {**POST, "text": "version 3"}, doc_type=typed))
    await cluster.wait_held(1)
    cluster.say(f"version 3 is held between {primary} and {replica}; bob writes version 4")
    newer = await bob.index(INDEX, "1", {**POST, "text": "version 4"}, doc_type=typed)
    cluster.expect_equal(newer["_version"], 4, "bob's write")
    cluster.say(f"release version 3: it reaches {replica} after version 4")
    await cluster.release(rule)
    reply = await late
    cluster.expect_equal(reply["_version"], 3, "alice's write, acknowledged late")
    await cluster.quiesce()

    copies = await cluster.copies(INDEX, "1", doc_type=typed)
    for node, copy in copies.items():
        cluster.expect_equal((copy["_version"], copy["_source"]["text"]), (4, "version 4"),
                             f"the copy on {node}")
    discards = [e for e in await cluster.trace()
                if e["kind"] == "discard" and e["node"] == replica and e["doc"] == "1"]
    cluster.expect(any(e["version"] == 3 and e["held_version"] == 4 for e in discards),
                   f"{replica} discarded version 3 because it held version 4")
