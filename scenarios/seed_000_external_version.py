"""Seed document 000: two clients sync version 2 from their own databases; external versions let
Elasticsearch refuse the second one.

The source of truth is another database, which numbers its own versions. Each client copies a
row into Elasticsearch with `version_type=external`: a write is accepted only if its version is
strictly higher than the one Elasticsearch holds. Both clients read version 1, both bring
version 2 from their database; the first wins, the second gets a 409 and retries with 3.
(One node, as in the seed document: the replica is unassigned, so `_shards` reads 2/1/0.)
"""

from occsim.cluster.scenario import Setup

SETUP = Setup(
    lesson=(
        "With version_type=external the client brings the version: a write whose version is "
        "not higher than the stored one gets a 409, so the second client cannot overwrite the "
        "first with the same version."),
    nodes=1, profiles=(5, 6, 7, 8, 9))

INDEX = "test_index"


async def run(cluster):
    typed = "test_type" if cluster.profile <= 6 else "_doc"
    client1 = cluster.client("client1")
    client2 = cluster.client("client2")

    cluster.say("build a document")
    created = await client1.index(INDEX, "8", {"test_field": "test"}, doc_type=typed)
    cluster.expect_equal(created.status, 201, "the document is created")

    cluster.say("both clients read it: version 1")
    for client in (client1, client2):
        seen = await client.get(INDEX, "8", doc_type=typed)
        cluster.expect_equal(seen["_version"], 1, f"{client.name} reads version")

    cluster.say("client1 brings version 2 from its database first")
    first = await client1.index(INDEX, "8", {"test_field": "test client 1"}, doc_type=typed,
                                version=2, version_type="external")
    cluster.expect_equal((first.status, first["_version"]), (200, 2), "client1's write")

    cluster.say("client2 also brings version 2: Elasticsearch already holds 2")
    second = await client2.index(INDEX, "8", {"test_field": "test client 2"}, doc_type=typed,
                                 version=2, version_type="external")
    prefix = f"[{typed}][8]" if cluster.profile <= 6 else "[8]"
    cluster.expect_equal(second.status, 409, "client2 is refused")
    cluster.expect_equal(
        second.reason,
        f"{prefix}: version conflict, current version [2] is higher or equal to the one "
        "provided [2]", "the conflict's reason")

    cluster.say("client2 reads the newest version and retries above it")
    latest = await client2.get(INDEX, "8", doc_type=typed)
    cluster.expect_equal(latest["_source"], {"test_field": "test client 1"}, "what client2 sees")
    retry = await client2.index(INDEX, "8", {"test_field": "test client 2"}, doc_type=typed,
                                version=3, version_type="external")
    cluster.expect_equal((retry.status, retry["_version"]), (200, 3), "the retry")
