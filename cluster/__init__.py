"""A cluster of nodes, run for real or simulated, and everything a class does with its trace.

- master.py: the elected master's decisions (pure)
- scenario.py: the scenario API, the only module a scenario imports
- runtime/: the manager, its launcher of real processes, node processes, clients
- sim/: the deterministic simulation (virtual-time loop, in-process launcher, schedules)
- trace/: the trace's events and file format, and the checker of its invariants
- view/: the Lamport diagram, the live view, replay and the pace of a run
- stories/: running scenarios (runner, sweep, explore, twin, console, play, lesson)
- tools/: the `occsim` command and `occsim bench`
- plugin/: the pytest plugin and the clusters it hands to other programs' tests
"""
