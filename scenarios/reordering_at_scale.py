"""Eight writers hammer five documents through three nodes over a network that delays and
reorders messages; the replicas discard what arrives late, and every copy converges.

One shard with two replicas, so every write travels from its primary to two other nodes. The
network delays each message by 1 to 10 ms and holds back about one in three for longer, so a
newer operation often overtakes an older one on the way to a replica. Eight writers send 25
plain writes each to five documents, through all three nodes, at once.

A replica does not apply operations in the order they arrive: it compares each one with what it
holds for the document (its version in 5.x, its sequence number from 6.x) and discards an
operation older than that. How many deliveries were out of order depends on the seed; what must
hold is the end state: once the network is quiet, every copy of every document equals its
primary's (version, sequence number from 6.x, source), and each document's version counts all
40 writes it received.
"""

import asyncio

from occsim.cluster.scenario import Setup, out_of_order

SETUP = Setup(
    lesson=(
        "Replicas receive operations out of order all the time; by comparing each operation "
        "with what the copy holds and discarding older ones, every copy converges to the "
        "primary's."),
    nodes=3, profiles=(5, 6, 7, 8, 9), seed=11, delay="1..10ms", reorder=0.3,
              indices={"hot": {"settings": {"number_of_shards": 1, "number_of_replicas": 2}}})

INDEX = "hot"
DOCS = [str(n) for n in range(1, 6)]
WRITERS = 8
WRITES = 25


async def run(cluster):
    typed = cluster.doc_type

    async def writer(w):
        client = cluster.client(f"w{w}", node=cluster.nodes[w % len(cluster.nodes)], quiet=True)
        for n in range(WRITES):
            doc = DOCS[(w + n) % len(DOCS)]
            reply = await client.index(INDEX, doc, {"writer": client.name, "n": n},
                                       doc_type=typed)
            if not reply.ok:
                return f"{client.name}: {reply.status} {reply.reason}"
        return None

    cluster.say(f"{WRITERS} writers send {WRITES} writes each to docs {', '.join(DOCS)}")
    failures = [f for f in await asyncio.gather(*(writer(w) for w in range(WRITERS))) if f]
    cluster.expect(not failures, f"all {WRITERS * WRITES} writes acknowledged"
                   + (f", but {failures}" if failures else ""))
    await cluster.quiesce()

    events = await cluster.trace()
    delivered = [e for e in events if e["kind"] == "deliver" and e.get("mkind") == "replicate"]
    late = list(out_of_order(events))
    discards = [e for e in events if e["kind"] == "discard"]
    cluster.say(f"{len(delivered)} operations reached replicas; {len(late)} of them arrived "
                f"after a newer one, and {len(discards)} were discarded as stale")
    for e in discards[:3]:
        if cluster.profile >= 6:
            cluster.say(f"  e.g. {e['node']} held doc {e['doc']} #{e['held_seq_no']} and "
                        f"discarded #{e['seq_no']} (v{e['version']})")
        else:
            cluster.say(f"  e.g. {e['node']} held doc {e['doc']} v{e['held_version']} and "
                        f"discarded v{e['version']}")

    fields = ("_version", "_seq_no", "_source") if cluster.profile >= 6 else (
        "_version", "_source")
    writes_per_doc = WRITERS * WRITES // len(DOCS)  # each writer cycles through the docs
    for doc in DOCS:
        copies = await cluster.copies(INDEX, doc)
        primary = cluster.primary_of(INDEX, doc)
        want = tuple(copies[primary].get(f) for f in fields)
        same = all(tuple(c.get(f) for f in fields) == want for c in copies.values())
        cluster.expect(same and want[0] == writes_per_doc,
                       f"doc {doc}: {len(copies)} copies at v{want[0]} {want[-1]}"
                       + ("" if same else f", but they differ: {copies}"))
