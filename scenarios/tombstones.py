"""A delete leaves a tombstone that refuses older external versions for `index.gc_deletes`
(60s); once it is collected, a late old update brings the deleted document back.

An external system indexes a product at version 5 and deletes it at version 10. An update at
version 7 lost the race and reaches Elasticsearch after the delete. The document is gone, yet
its version is not: the delete left a tombstone that remembers version 10, and the late write is
refused with 409 because 10 is higher than 7 (a GET still answers 404: the tombstone is not a
document).

The tombstone only lives for `index.gc_deletes`. Move the clock 61 seconds on and the same late
write is accepted: with no tombstone, Elasticsearch has no version to compare with, so the
deleted product reappears at version 7. That is the window's limit: external versions protect a
delete against older writes only if they arrive within gc_deletes; a sync that can lag longer
must keep deletes elsewhere (a "deleted" flag with a version, say) or set a longer gc_deletes.
"""

from occsim.cluster.scenario import Setup

SETUP = Setup(
    lesson=(
        "A delete's tombstone refuses older external versions only for index.gc_deletes; once "
        "it expires, a late old write brings the deleted document back."),
    nodes=2, profiles=(5, 6, 7, 8, 9), shards=1, replicas=1,
    indices={"products": {"settings": {"gc_deletes": "60s"}}})

INDEX = "products"


async def run(cluster):
    typed = cluster.doc_type
    prefix = f"[{typed}][1]" if cluster.profile <= 6 else "[1]"
    sync = cluster.client("sync")
    late = cluster.client("late_sync", node=cluster.nodes[-1])
    external = {"version_type": "external", "doc_type": typed}

    cluster.say("the external system creates the product at version 5, then deletes it at 10")
    created = await sync.index(INDEX, "1", {"name": "lamp", "price": 30}, version=5, **external)
    cluster.expect_equal((created.status, created["_version"]), (201, 5), "the product")
    deleted = await sync.delete(INDEX, "1", version=10, **external)
    cluster.expect_equal((deleted.status, deleted["result"], deleted["_version"]),
                         (200, "deleted", 10), "the delete")
    gone = await sync.get(INDEX, "1", doc_type=typed)
    cluster.expect_equal(gone.status, 404, "a GET after the delete")

    cluster.say("an update at version 7 arrives late, inside gc_deletes: the tombstone holds 10")
    stale = {"name": "lamp", "price": 25}
    refused = await late.index(INDEX, "1", stale, version=7, **external)
    cluster.expect_equal(refused.status, 409, "the late update")
    cluster.expect_equal(refused.reason, f"{prefix}: version conflict, current version [10] is "
                         "higher or equal to the one provided [7]", "its reason")

    cluster.say("61 seconds later the tombstone has been collected")
    await cluster.advance_clock(61)
    accepted = await late.index(INDEX, "1", stale, version=7, **external)
    cluster.expect_equal((accepted.status, accepted["result"], accepted["_version"]),
                         (201, "created", 7), "the same late update now")
    await cluster.quiesce()
    for node, copy in (await cluster.copies(INDEX, "1")).items():
        cluster.expect_equal((copy.status, copy.get("_version"), copy.get("_source")),
                             (200, 7, stale), f"the deleted product is back on {node}")
