"""The Elasticsearch REST API of a node, per profile.

- routes.py: the route table and `dispatch`, the only importer of the handler modules
- common.py: what the handlers share (parameter rules, response fields, index names)
- document.py: the single-document calls; bulk.py: `_bulk` and `_mget`; update.py: `_update`
- indices.py: index create/delete/exists/get and aliases
- search.py: `_search`, `_count`, `_refresh`
- cat.py: `_cat/*`
"""
