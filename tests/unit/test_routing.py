"""Routing as Elasticsearch does it (reference §5.6): murmur3 over UTF-16LE, and the shard
formula of each generation."""

from __future__ import annotations

import pytest

from occsim.node.node import murmur3, shard_for
from occsim.node.profiles import profile


def test_seed_documents_land_on_the_shards_they_show():
    assert shard_for("8", 5, profile(5).routing_num_shards(5)) == 1  # seed 000
    assert shard_for("1", 5, profile(5).routing_num_shards(5)) == 3  # seed 004


@pytest.mark.parametrize("shards,routing_shards", [(1, 1024), (3, 768), (5, 640), (8, 1024)])
def test_7x_indices_route_over_a_power_of_two_multiple(shards, routing_shards):
    assert profile(7).routing_num_shards(shards) == routing_shards
    assert profile(5).routing_num_shards(shards) == shards


def test_7x_formula_differs_from_the_modulo_of_older_indices():
    ids = [str(i) for i in range(200)]
    old = [shard_for(i, 5, 5) for i in ids]
    new = [shard_for(i, 5, 640) for i in ids]
    assert new == [(murmur3(i) % 640) // 128 for i in ids]
    assert old == [murmur3(i) % 5 for i in ids]
    assert old != new


def test_murmur3_hashes_utf16_code_units():
    assert murmur3("8") == 735335986
    assert murmur3("中文") != murmur3("中文".encode().decode("latin-1"))
