"""Two clients add 1 to a counter with GET then PUT, once without a condition and once with
`if_seq_no`: explore every order to see the increment lost by the one, and never by the other.

A story made for `occsim explore counter_race` (the read-modify-write of `lost_update`, one
round, on two nodes). Alice talks to n1, which holds the primary; bob to n2, the replica. Each
reads the counter and writes it back plus one. Without a condition both write 1 and one
increment is lost, whatever the order. With the condition, "only if the document is still what
I read" (`version` in 5.x and 6.x, `if_seq_no`/`if_primary_term` from 7.0), the second write
gets a 409; its client reads again, from the primary's node, and retries. The count at the end
does not depend on the order: it is always 2. With `--replica-rule apply-all` the replica keeps
whichever write reached it last, and some orders leave it behind the primary.
"""

import asyncio

from occsim.cluster.scenario import Setup

INDEX = "counters"
SETUP = Setup(
    lesson=(
        "Without a condition a read-modify-write loses an increment in every order; with "
        "if_seq_no (or version) the loser gets a 409, reads again, and the count is always 2."),
    nodes=2, profiles=(5, 6, 7, 8, 9), indices=(INDEX,), shards=1, replicas=1)
ATTEMPTS = 3


def guard(cluster, seen):
    if cluster.profile <= 6:
        return {"version": seen["_version"]}
    return {"if_seq_no": seen["_seq_no"], "if_primary_term": seen["_primary_term"]}


async def run(cluster):
    typed = cluster.doc_type
    alice = cluster.client("alice", node="n1", quiet=True)
    bob = cluster.client("bob", node="n2", quiet=True)
    await alice.index(INDEX, "plain", {"count": 0}, doc_type=typed)
    await alice.index(INDEX, "guarded", {"count": 0}, doc_type=typed)
    await cluster.quiesce()

    async def plain(client):
        seen = await client.get(INDEX, "plain", doc_type=typed)
        await client.index(INDEX, "plain", {"count": seen["_source"]["count"] + 1},
                           doc_type=typed)

    async def guarded(client):
        reader = client
        for _ in range(ATTEMPTS):
            seen = await reader.get(INDEX, "guarded", doc_type=typed)
            saved = await client.index(INDEX, "guarded", {"count": seen["_source"]["count"] + 1},
                                       doc_type=typed, **guard(cluster, seen))
            if saved.ok:
                return True
            reader = client.on("n1")  # read again where the conflict was decided
        return False

    cluster.say("without a condition: both read, both write")
    await asyncio.gather(plain(alice), plain(bob))
    cluster.say("with the condition: the second write is refused, re-read, retried")
    done = await asyncio.gather(guarded(alice), guarded(bob))
    await cluster.quiesce()
    plain_count = (await alice.get(INDEX, "plain", doc_type=typed))["_source"]["count"]
    count = (await alice.get(INDEX, "guarded", doc_type=typed))["_source"]["count"]
    cluster.say(f"without the condition the counter says {plain_count}; with it, {count}")
    cluster.expect(all(done), f"both guarded increments went in within {ATTEMPTS} attempts")
    cluster.expect_equal(count, 2, "with the condition, the counter")
