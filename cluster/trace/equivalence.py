"""Trace equivalence: whether two simulated runs of one story did the same thing, so that a change
made for speed can be shown to change nothing else (`python -m occsim.cluster.trace.equivalence`).

Two traces are equivalent when every node saw the same events in the same order with the same
fields, ignoring the ordering counters and clocks (`t`, `lc`, `seq`, `order`) and renaming message
ids in order of first appearance; that covers the client answers (`response` events) and the final
copies (the last write each node applied per document), which are also compared on their own so a
difference is named by what it means. `dump` writes, for every scenario x profile x seed, the trace
and the verdict into a folder; `diff` compares two such folders.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

IGNORED = frozenset({"t", "lc", "seq", "order"})
MESSAGE_IDS = ("msg", "reply_to")
WRITES = ("primary_write", "apply")


def normalized(events: list[dict]) -> dict[str, list[dict]]:
    """Each node's events in order, without counters and clocks, message ids renamed."""
    names: dict[object, str] = {}
    per_node: dict[str, list[dict]] = {}
    for event in events:
        kept = {k: v for k, v in event.items() if k not in IGNORED}
        for key in MESSAGE_IDS:
            if kept.get(key) is not None:
                kept[key] = names.setdefault(kept[key], f"m{len(names)}")
        per_node.setdefault(str(event.get("node")), []).append(kept)
    return per_node


def answers(events: list[dict]) -> list[dict]:
    """The client answers, in trace order, without clocks."""
    return [{k: v for k, v in e.items() if k not in IGNORED}
            for e in events if e.get("kind") == "response"]


def final_copies(events: list[dict]) -> dict[str, dict]:
    """Per node and document, the last write it applied (as primary or replica)."""
    last: dict[str, dict] = {}
    for e in events:
        if e.get("kind") in WRITES:
            key = f"{e.get('node')}/{e.get('index')}/{e.get('shard')}/{e.get('doc')}"
            last[key] = {k: e.get(k) for k in ("op", "version", "seq_no", "term", "digest")}
    return last


def differences(a: list[dict], b: list[dict]) -> list[str]:
    """Why two traces are not equivalent; empty when they are."""
    found = []
    if answers(a) != answers(b):
        found.append("client answers differ")
    if final_copies(a) != final_copies(b):
        found.append("final copies differ")
    na, nb = normalized(a), normalized(b)
    for node in sorted(set(na) | set(nb)):
        ea, eb = na.get(node, []), nb.get(node, [])
        for i, (x, y) in enumerate(zip(ea, eb)):
            if x != y:
                found.append(f"{node}: event {i} differs:\n  {json.dumps(x, sort_keys=True)}\n"
                             f"  {json.dumps(y, sort_keys=True)}")
                break
        else:
            if len(ea) != len(eb):
                found.append(f"{node}: {len(ea)} events against {len(eb)}")
    return found


def dump(folder: Path, seeds: range, names: list[str] | None = None) -> int:
    """Run every scenario x profile x seed in the simulation; write each trace and a verdicts
    file into `folder`. Returns the number of runs."""
    from occsim.cluster.stories import sweep
    from occsim.cluster.stories.runner import all_scenarios, load

    folder.mkdir(parents=True, exist_ok=True)
    verdicts = {}
    paths = [p for p in all_scenarios() if not names or p.stem in names]
    for path in paths:
        name = path.stem
        for profile in load(path).SETUP.profiles:
            for seed in seeds:
                outcome = sweep.simulate(name, seed, profile)
                run = f"{name}-p{profile}-s{seed}"
                verdicts[run] = outcome.failure if not outcome.passed else "PASS"
                with open(folder / f"{run}.jsonl", "w") as out:
                    out.writelines(json.dumps(e, sort_keys=True) + "\n" for e in outcome.trace)
    (folder / "verdicts.json").write_text(json.dumps(verdicts, indent=1, sort_keys=True))
    return len(verdicts)


def read(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def diff(before: Path, after: Path) -> list[str]:
    """Every run of `before` compared with the same run in `after`."""
    va = json.loads((before / "verdicts.json").read_text())
    vb = json.loads((after / "verdicts.json").read_text())
    found = [f"{run}: missing after" for run in sorted(set(va) - set(vb))]
    for run in sorted(set(va) & set(vb)):
        if va[run] != vb[run]:
            found.append(f"{run}: verdict {va[run]!r} became {vb[run]!r}")
        found += [f"{run}: {d}" for d in differences(read(before / f"{run}.jsonl"),
                                                     read(after / f"{run}.jsonl"))]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m occsim.cluster.trace.equivalence", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="simulate every scenario x profile x seed into FOLDER")
    d.add_argument("folder", type=Path)
    d.add_argument("--seeds", default="1..5")
    d.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
    c = sub.add_parser("diff", help="compare two dumps, or two trace files")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "dump":
        from occsim.cluster.stories.sweep import parse_seeds

        try:
            seeds = parse_seeds(args.seeds)
        except ValueError as exc:
            print(f"traceeq: {exc}", file=sys.stderr)
            return 2
        print(f"{dump(args.folder, seeds, args.scenario)} runs written to {args.folder}")
        return 0
    try:
        if args.before.is_dir():
            found, what = diff(args.before, args.after), "runs"
        else:
            found, what = differences(read(args.before), read(args.after)), "traces"
    except (OSError, ValueError) as exc:
        print(f"traceeq: cannot read: {exc}", file=sys.stderr)
        return 2
    for line in found:
        print(line)
    print(f"{what} equivalent" if not found else f"{len(found)} difference(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
