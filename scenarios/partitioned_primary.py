"""A primary cut off by a network partition still applies a write, but cannot replicate it: the
master refuses to let it fail its replicas, so the client gets 503 instead of an acknowledgement.

Three nodes hold one shard and its two replicas. The network splits the primary's node from the
other two; the master stays with the majority. A client connected to the old primary's node
writes to it. That node still believes it is the primary: it checks the write, gives it the next
version and applies it locally, then sends it to its replicas, which never answer.

On the majority side the master soon stops hearing from the old node, removes it, promotes a
replica and bumps the primary term to 2. Writes sent to the majority succeed, now in term 2.

When the old primary's replication times out, Elasticsearch's rule applies: a primary may only
acknowledge a write its replicas did not confirm after the master has taken those replicas out
of the in-sync set. The old primary asks; the master is unreachable from the minority side (or,
once it hears a stale term, refuses), so the old primary answers 503
`retry_on_primary_exception` and acknowledges nothing. This is fencing: the primary term and the
master's in-sync set keep a stale primary from confirming anything.

The partition heals. The old node rejoins the cluster as a replica: it drops its stale copy and
recovers from the new primary. At the end every copy equals the new primary's, and the write the
old primary applied but never acknowledged is gone, as a write that failed should be.
"""

from occsim.cluster.scenario import Setup

INDEX = "orders"
DOC = "1"

SETUP = Setup(
    lesson=(
        "A primary cut off from the master cannot acknowledge a write it could not replicate: "
        "its term is over, so the client gets a 503 and only the majority side's writes "
        "count."),
    nodes=3, profiles=(5, 6, 7, 8, 9), replication_timeout=1.0,
              indices={INDEX: {"settings": {"number_of_shards": 1, "number_of_replicas": 2}}})


async def run(cluster):
    typed = cluster.doc_type
    old = cluster.primary_of(INDEX, DOC)
    majority = [n for n in cluster.nodes if n != old]
    shop = cluster.client("shop", node=majority[0])
    await shop.index(INDEX, DOC, {"status": "paid"}, doc_type=typed)
    cluster.say(f"order 1 is on all three copies; {old} holds the primary")

    cluster.say(f"the network splits {old} from {' and '.join(majority)}; the master stays "
                "with the majority")
    await cluster.partition([old])

    stale = cluster.client("stale_clerk", node=old)
    cluster.say(f"stale_clerk, connected to {old}, marks the order cancelled")
    pending = cluster.spawn(stale.index(INDEX, DOC, {"status": "cancelled"}, doc_type=typed))

    await cluster.wait_until(lambda: cluster.routing(INDEX, DOC).primary in majority
                             and cluster.routing(INDEX, DOC).term == 2,
                             "a replica promoted on the majority side")
    new = cluster.routing(INDEX, DOC).primary
    cluster.say(f"the master removed {old} and promoted {new}: primary term 2")

    shipped = await shop.index(INDEX, DOC, {"status": "shipped"}, doc_type=typed)
    cluster.expect(shipped.ok, f"the majority side acknowledges a write ({shipped.status})")
    if cluster.profile >= 6:
        cluster.expect_equal(shipped["_primary_term"], 2, "its primary term")

    refused = await pending
    error = refused.get("error") or {}
    cluster.expect_equal((refused.status, error.get("type")), (503, "retry_on_primary_exception"),
                         f"{old} does not acknowledge the write it could not replicate")
    cluster.say(f"  {refused.reason}")

    cluster.say("the partition heals")
    await cluster.heal()
    await cluster.wait_until(lambda: old in cluster.routing(INDEX, DOC).replicas
                             and old in cluster.in_sync(INDEX, DOC)
                             and not cluster.routing(INDEX, DOC).initializing,
                             f"{old} back as an in-sync replica")
    cluster.say(f"{old} rejoined as a replica and recovered from {new}")
    await cluster.quiesce()

    copies = await cluster.copies(INDEX, DOC)
    primary_copy = copies[new]
    seen = {n: (c.get("_version"), c.get("_seq_no"), (c.get("_source") or {}).get("status"))
            for n, c in copies.items()}
    cluster.expect(sorted(copies) == sorted(cluster.nodes)
                   and len(set(seen.values())) == 1, f"every copy equals the new primary's: {seen}")
    cluster.expect_equal(primary_copy["_source"]["status"], "shipped",
                         "the order (the unacknowledged 'cancelled' is gone)")
