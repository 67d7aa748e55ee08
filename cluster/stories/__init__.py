"""Running stories.

- runner.py: find, load and run a scenario, check its trace, give the verdict
- sweep.py: many seeds, and the determinism check
- explore.py: every delivery order of a story; twin.py: two rule sets side by side
- console.py: Kibana console files, sent and checked
- session.py: a simulated story one choice at a time, for play.py and lesson.py
"""
