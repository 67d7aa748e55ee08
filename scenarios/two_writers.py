"""Two clients write the same document at once on three nodes: in every order the network can
deliver, all three copies end the same, because replicas keep the newer operation.

A story made for `occsim explore two_writers`: alice writes through n1, which holds the primary,
and bob through n2, which forwards his write to it; the primary gives them versions 1 and 2 and
sends each to both replicas, n2 and n3. The messages may arrive in any order. Elasticsearch's
replica compares (the version in 5.x, the seq_no from 6.0) and ignores an operation older than
what it holds, so every order converges on the primary's last write. With `--replica-rule apply-all` a replica
that receives version 2 before version 1 ends at version 1: the copies diverge.
"""

import asyncio

from occsim.cluster.scenario import Setup

INDEX = "pages"
SETUP = Setup(
    lesson=(
        "In every order the network can deliver two writes, the copies converge, because a "
        "replica ignores an operation older than what it holds; without that rule some diverge."),
    nodes=3, profiles=(5, 6, 7, 8, 9), indices=(INDEX,), shards=1, replicas=2)


async def run(cluster):
    typed = cluster.doc_type
    alice = cluster.client("alice", node="n1")
    bob = cluster.client("bob", node="n2")
    cluster.say("alice and bob write document 1 at the same time")
    await asyncio.gather(alice.index(INDEX, "1", {"by": "alice"}, doc_type=typed),
                         bob.index(INDEX, "1", {"by": "bob"}, doc_type=typed))
    await cluster.quiesce()
    copies = await cluster.copies(INDEX, "1", doc_type=typed)
    seen = {(c["_version"], c["_source"]["by"]) for c in copies.values()}
    cluster.expect(len(seen) == 1, f"every copy holds the same write: {sorted(seen)}")
