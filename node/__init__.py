"""One cluster member.

- engine.py, versioning.py: the pure shard engine (a copy's documents, versions, sequence
  numbers, and the replica's discard rule for an older operation)
- search.py: pure query evaluation and `_source` filtering
- profiles.py: every difference between Elasticsearch generations 5..9, by name
- errors.py, rest.py: Elasticsearch-shaped errors and the REST plumbing
- api/: the REST API's handlers, one module per area
- node.py: the node's write, read and recovery paths; member.py: the node inside a cluster
- server.py: its aiohttp shell
"""
