"""Four sync workers copy a database's changes into Elasticsearch in a shuffled order; external
versions make the index end equal to the database, plain PUTs do not.

The source of truth is a database in which every row carries its own version number, raised at
each change. Sync workers read the change log and copy each change into an index. They run in
parallel, so changes arrive in any order: row 3's version 2 may reach Elasticsearch after its
version 4. With `version_type=external` the row's version travels along, and Elasticsearch
keeps a write only if its version is strictly higher than the one it holds: a late, older
change gets a 409 and is simply dropped, so the order does not matter.

Then the same changes are replayed, in the same shuffled order but one write at a time so the
outcome is certain, as plain PUTs into a second index: the last write wins, and a row whose old
change arrived last ends up wrong.
"""

import asyncio
import random

from occsim.cluster.scenario import Setup

# both indices are declared up front (profile defaults) so the parallel first writes do not
# race to auto-create them
SETUP = Setup(
    lesson=(
        "When several workers copy changes in any order, the version the source assigned "
        "(version_type=external) lets Elasticsearch keep the newest change and refuse older "
        "ones; plain PUTs let the last to arrive win, whatever its age."),
    nodes=3, profiles=(5, 6, 7, 8, 9), seed=3,
              indices={"people": {}, "people_plain": {}})

# the database: each row's history, oldest first; version n is history[n - 1]
HISTORY = {
    "1": ["Ada", "Ada King", "Ada Lovelace"],
    "2": ["Alan", "Alan Turing"],
    "3": ["Grace", "Grace M.", "Grace Murray", "Grace Hopper"],
    "4": ["Edsger Dijkstra"],
}
DATABASE = {row: (len(names), names[-1]) for row, names in HISTORY.items()}
WORKERS = 4


def last_writer_wins(order):
    """What an index holds after plain PUTs in this order: the last write of each row."""
    return {row: (version, name) for row, version, name in order}


async def run(cluster):
    typed = cluster.doc_type
    changes = [(row, v, name) for row, names in HISTORY.items()
               for v, name in enumerate(names, 1)]
    rng = random.Random(cluster.seed)
    rng.shuffle(changes)
    while last_writer_wins(changes) == DATABASE:  # make sure an old change arrives last
        rng.shuffle(changes)
    cluster.say("arrival order: " + ", ".join(f"row {r} v{v}" for r, v, _ in changes))

    workers = [cluster.client(f"sync{w + 1}", node=cluster.nodes[w % len(cluster.nodes)],
                              quiet=True) for w in range(WORKERS)]
    shares = [changes[w::WORKERS] for w in range(WORKERS)]

    cluster.say(f"part 1: {WORKERS} workers copy the changes in parallel, with external versions")
    accepted, refused = [], []

    async def sync(worker, share):
        for row, version, name in share:
            reply = await worker.index("people", row, {"name": name}, doc_type=typed,
                                       version=version, version_type="external")
            (refused if reply.status == 409 else accepted).append((worker.name, reply))

    await asyncio.gather(*(sync(w, s) for w, s in zip(workers, shares)))
    cluster.expect(all(reply.ok for _, reply in accepted), f"{len(accepted)} changes copied")
    cluster.say(f"{len(refused)} changes arrived after a newer one and were refused with 409:")
    for name, reply in refused:
        cluster.say(f"  {name}: {reply.reason}")

    cluster.say("part 2: the same order again, as plain PUTs without versions")
    for k, (row, version, name) in enumerate(changes):
        await workers[k % WORKERS].index("people_plain", row, {"name": name}, doc_type=typed)

    reader = cluster.client("auditor", quiet=True)
    versioned, plain = {}, {}
    for row in HISTORY:
        got = await reader.get("people", row, doc_type=typed)
        versioned[row] = (got["_version"], got["_source"]["name"])
        got = await reader.get("people_plain", row, doc_type=typed)
        plain[row] = got["_source"]["name"]

    cluster.say(f"{'row':<4}{'database':<20}{'external versions':<22}{'plain PUTs':<18}")
    for row, (version, name) in DATABASE.items():
        v_ver, v_name = versioned[row]
        mark = "" if plain[row] == name else "   <- an old change arrived last"
        cluster.say(f"{row:<4}{f'v{version} {name}':<20}{f'v{v_ver} {v_name}':<22}"
                    f"{plain[row]:<18}{mark}")
    cluster.expect_equal(versioned, DATABASE, "the index with external versions")
    wrong = sorted(row for row, (_, name) in DATABASE.items() if plain[row] != name)
    cluster.expect(wrong, f"without versions, rows {wrong} hold an older change")
