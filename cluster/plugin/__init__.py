"""The pytest plugin occsim installs.

- pytest_plugin.py: the fixtures and what a failing test reports
- factories.py: fixture factories (`occsim_proc`, `occsim`, `occsim_nooproc`)
- background.py: a real cluster on its own thread, for blocking test code
"""
