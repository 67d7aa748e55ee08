"""After a failover the new primary gives version 2 to a different change: a write guarded by
`version=2` then overwrites it (5.x), one guarded by `if_seq_no`/`if_primary_term` gets a 409.

Why Elasticsearch 7 dropped internal versions for optimistic concurrency control. A team
document is at version 1 on all three copies. Alice adds bob to it: the primary gives her change
version 2, applies it and sends it to the replicas, but the replication is held on the way, so
Alice gets no answer yet. A billing job reads the document from the primary and sees version 2,
with bob in it (from 6.x also its `_seq_no` 1 and `_primary_term` 1).

Then the primary dies (SIGKILL): Alice's change, applied only there, dies with it, and she never
gets an acknowledgement. The master promotes a replica, which holds version 1, and bumps the
primary term to 2. Bob's change (add cy) arrives and the new primary, which never saw version 2,
gives it version 2 again: one number now names two different changes.

The billing job finishes its read-modify-write guarded by what it read. With `version=2` (5.x)
the write is accepted: it silently overwrites Bob's acknowledged change and brings back Alice's
member that was never acknowledged. With `if_seq_no=1&if_primary_term=1` the primary compares
with Bob's change, which has seq_no 1 but primary term 2, and refuses with 409: the pair
(seq_no, primary term) is unique where the version is not. The trace checker reports the reuse
of version 2 (`version_monotonic`) in every profile: only the guard's outcome differs.
"""

from occsim.cluster.scenario import NodeUnreachable, Setup

INDEX = "teams"
DOC = "core"

SETUP = Setup(
    lesson=(
        "After a failover a version number can name two different changes, so only the pair "
        "(seq_no, primary term) identifies a change: a version guard can overwrite the wrong "
        "change, an if_seq_no/if_primary_term guard cannot."),
    nodes=3, profiles=(5, 6, 7, 8, 9), indices=(INDEX,), shards=1, replicas=2,
    expect_violations={"version_monotonic": "the new primary gives version 2 to another "
                                            "change than the one billing read"})


async def run(cluster):
    typed = cluster.doc_type
    primary = cluster.primary_of(INDEX, DOC)
    replicas = cluster.replicas_of(INDEX, DOC)
    setup = cluster.client("setup", node=replicas[0])
    alice = cluster.client("alice", node=primary)
    billing = cluster.client("billing", node=primary)

    await setup.index(INDEX, DOC, {"members": ["ann"]}, doc_type=typed)
    cluster.say(f"the team is at version 1 on {primary} (primary) and {', '.join(replicas)}")

    cluster.say("hold the primary's replication of the next change to both replicas")
    for replica in replicas:
        await cluster.hold(primary, replica, doc=DOC)

    async def alice_adds_bob():
        try:
            return await alice.index(INDEX, DOC, {"members": ["ann", "bob"]}, doc_type=typed)
        except NodeUnreachable as exc:  # the node died under her request
            return exc

    pending = cluster.spawn(alice_adds_bob())
    await cluster.wait_held(len(replicas))
    cluster.say(f"alice's change is applied on {primary} only, and not acknowledged yet")

    seen = await billing.get(INDEX, DOC, doc_type=typed)
    cluster.expect_equal((seen["_version"], seen["_source"]["members"]), (2, ["ann", "bob"]),
                         f"billing reads from {primary}")
    if cluster.profile >= 6:
        cluster.say(f"… with _seq_no {seen['_seq_no']} and _primary_term "
                    f"{seen['_primary_term']}")

    # a SIGKILL loses the events a node had not handed over yet: collect them first, so the
    # trace keeps alice's write and billing's read
    await cluster.trace()
    cluster.say(f"{primary} is killed (SIGKILL); the held replication dies with it")
    await cluster.kill(primary)
    await cluster.wait_until(lambda: cluster.routing(INDEX, DOC).primary in replicas
                             and cluster.routing(INDEX, DOC).term == 2,
                             "a replica promoted with primary term 2")
    new_primary = cluster.routing(INDEX, DOC).primary
    cluster.say(f"{new_primary} is promoted: primary term 2, and it holds version 1")
    answer = await pending
    cluster.expect(not isinstance(answer, dict) and not getattr(answer, "ok", False),
                   "alice never got an acknowledgement")

    bob = cluster.client("bob", node=new_primary)
    saved = await bob.index(INDEX, DOC, {"members": ["ann", "cy"]}, doc_type=typed)
    cluster.expect_equal(saved["_version"], 2, "the new primary gives bob's change the version")
    if cluster.profile >= 6:
        cluster.say(f"… with _seq_no {saved['_seq_no']} and _primary_term "
                    f"{saved['_primary_term']}: the same seq_no, another term")

    condition = cluster.guard(seen)
    cluster.say("billing writes back what it read, guarded by "
                + "&".join(f"{k}={v}" for k, v in condition.items()))
    invoiced = {**seen["_source"], "invoiced": True}
    written = await billing.on(new_primary).index(INDEX, DOC, invoiced, doc_type=typed,
                                                  **condition)
    final = await bob.get(INDEX, DOC, doc_type=typed)
    members = final["_source"]["members"]
    if cluster.profile == 5:
        cluster.expect_equal(written.status, 200, "version=2 matches bob's change: accepted")
        cluster.expect_equal(members, ["ann", "bob"], "members: bob's cy is lost and alice's "
                             "unacknowledged bob is back")
    else:
        cluster.expect_equal(written.status, 409, "seq_no 1 in term 1 is not bob's change")
        cluster.say(f"  {written.reason}")
        cluster.expect_equal(members, ["ann", "cy"], "members: bob's change is kept")
    cluster.say("the checker reports version 2 naming two different changes")
