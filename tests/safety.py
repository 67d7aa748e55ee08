"""A safety test of our own, independent of the checker: clients record every answer, a
nemesis breaks the cluster in sequence, and at the end every copy is read and compared with
what was acknowledged.

Workload: insert clients create one new document per request (`op_type=create`), counter
clients increment a shared counter with a conditional write (`if_seq_no`/`if_primary_term`
from 6.x, `version` in 5.x) after reading it. Requests go to every node in turn.

Nemesis (seeded): one fault at a time, each repaired before the next and followed by a wait
(a replication timeout, for the copies the fault still fails) and then for every copy to be
started and in sync again: one-way and two-way partitions, pause/resume, SIGKILL of
the primary or of a replica (then restart), SIGTERM of a node (then restart), and a one-way
partition from the primary to one replica followed by the primary's SIGKILL (issue 14's first
failover). A killed node comes back empty (its disk is gone), so a fault may never take the
last in-sync copy of a shard: that loses acknowledged writes in Elasticsearch too.

The verdict (`Tally`): operations sent, acknowledged, lost (acknowledged, missing from an
active copy at the end: must be 0), divergent (documents whose active copies differ: must be
0), applied-but-refused (answered with an error or no answer, yet applied: allowed, a client
must read before it counts such a write as lost), and for the counters, increments
acknowledged and the final values.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from occsim.transport.network import LinkConfig

INDEX = "safety"
LINK = LinkConfig(delay_min_ms=1, delay_max_ms=30)  # the delay: 1..30 ms
FAULTS = ("one_way", "two_way", "pause", "kill_primary", "kill_replica", "stop",
          "cut_then_kill")


@dataclass
class Tally:
    operations: int = 0
    acknowledged: int = 0
    lost: list = field(default_factory=list)
    divergent: list = field(default_factory=list)
    applied_but_refused: int = 0
    increments_acked: int = 0
    counter_total: int = 0
    faults: list = field(default_factory=list)

    def line(self) -> str:
        return (f"operations {self.operations}, acknowledged {self.acknowledged}, "
                f"lost {len(self.lost)}, divergent {len(self.divergent)}, "
                f"applied-but-refused {self.applied_but_refused}; increments acknowledged "
                f"{self.increments_acked}, counters {self.counter_total}; "
                f"faults {' '.join(self.faults)}")


def _green(state: dict) -> bool:
    names = state["nodes"]
    for meta in state["indices"].values():
        for r in meta["routing"]:
            if r["primary"] is None or None in r["replicas"] or r["initializing"]:
                return False
            if r["primary"] not in names or any(n not in names for n in r["replicas"]):
                return False
    return True


async def run(manager, cluster, *, seed: int, profile: int, steps: int = 6,
              inserters: int = 4, counters: int = 2, fault_s: tuple = (0.3, 1.2)) -> Tally:
    rng = random.Random(seed)
    settle = manager.config.replication_timeout + 0.5
    tally = Tally()
    nodes = list(cluster.nodes)
    await manager.create_index(INDEX, {"settings": {"number_of_shards": 2,
                                                    "number_of_replicas": len(nodes) - 1}})
    doc_type = "doc" if profile == 5 else "_doc"
    done = asyncio.Event()
    inserted: dict[str, bool] = {}  # doc -> acknowledged?
    tried: set[str] = set()

    async def inserter(k: int) -> None:
        client = cluster.client(f"insert{k}", quiet=True)
        i = 0
        while not done.is_set():
            doc = f"i{k}-{i}"
            i += 1
            tried.add(doc)
            tally.operations += 1
            try:
                reply = await client.on(nodes[i % len(nodes)]).create(
                    INDEX, doc, {"k": k, "i": i}, doc_type=doc_type, timeout="2s")
            except ConnectionError:
                await asyncio.sleep(0.05)
                continue
            if reply.ok:
                inserted[doc] = True
                tally.acknowledged += 1
            else:  # back off, as a client does (and so that virtual time moves on)
                await asyncio.sleep(0.02)

    async def counter(k: int) -> None:
        client = cluster.client(f"count{k}", quiet=True)
        doc, i = f"counter{k}", 0
        while not done.is_set():
            i += 1
            node = nodes[i % len(nodes)]
            try:
                got = await client.on(node).get(INDEX, doc, doc_type=doc_type)
                if got.status == 404:
                    value, cond = 0, {"op_type": "create"}
                elif got.ok:
                    value = got["_source"]["n"]
                    cond = ({"version": got["_version"]} if profile == 5 else
                            {"if_seq_no": got["_seq_no"], "if_primary_term": got["_primary_term"]})
                else:
                    await asyncio.sleep(0.05)
                    continue
                tally.operations += 1
                reply = await client.on(node).index(INDEX, doc, {"n": value + 1},
                                                    doc_type=doc_type, timeout="2s", **cond)
            except ConnectionError:
                await asyncio.sleep(0.05)
                continue
            if reply.ok:
                tally.acknowledged += 1
                tally.increments_acked += 1
            else:
                await asyncio.sleep(0.02)

    async def nemesis() -> None:
        for _ in range(steps):
            fault = rng.choice(FAULTS)
            state = manager.master.state
            routing = state["indices"][INDEX]["routing"][rng.randrange(2)]
            primary = routing["primary"]
            replica = rng.choice([r for r in routing["replicas"] if r])
            victim = {"kill_primary": primary, "kill_replica": replica,
                      "cut_then_kill": primary}.get(fault, rng.choice(nodes))
            hold = rng.uniform(*fault_s)
            tally.faults.append(f"{fault}:{victim}")
            if fault == "one_way":
                other = rng.choice([n for n in nodes if n != victim])
                await cluster.partition([victim], [other], one_way=True)
                await asyncio.sleep(hold)
                await cluster.heal()
            elif fault == "two_way":
                await cluster.partition([victim])
                await asyncio.sleep(hold)
                await cluster.heal()
            elif fault == "cut_then_kill":  # the primary loses one replica, then dies
                await cluster.partition([primary], [replica], one_way=True)
                await asyncio.sleep(hold / 3)
                await cluster.kill(primary)
                await asyncio.sleep(hold)
                await cluster.heal()
                await cluster.restart(primary)
            elif fault == "pause":
                await cluster.pause(victim)
                await asyncio.sleep(hold)
                await cluster.resume(victim)
            else:
                await (cluster.stop(victim) if fault == "stop" else cluster.kill(victim))
                await asyncio.sleep(hold)
                await cluster.restart(victim)
            # what the fault set going may still fail a copy (a replication that times out
            # after the heal): let it, then wait for every copy to be back in sync
            await asyncio.sleep(settle)
            await cluster.wait_for(_green, "every copy started again", timeout=120.0)
            await asyncio.sleep(rng.uniform(0.1, 0.5))
        done.set()

    workers = [*(inserter(k) for k in range(inserters)), *(counter(k) for k in range(counters))]
    await asyncio.gather(nemesis(), *workers)
    await cluster.wait_for(_green, "every copy started", timeout=120.0)
    await cluster.quiesce()

    present: set[str] = set()  # on some active copy
    on_every_copy: set[str] = set()  # on every active copy of its shard
    for shard_docs in (await _every_copy(manager)).values():
        everyone = set().union(*(set(docs) for docs in shard_docs.values()))
        present |= everyone
        on_every_copy |= set.intersection(*(set(docs) for docs in shard_docs.values()))
        for doc in sorted(everyone):
            held = {node: docs.get(doc) for node, docs in shard_docs.items()}
            if len({repr(h) for h in held.values()}) > 1:
                tally.divergent.append((doc, held))
    for doc in inserted:
        if doc not in on_every_copy:
            tally.lost.append(doc)
    tally.applied_but_refused += sum(1 for doc in tried - set(inserted) if doc in present)
    for k in range(counters):
        final = await cluster.client("judge", quiet=True).get(INDEX, f"counter{k}",
                                                              doc_type=doc_type)
        if final.ok:
            tally.counter_total += final["_source"]["n"]
    if tally.counter_total < tally.increments_acked:
        tally.lost.append(f"{tally.increments_acked - tally.counter_total} increments")
    tally.applied_but_refused += max(0, tally.counter_total - tally.increments_acked)
    return tally


async def _every_copy(manager) -> dict[int, dict[str, dict]]:
    """{shard: {node: {doc: fields}}} of every active copy, asked of each node directly."""
    shards: dict[int, dict] = {}
    routing = manager.master.state["indices"][INDEX]["routing"]
    for node in manager.members():
        reply = await manager.ask(node, "snapshot", {})
        for copy in reply["copies"]:
            if copy["index"] != INDEX or node in routing[copy["shard"]]["initializing"]:
                continue
            shards.setdefault(copy["shard"], {})[node] = {
                d["id"]: {k: d[k] for k in ("version", "seq_no", "term", "digest")}
                for d in copy["docs"] if not d["deleted"]}
    return shards
