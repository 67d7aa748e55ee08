"""Drawing a trace.

- diagram.py: the Lamport diagram (text, SVG, HTML) and its explanations
- live.py: the live terminal view of a running scenario
- replay.py: a saved trace, whole, animated, or one step per key
- pace.py: `--step` and pausing a run in class
"""
