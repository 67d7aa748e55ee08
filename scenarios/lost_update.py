"""Two clients add 1 to a counter with GET then PUT: without a condition half the updates are
lost; with optimistic concurrency control the loser gets a 409, re-reads and retries.

A read-modify-write takes two requests: read the document, compute the new value, write it
back. Between the two, the other client may have written. In part 1 both clients read the same
count in every round before either writes, so both write count + 1 and one increment silently
overwrites the other: after N rounds of two increments the counter holds N, not 2N.

In part 2 each write carries the condition "only if the document is still what I read":
`version=<_version read>` in Elasticsearch 5, `if_seq_no`/`if_primary_term` from 6 (from 7
internal versions can no longer guard a write). The second write of each round no longer
matches, gets a 409 and changes nothing; its client reads again and retries, so no increment
is lost and the counter ends at exactly 2N.
"""

import asyncio

from occsim.cluster.scenario import Setup

SETUP = Setup(
    lesson=(
        "A read-modify-write without a condition silently loses concurrent updates; with "
        "optimistic concurrency control the losing write gets a 409, its client re-reads and "
        "retries, and no update is lost."),
    nodes=3, profiles=(5, 6, 7, 8, 9))

INDEX = "counters"
ROUNDS = 5


async def run(cluster):
    typed = cluster.doc_type
    alice = cluster.client("alice", node="n2", quiet=True)
    bob = cluster.client("bob", node="n3", quiet=True)
    both_read = asyncio.Barrier(2)   # neither writes before both have read
    round_done = asyncio.Barrier(2)  # a round ends when both increments are in
    acked, conflicts = [], []

    async def plain(client):
        for _ in range(ROUNDS):
            seen = await client.get(INDEX, "plain", doc_type=typed)
            await both_read.wait()
            count = seen["_source"]["count"] + 1
            saved = await client.index(INDEX, "plain", {"count": count}, doc_type=typed)
            acked.append(saved.ok)
            await round_done.wait()

    async def guarded(client):
        for n in range(ROUNDS):
            seen = await client.get(INDEX, "guarded", doc_type=typed)
            await both_read.wait()
            while True:
                count = seen["_source"]["count"] + 1
                saved = await client.index(INDEX, "guarded", {"count": count}, doc_type=typed,
                                           **cluster.guard(seen))
                if saved.ok:
                    break
                conflicts.append((n + 1, client.name, saved))
                seen = await client.get(INDEX, "guarded", doc_type=typed)
            await round_done.wait()

    creator = cluster.client("setup")
    for doc in ("plain", "guarded"):
        await creator.index(INDEX, doc, {"count": 0}, doc_type=typed)

    cluster.say(f"part 1: alice and bob each add 1, {ROUNDS} times, with a plain GET then PUT")
    await asyncio.gather(plain(alice), plain(bob))
    final = await creator.get(INDEX, "plain", doc_type=typed)
    count = final["_source"]["count"]
    cluster.say(f"{sum(acked)} increments were acknowledged; the counter says {count}")
    cluster.expect(count < 2 * ROUNDS, f"without a condition: {sum(acked)} increments "
                   f"acknowledged, the counter holds {count} at v{final['_version']}: "
                   f"{2 * ROUNDS - count} increments lost")

    cluster.say(f"part 2: the same, each PUT guarded by {', '.join(cluster.guard(final))}")
    await asyncio.gather(guarded(alice), guarded(bob))
    for n, name, reply in conflicts:
        cluster.say(f"  round {n}: {name} got {reply.status} {reply.reason}; re-read, retried")
    final = await creator.get(INDEX, "guarded", doc_type=typed)
    cluster.expect_equal([reply.status for *_, reply in conflicts], [409] * ROUNDS,
                         "refused writes (one per round), each re-read and retried")
    cluster.expect_equal(final["_source"]["count"], 2 * ROUNDS,
                         f"with OCC, the counter at v{final['_version']}")
    cluster.say("both documents end at the same version: the versions count the writes, "
                "the values show which increments survived")
