"""The deterministic simulation: one process, virtual time.

- loop.py: the asyncio event loop whose clock jumps to the next timer
- launcher.py: every node, the manager and the clients in one process, on an in-memory wire
- schedule.py: every choice of a run as data, saved, edited and replayed
- run.py: `simulate(story)` for a deterministic test
"""
