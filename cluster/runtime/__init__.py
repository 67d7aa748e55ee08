"""A cluster of real processes.

- manager.py: starts the nodes, plays the elected master, collects the trace
- launch.py: how the manager starts nodes as OS processes on loopback
- process.py: a node process (standalone, or a member started by the manager)
- client.py: a named actor's REST client
- remote.py: a cluster this program did not start, reached through its manager
"""
