"""The ten-line example of the README's "Testing your own code", as it is printed there."""

import pytest
from elasticsearch import ConflictError, Elasticsearch

from occsim.cluster.plugin import factories

occsim_three = factories.occsim_proc(nodes=3, delay="1..20ms")
three = factories.occsim("occsim_three")


def test_a_retry_of_an_older_row_after_a_failover_is_refused(three):
    es = Elasticsearch(three.urls, max_retries=10, retry_on_status=(503,))
    es.index(index="products", id="1", document={"price": 25}, version=2, version_type="external")
    old_primary = three.primary_of("products", "1")
    three.kill(old_primary)
    three.wait_promoted("products", "1", old_primary)
    with pytest.raises(ConflictError):  # a late retry of the older row loses
        es.index(index="products", id="1", document={"price": 20}, version=1,
                 version_type="external")
    three.check()  # nothing acknowledged was lost, every copy ends the same
