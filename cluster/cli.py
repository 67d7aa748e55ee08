"""The `occsim` command: one subcommand per thing a user does, each a thin call into the
package that owns it."""

from __future__ import annotations

import argparse
import asyncio
import sys

from cluster.process import LOOPBACK, serve_standalone


def _cmd_node(args: argparse.Namespace) -> int:
    if args.host not in LOOPBACK:
        print(f"warning: binding to {args.host}: occsim is reachable from other machines",
              file=sys.stderr)
    print(f"occsim node {args.name} (Elasticsearch {args.es_compat}.x profile) on "
          f"http://{args.host}:{args.port}  (Ctrl-C stops it)", flush=True)
    try:
        asyncio.run(serve_standalone(host=args.host, port=args.port, major=args.es_compat,
                                     name=args.name))
    except KeyboardInterrupt:
        pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="occsim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    node = sub.add_parser("node", help="start one node in the foreground")
    node.add_argument("--port", type=int, default=9200)
    node.add_argument("--host", default="127.0.0.1")
    node.add_argument("--name", default="n1")
    node.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9], default=5)
    node.set_defaults(run=_cmd_node)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
