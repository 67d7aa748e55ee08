"""The record of a run.

- events.py: the event vocabulary, merge order, reading and writing trace files
- checker.py: the replication and OCC invariants a trace must keep
- equivalence.py: whether two runs did the same thing (a change shown to change nothing)
"""
