"""A write that was applied answers 409: its primary dies before the answer comes back, the
coordinating node sends the write again to the new primary, and there it meets itself.

Alice creates order 1 (`op_type=create`) through a node that does not hold the primary, so
that node forwards the write. The primary applies it, replicates it to both replicas, and
answers; but its answer is held on the way back, and then the primary's node is killed.

The coordinating node sees the primary move and, as Elasticsearch does on a primary failure,
sends the same request to the new primary. The new primary already holds order 1 (its replica
copy took the write before the failover), so the create fails: 409, "document already exists".
Elasticsearch behaves the same way (elastic/elasticsearch#21658: a retry after a primary
failure can turn "created" into "updated", or a create into a conflict; 7.0 removed the special
handling of conflicts on retried bulk items, #38901).

The lesson: a 409 does not prove that a write was not applied. A client that counts a 409 as
a loss, or retries a conditional write blindly, must first read the document: here the read
shows Alice's own order, written once.
"""

from occsim.cluster.scenario import Setup

INDEX = "orders"
DOC = "1"

SETUP = Setup(
    lesson=(
        "A 409 does not prove that a write was not applied: a write retried after its primary "
        "failed can conflict with itself, so read the document before counting it lost."),
    nodes=3, indices=(INDEX,), shards=1, replicas=2)


async def run(cluster):
    typed = cluster.doc_type
    old = cluster.primary_of(INDEX, DOC)
    coordinator = next(n for n in cluster.nodes if n != old)
    alice = cluster.client("alice", node=coordinator)
    cluster.say(f"{old} holds the primary; alice writes through {coordinator}, which forwards")

    await cluster.hold(old, coordinator, kind="forward_ok")
    pending = cluster.spawn(alice.create(INDEX, DOC, {"item": "book", "by": "alice"},
                                         doc_type=typed))
    await cluster.wait_held(1)
    cluster.say(f"{old} applied and replicated the create; its answer to {coordinator} is held")
    await cluster.kill(old)
    cluster.say(f"{old} is killed: {coordinator} sends the create again to the new primary")

    reply = await pending
    error = reply.get("error") or {}
    cluster.expect_equal((reply.status, error.get("type")),
                         (409, "version_conflict_engine_exception"),
                         "the retried create conflicts with the first attempt")
    cluster.say(f"  {reply.reason}")

    got = await alice.get(INDEX, DOC, doc_type=typed)
    cluster.expect(got.ok and got["_source"] == {"item": "book", "by": "alice"}
                   and got["_version"] == 1,
                   f"reading before counting it lost: the order is alice's own, written once "
                   f"(version {got.get('_version')})")
    await cluster.quiesce()
    copies = await cluster.copies(INDEX, DOC, doc_type=typed)
    cluster.expect(len(copies) == 2 and all(c.ok for c in copies.values()),
                   f"both surviving copies hold it ({', '.join(sorted(copies))})")
