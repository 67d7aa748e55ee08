"""The Elasticsearch REST API of a node, per profile.

- document.py: the route table, the dispatcher and the single-document calls
- bulk.py: `_bulk`; update.py: `_update`
- indices.py: index create/delete/exists and aliases
- search.py: `_search`, `_count`, `_refresh`
- cat.py: `_cat/*`
"""
