"""Commands.

- cli.py: the `occsim` command, one thin subcommand per thing a user does
- bench.py: `occsim bench`
- load.py: the bench's load generator, one light keep-alive HTTP connection per client
"""
