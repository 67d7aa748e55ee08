"""Commands.

- cli.py: the `occsim` command, one thin subcommand per thing a user does
- bench.py: `occsim bench`
"""
