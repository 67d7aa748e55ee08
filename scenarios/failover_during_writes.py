"""The primary is killed while four clients write: a replica is promoted (primary term 2), the
writes go on, and every acknowledged write is on every surviving copy.

An index with one shard and two replicas lives on three nodes. Four writers each update their own
document ten times, through the two nodes that do not hold the primary: those nodes forward
each write to the primary, which applies it, replicates it to both replicas and only then
answers. Midway, the primary's node is killed with SIGKILL.

The master notices at once, takes the node out of the cluster, promotes an in-sync replica and
bumps the shard's primary term to 2; the new primary resyncs the remaining replica. A write that
was on its way to the dead primary is not lost for the writer: the coordinating node sees the
primary move, waits for the new cluster state and sends the write to the new primary (a write
the old primary had already replicated may so be applied twice, which an update of the whole
document tolerates). All forty writes are acknowledged, the later ones with primary term 2.

Nothing acknowledged was lost: each document's copies on the two surviving nodes are equal and
hold its writer's last acknowledged write.
"""

import asyncio

from occsim.cluster.scenario import Setup

INDEX = "events"
WRITERS = 4
WRITES = 10
KILL_AFTER = 4  # writer 0's write number at which the primary is killed

SETUP = Setup(
    lesson=(
        "When a primary dies, the master promotes an in-sync replica under a higher primary "
        "term and the writes go on: every write that was acknowledged is on every surviving "
        "copy."),
    nodes=3, profiles=(5, 6, 7, 8, 9), indices=(INDEX,), shards=1, replicas=2)


async def run(cluster):
    typed = cluster.doc_type
    old = cluster.primary_of(INDEX, "w0")
    others = [n for n in cluster.nodes if n != old]
    cluster.say(f"{old} holds the primary; {WRITERS} writers go through {' and '.join(others)}")

    acked: dict[str, list[tuple[int, int]]] = {f"w{n}": [] for n in range(WRITERS)}
    failed = []
    halfway = asyncio.Event()

    async def writer(n):
        client = cluster.client(f"writer{n}", node=others[n % len(others)], quiet=True)
        doc = f"w{n}"
        for i in range(WRITES):
            if n == 0 and i == KILL_AFTER:
                halfway.set()
            reply = await client.index(INDEX, doc, {"writer": n, "i": i}, doc_type=typed)
            if reply.ok:
                acked[doc].append((i, reply.get("_primary_term", 0)))
            else:
                failed.append((doc, i, reply.status, reply.reason))

    async def killer():
        await halfway.wait()
        cluster.say(f"{old} is killed (SIGKILL) while the writers are busy")
        await cluster.kill(old)

    await asyncio.gather(*(writer(n) for n in range(WRITERS)), killer())
    await cluster.wait_until(lambda: cluster.routing(INDEX, "w0").primary in others
                             and cluster.routing(INDEX, "w0").term >= 2, "a replica promoted")
    shard = cluster.routing(INDEX, "w0")  # the index's one shard
    new = shard.primary
    cluster.say(f"{new} was promoted with primary term {shard.term}")
    cluster.expect_equal(shard.term, 2, "the primary term after the failover")

    total = sum(len(v) for v in acked.values())
    cluster.expect(not failed, f"no write failed ({failed[:1] or 'none'})")
    cluster.expect_equal(total, WRITERS * WRITES, "acknowledged writes")
    if cluster.profile >= 6:
        late = sum(1 for v in acked.values() for _, term in v if term == 2)
        cluster.expect(late > 0, f"{late} writes were acknowledged by {new} with primary term 2")

    await cluster.quiesce()
    await compare(cluster, acked, others, "on the two surviving copies")


async def compare(cluster, acked, holders, where):
    """Every copy of each document is the same, and holds its last acknowledged write."""
    same, last = [], []
    for doc, writes in acked.items():
        copies = await cluster.copies(INDEX, doc)
        seen = {(c.get("_version"), c.get("_seq_no"), repr(c.get("_source")))
                for c in copies.values()}
        same.append(sorted(copies) == sorted(holders) and len(seen) == 1)
        sources = [c.get("_source") or {} for c in copies.values()]
        last.append(bool(writes) and all(s.get("i") == writes[-1][0] for s in sources))
    cluster.expect(all(same), f"each document's copies are equal {where}")
    cluster.expect(all(last), f"each copy holds its writer's last acknowledged write {where}")
