"""The `occsim` command: one subcommand per thing a user does, each a thin call into the
package that owns it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import json
import os
import signal
import tempfile

from occsim.cluster.trace import events as trace
from occsim.cluster.config import ClusterConfig
from occsim.cluster.errors import ClusterError
from occsim.cluster.runtime.manager import Manager
from occsim.cluster.runtime.process import LOOPBACK, serve_standalone
from occsim.transport.network import DISTRIBUTIONS, LinkConfig

RUN_FILE = ".occsim-run.json"


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


def _link(args: argparse.Namespace) -> LinkConfig:
    return LinkConfig.of(args.delay, args.delay_dist, args.reorder, args.loss, args.duplicate)


def cluster_config(args: argparse.Namespace, **overrides: object) -> ClusterConfig:
    values = dict(nodes=args.nodes, port=args.port, host=args.host, seed=args.seed,
                  link=_link(args), es_compat=args.es_compat, trace=bool(args.trace))
    values.update(overrides)
    return ClusterConfig(**values)


def _ready_table(manager: Manager) -> str:
    rows = [f"{'node':<6}{'address':<22}{'pid':>8}"]
    for name, info in manager.master.state["nodes"].items():
        rows.append(f"{name:<6}{'http://' + info['ip'] + ':' + str(info['port']):<22}"
                    f"{info['pid']:>8}")
    return "\n".join(rows)


def write_run_file(path: str | os.PathLike, info: dict) -> None:
    """Write the run file whole and readable by its owner only (it holds the secret): a new
    file of mode 0600 beside it, then renamed over it, so neither an existing file's mode nor a
    symlink planted at `path` is ever followed or kept."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".occsim-run.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(info, out)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


STREAM_SECONDS = 0.25  # how often `occsim up --trace` appends new events to its file


async def _up(args: argparse.Namespace) -> int:
    try:
        config = cluster_config(args)
    except ValueError as exc:  # a delay without a unit, ...
        print(f"occsim up: {exc}", file=sys.stderr)
        return 2
    if config.host not in LOOPBACK:
        print(f"warning: binding to {config.host}: the cluster is reachable from other "
              "machines", file=sys.stderr)
    manager = Manager(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await manager.start()
    except ClusterError as exc:
        print(f"occsim up: {exc}", file=sys.stderr)
        return 1
    try:
        write_run_file(RUN_FILE, {"manager": manager.address, "secret": manager.secret,
                                  "pid": os.getpid()})
    except OSError as exc:
        print(f"occsim up: cannot write {RUN_FILE}: {exc}", file=sys.stderr)
        await manager.stop()
        return 1
    print(_ready_table(manager))
    print(f"ready in {manager.ready_s:.2f}s: Elasticsearch {config.es_compat}.x profile, "
          f"seed {config.seed}; Ctrl-C stops the cluster", flush=True)
    live = None
    if args.live:
        from occsim.cluster.view.live import LiveReport
        live = LiveReport(title=f"occsim up: {config.nodes} nodes, {config.es_compat}.x",
                          glyphs=args.glyphs)
        live.attach(manager)
    follow = asyncio.ensure_future(_stream(manager, args.trace)) if args.trace else None
    try:
        await stop.wait()
    finally:
        if follow is not None:
            follow.cancel()
        if live is not None:
            live.detach()
        events = await manager.stop()
        if live is not None:
            live.events(events)
        if os.path.exists(RUN_FILE):
            os.unlink(RUN_FILE)
        if args.trace:  # the final trace: merged in order, with every copy's final state
            trace.write(args.trace, events)
            print(f"trace: {len(events)} events written to {args.trace}")
    return 0


async def _stream(manager: Manager, path: str) -> None:
    """Append the cluster's events to the trace file as they happen (`occsim check` reads it
    while the cluster runs)."""
    out = trace.Appender(path)
    seen = 0
    try:
        while True:
            await asyncio.sleep(STREAM_SECONDS)
            try:
                await manager.collect()
            except Exception:  # a node going away mid-collection: next time
                continue
            events = manager.events
            out.append(sorted(events[seen:], key=trace.order_key))
            seen = len(events)
    finally:
        out.close()


def _add_cluster_options(p: argparse.ArgumentParser, nodes: int = 3) -> None:
    p.add_argument("--nodes", type=int, default=nodes)
    p.add_argument("--port", type=int, default=9200, help="first node's HTTP port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--delay", default="0", help="message delay, e.g. 10..120ms")
    p.add_argument("--delay-dist", choices=DISTRIBUTIONS, default="uniform")
    p.add_argument("--reorder", type=float, default=0.0, help="probability of extra hold-back")
    p.add_argument("--loss", type=float, default=0.0)
    p.add_argument("--duplicate", type=float, default=0.0)
    p.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9], default=5)
    p.add_argument("--trace", metavar="FILE",
                   help="write the trace as JSON lines (`up`: as it grows)")


def _scheduler_for(args: argparse.Namespace):
    """The scheduler `occsim run` uses, the seed and profile, from `--schedule` or the flags;
    ValueError (or ScheduleError) for flags that cannot go together."""
    from occsim.cluster.stories import runner
    from occsim.cluster.sim.schedule import Schedule, SeededScheduler

    if args.save_schedule and not args.sim:
        raise ValueError("--save-schedule writes a simulated run's schedule: add --sim")
    if args.schedule is None:
        return SeededScheduler(fifo=args.links == "fifo"), args.seed, args.es_compat
    if not args.sim:
        raise ValueError("--schedule replays a simulated run: add --sim")
    schedule = Schedule.load(args.schedule)
    if runner.find(schedule.scenario).resolve() != runner.find(args.scenario).resolve():
        raise ValueError(f"{args.schedule} is a schedule of [{schedule.scenario}], "
                         f"not of [{args.scenario}]")
    if args.seed is not None:
        raise ValueError("--schedule carries its own seed: leave out --seed")
    for flag, given, saved in (("--es-compat", args.es_compat, schedule.es_compat),
                               ("--replica-rule", args.replica_rule, schedule.replica_rule),
                               ("--links", args.links, schedule.links)):
        if given is not None and saved is not None and given != saved:
            raise ValueError(f"{args.schedule} ran with {flag} {saved}, not {given}")
    args.replica_rule, args.links = schedule.replica_rule, schedule.links
    if schedule.mode == "seeded":
        scheduler = SeededScheduler(schedule.choices)
    else:
        from occsim.cluster.stories.session import PlayScheduler  # it also replays what `occsim play` allows
        scheduler = PlayScheduler(schedule.choices, timers=schedule.timers)
    return scheduler, schedule.seed, schedule.es_compat or args.es_compat


def _cmd_run(args: argparse.Namespace) -> int:
    from occsim.cluster.view import pace, diagram as view
    from occsim.cluster.stories import runner
    from occsim.cluster.errors import ScheduleError
    from occsim.cluster.sim.schedule import Schedule

    try:
        scheduler, seed, es_compat = _scheduler_for(args)
        if args.twin:
            return _run_twin(args)
    except (ValueError, ScheduleError, runner.ScenarioError) as exc:
        print(f"occsim run: {exc}", file=sys.stderr)
        return 2
    replica_rule, links = args.replica_rule or "es", args.links or "any"
    live = not args.no_live and sys.stdout.isatty()
    if live:
        from occsim.cluster.view.live import LiveReport
        report: runner.Report = LiveReport(doc=args.doc, shard=args.shard, title=args.scenario,
                                           glyphs=args.glyphs)
    else:
        report = runner.Report()
    if args.step or live:
        report.pacer = pace.Pacer(step=args.step, announce=report.narrate, blocking=args.sim)
    story = runner.run_scenario(args.scenario, seed=seed, es_compat=es_compat, report=report,
                                sim=args.sim, replica_rule=replica_rule, links=links,
                                scheduler=scheduler if args.sim else None)
    try:
        with pace.keyboard() if report.pacer is not None else contextlib.nullcontext():
            if args.sim:
                from occsim.cluster.sim import loop as simloop
                outcome = simloop.run(story)
            else:
                outcome = asyncio.run(story)
    except (runner.ScenarioError, ScheduleError) as exc:
        print(f"occsim run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C, while the cluster was stopping
        report.close()
        print("occsim run: interrupted (Ctrl-C) while the cluster stopped; no verdict",
              file=sys.stderr)
        return 130
    if args.trace:
        trace.write(args.trace, outcome.trace)
    _save_views(args, outcome.trace, outcome.name)
    if not live:
        print(view.render_text(outcome.trace, width=args.width, doc=args.doc,
                               shard=args.shard, glyphs=args.glyphs))
    print(outcome.verdict)
    if args.save_schedule:
        if seed is None:
            seed = runner.load(runner.find(args.scenario)).SETUP.seed
        Schedule(outcome.name, scheduler.mode, seed, outcome.profile, replica_rule, links,
                 getattr(scheduler, "timers", False), scheduler.taken).save(args.save_schedule)
        print(f"schedule: {len(scheduler.taken)} choices written to {args.save_schedule}")
    if scheduler.mismatch:
        print(f"occsim run: the run parted from its schedule at {scheduler.mismatch}",
              file=sys.stderr)
        return 1
    return 130 if outcome.interrupted else 0 if outcome.passed else 1


def _run_twin(args: argparse.Namespace) -> int:
    from occsim.cluster.stories import twin
    from occsim.cluster.view import diagram as view

    if not args.sim or args.schedule:
        raise ValueError("--twin runs a seeded simulation twice: use it with --sim and "
                         "without --schedule")
    rule = twin.parse(args.twin)
    first, second = twin.run_pair(args.scenario, seed=args.seed, es_compat=args.es_compat,
                                  replica_rule=args.replica_rule or "es",
                                  links=args.links or "any", twin=rule)
    print(twin.side_by_side(first, second))
    if args.save_html:
        view.save_html_pages([(first.verdict, first.trace), (second.verdict, second.trace)],
                             args.save_html, doc=args.doc, shard=args.shard)
        print(f"both diagrams written to {args.save_html}")
    return 0 if first.passed else 1


def _cmd_explore(args: argparse.Namespace) -> int:
    from occsim.cluster.stories import explore, runner

    try:
        path = runner.find(args.scenario)
        runner.choose_profile(runner.load(path), args.es_compat)
        if args.max_schedules < 1 or args.jobs < 1:
            raise ValueError("--max-schedules and --jobs must be at least 1")
        os.makedirs(args.save_dir, exist_ok=True)
    except (ValueError, OSError, runner.ScenarioError) as exc:
        print(f"occsim explore: {exc}", file=sys.stderr)
        return 2
    if args.dask and args.strategy == "dfs":
        print("occsim explore: --dask works with --strategy random or pct (a depth-first "
              "search shares its explored states in memory: use --jobs)", file=sys.stderr)
        return 2
    try:
        result = explore.explore(str(path), es_compat=args.es_compat,
                                 replica_rule=args.replica_rule, links=args.links,
                                 strategy=args.strategy, max_schedules=args.max_schedules,
                                 timers=args.timers, seed=args.seed, jobs=args.jobs,
                                 dask=args.dask, independent_docs=args.independent_docs)
    except ValueError as exc:
        print(f"occsim explore: {exc}", file=sys.stderr)
        return 2
    print(explore.report(result, args.scenario, save_dir=args.save_dir,
                         es_compat=args.es_compat, replica_rule=args.replica_rule,
                         links=args.links, timers=args.timers,
                         independent_docs=args.independent_docs))
    return 1 if result.broken else 0


def _save_views(args: argparse.Namespace, events: list[dict], title: str) -> None:
    from occsim.cluster.view import diagram as view

    for fmt in ("text", "svg", "html"):
        path = getattr(args, f"save_{fmt}")
        if path:
            width = {"width": args.width} if fmt == "text" else {}
            view.save(events, path, fmt, doc=args.doc, shard=args.shard, title=title,
                      glyphs=args.glyphs, **width)


def _read_trace(args: argparse.Namespace) -> list[dict] | None:
    """The trace file's events, or None after saying on stderr why it cannot be read."""
    try:
        return trace.read(args.trace)
    except (OSError, UnicodeDecodeError, trace.TraceError) as exc:
        print(f"occsim {args.command}: {exc}", file=sys.stderr)
        return None


def _cmd_replay(args: argparse.Namespace) -> int:
    from occsim.cluster.view import replay

    events = _read_trace(args)
    if events is None:
        return 2
    _save_views(args, events, os.path.basename(args.trace))
    replay.replay(events, step=args.step, speed=args.speed, doc=args.doc, shard=args.shard,
                  width=args.width, glyphs=args.glyphs)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from occsim.cluster.stories import runner, sweep

    try:
        seeds = sweep.parse_seeds(args.seeds)
        path = runner.find(args.scenario)
        if args.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, not {args.jobs}")
    except (ValueError, runner.ScenarioError) as exc:
        print(f"occsim sweep: {exc}", file=sys.stderr)
        return 2
    compat = f" --es-compat {args.es_compat}" if args.es_compat else ""
    compat += "".join(f" --{flag} {value}" for flag, value, default in (
        ("replica-rule", args.replica_rule, "es"), ("links", args.links, "any"))
        if value != default)
    try:
        result = sweep.sweep(str(path), seeds, args.es_compat, jobs=args.jobs,
                             replica_rule=args.replica_rule, links=args.links, dask=args.dask)
    except ValueError as exc:
        print(f"occsim sweep: {exc}", file=sys.stderr)
        return 2
    for seed, failure in result.failures:
        print(f"FAIL seed {seed}: {failure}\n  reproduce: occsim run {args.scenario} --sim "
              f"--seed {seed}{compat}")
    print(f"{result.runs - len(result.failures)} passed, {len(result.failures)} failed: "
          f"{result.runs} runs of {path.stem} in {result.seconds:.1f}s on {result.jobs} "
          f"process{'es' if result.jobs > 1 else ''} ({result.runs / result.seconds:.1f} runs/s, "
          f"{result.messages / result.seconds:,.0f} simulated messages/s)")
    return 0 if result.passed else 1


def _cmd_determinism(args: argparse.Namespace) -> int:
    from occsim.cluster.stories import runner, sweep

    try:
        path = runner.find(args.scenario)
    except runner.ScenarioError as exc:
        print(f"occsim determinism: {exc}", file=sys.stderr)
        return 2
    name = path.stem
    difference = sweep.determinism(str(path), args.seed, args.es_compat)
    if difference is None:
        print(f"identical: two runs of {name} with seed {args.seed} gave the same trace")
        return 0
    print(f"NOT deterministic: {name} seed {args.seed}: {difference}")
    return 1


def _cmd_list(args: argparse.Namespace) -> int:
    from occsim.cluster.stories import runner

    paths = runner.all_scenarios()
    width = max((len(p.stem) for p in paths), default=0)
    for path in paths:
        print(f"{path.stem:<{width}}  {runner.summary(runner.load(path))}")
    return 0


def _manager_address(args: argparse.Namespace) -> tuple[str, str]:
    """Where the running cluster's manager listens, and its secret (from the run file)."""
    info = {}
    if os.path.exists(RUN_FILE):
        try:
            with open(RUN_FILE) as f:
                info = json.load(f)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"occsim: cannot read {RUN_FILE}: {exc}") from None
        if not isinstance(info, dict):
            raise SystemExit(f"occsim: {RUN_FILE} is not the run file `occsim up` writes")
    address = (args.manager or info.get("manager", "")).removeprefix("http://")
    secret = os.environ.get("OCCSIM_SECRET") or info.get("secret", "")
    if not address or not secret:
        raise SystemExit(f"occsim: no running cluster here (no {RUN_FILE}); start one with "
                         "`occsim up`, or pass --manager and set OCCSIM_SECRET")
    return address, secret


def _tell_manager(args: argparse.Namespace, kind: str, body: dict) -> int:
    from occsim.transport.message import Envelope
    from occsim.transport.websocket import post_message

    address, secret = _manager_address(args)
    try:
        reply = asyncio.run(post_message(f"http://{address}", secret,
                                         Envelope("cli:1", "cli", "manager", kind, body)))
    except Exception as exc:
        print(f"occsim {args.command}: cannot reach the manager at {address}: {exc}",
              file=sys.stderr)
        return 1
    if "error" in reply:
        print(f"occsim {args.command}: {reply['error']['reason']}", file=sys.stderr)
        return 1
    print(json.dumps(reply))
    return 0


def _cmd_fault(args: argparse.Namespace) -> int:
    return _tell_manager(args, "fault", {"action": args.command, "target": args.node})


def _cmd_partition(args: argparse.Namespace) -> int:
    side_a = args.side_a.split(",")
    side_b = args.side_b.split(",") if args.side_b else None
    return _tell_manager(args, "partition", {"a": side_a, "b": side_b,
                                             "one_way": args.one_way})


def _cmd_heal(args: argparse.Namespace) -> int:
    return _tell_manager(args, "heal", {})


def _cmd_check(args: argparse.Namespace) -> int:
    from occsim.cluster.trace import checker

    events = _read_trace(args)
    if events is None:
        return 2
    events = trace.merge([events])  # a growing trace is appended batch by batch
    profile = args.es_compat or trace.profile_of(events)
    violations = checker.check(events, profile=profile)
    print(checker.format_report(violations), end="")
    if not any(e["kind"] == "state" for e in events):
        print(f"{len(events)} events, no final copies yet (the cluster still runs?): checked "
              "what is safe so far; convergence and durability are checked once it stops")
    return 1 if violations else 0


def _cmd_console(args: argparse.Namespace) -> int:
    from occsim.cluster.stories import console

    return console.main(args.file, node=args.node, es_compat=args.es_compat, up=args.up,
                        trace_path=args.trace)


def _cmd_bench(args: argparse.Namespace) -> int:
    from occsim.cluster.tools import bench

    return bench.main(args)


def _add_rule_options(p: argparse.ArgumentParser, default: str | None = "") -> None:
    """The counterfactual rules (simulation only)."""
    p.add_argument("--replica-rule", choices=("es", "apply-all"),
                   default="es" if default == "" else default,
                   help="es: replicas ignore an older operation; apply-all: they apply all")
    p.add_argument("--links", choices=("any", "fifo"), default="any" if default == "" else default,
                   help="any: messages may overtake each other; fifo: in order on each link")


def _add_view_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--doc", help="show only this document id")
    p.add_argument("--shard", type=int, help="show only this shard number")
    p.add_argument("--save-text", metavar="FILE")
    p.add_argument("--save-svg", metavar="FILE")
    p.add_argument("--save-html", metavar="FILE")
    p.add_argument("--width", type=int, default=100, help="columns of a plain-text diagram")
    p.add_argument("--glyphs", choices=("unicode", "ascii"), default="unicode",
                   help="ascii: draw without symbols, for fonts that lack them")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="occsim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    node = sub.add_parser("node", help="start one node in the foreground")
    node.add_argument("--port", type=int, default=9200)
    node.add_argument("--host", default="127.0.0.1")
    node.add_argument("--name", default="n1")
    node.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9], default=5)
    node.set_defaults(run=_cmd_node)
    up = sub.add_parser("up", help="start a cluster of node processes")
    _add_cluster_options(up)
    up.add_argument("--live", action="store_true",
                    help="draw everything the cluster does, live, in this terminal")
    up.add_argument("--glyphs", choices=("unicode", "ascii"), default="unicode")
    up.set_defaults(run=lambda a: asyncio.run(_up(a)))
    run = sub.add_parser("run", help="run a scenario and print its verdict")
    run.add_argument("scenario", help="a path or a short name from `occsim list`")
    run.add_argument("--seed", type=int)
    run.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9])
    run.add_argument("--trace", metavar="FILE", help="write the merged trace as JSON lines")
    run.add_argument("--no-live", action="store_true", help="plain text, no live view")
    run.add_argument("--sim", action="store_true",
                     help="one process on virtual time: same seed, same trace")
    run.add_argument("--step", action="store_true",
                     help="hold each shown request until a key is pressed (c: run on, "
                     "q: stop); without --step, p pauses a live run")
    _add_rule_options(run, default=None)
    run.add_argument("--save-schedule", metavar="FILE",
                     help="write the run's schedule (seed, profile, rules, every choice)")
    run.add_argument("--schedule", metavar="FILE",
                     help="replay a saved or hand-written schedule (with --sim)")
    run.add_argument("--twin", metavar="RULE=VALUE",
                     help="run again with one rule changed (replica-rule=apply-all or "
                     "links=fifo) and show both outcomes side by side")
    _add_view_options(run)
    run.set_defaults(run=_cmd_run)
    swp = sub.add_parser("sweep", help="run a scenario in the simulation across many seeds")
    swp.add_argument("scenario")
    swp.add_argument("--seeds", default="1..100", help="an inclusive range, e.g. 1..1000")
    swp.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9])
    swp.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                     help="processes to spread the seeds over (default: one per core)")
    _add_rule_options(swp)
    swp.add_argument("--dask", metavar="tcp://HOST:PORT",
                     help="run on an existing Dask cluster (pip install 'occsim[dask]')")
    exp = sub.add_parser("explore", help="run a story in every delivery order (in the "
                         "simulation) and group the runs by outcome")
    exp.add_argument("scenario")
    exp.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9])
    _add_rule_options(exp)
    exp.add_argument("--strategy", choices=("dfs", "random", "pct"), default="dfs",
                     help="depth-first over every order (default), or sample orders")
    exp.add_argument("--max-schedules", type=int, default=10_000,
                     help="stop after this many runs (default: %(default)s)")
    exp.add_argument("--timers", action="store_true",
                     help="let time pass (timers fire) as a choice, not only deliveries")
    exp.add_argument("--independent-docs", action="store_true",
                     help="also take deliveries about different documents to one node as "
                     "independent (fewer orders; not sound in general, and reported so)")
    exp.add_argument("--seed", type=int, default=0, help="the sampling strategies' seed")
    exp.add_argument("--jobs", type=int, default=1,
                     help="processes to search on (depth-first: they share the states "
                     "explored), or Dask tasks with --dask")
    exp.add_argument("--dask", metavar="tcp://HOST:PORT",
                     help="with --strategy random or pct: sample on an existing Dask cluster")
    exp.add_argument("--save-dir", default="occsim-explore",
                     help="where each class's schedule is written (default: %(default)s)")
    exp.set_defaults(run=_cmd_explore)
    swp.set_defaults(run=_cmd_sweep)
    det = sub.add_parser("determinism",
                         help="run a scenario twice with one seed and compare the traces")
    det.add_argument("scenario")
    det.add_argument("--seed", type=int, default=1)
    det.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9])
    det.set_defaults(run=_cmd_determinism)
    rep = sub.add_parser("replay", help="replay a saved trace in the terminal")
    rep.add_argument("trace")
    rep.add_argument("--step", action="store_true",
                     help="one step per key press, explained (b: back, q: quit); without a "
                     "terminal, every step's sentence")
    rep.add_argument("--speed", type=float, default=1.0,
                     help="steps per half second of the animation (2 = twice as fast)")
    _add_view_options(rep)
    rep.set_defaults(run=_cmd_replay)
    lister = sub.add_parser("list", help="list the scenarios")
    lister.set_defaults(run=_cmd_list)
    for action, text in (("kill", "SIGKILL a node"), ("stop", "stop a node (SIGTERM)"),
                         ("restart", "stop a node and start it again"),
                         ("pause", "freeze a node (SIGSTOP)"), ("resume", "unfreeze a node")):
        fault = sub.add_parser(action, help=f"{text} of the running cluster")
        fault.add_argument("node")
        fault.add_argument("--manager", help="the manager's address (default: the run file)")
        fault.set_defaults(run=_cmd_fault)
    part = sub.add_parser("partition", help="cut a set of nodes from the rest (or from a set)")
    part.add_argument("side_a", help="comma-separated nodes, e.g. n1,n2")
    part.add_argument("side_b", nargs="?", help="the other side (default: every other node)")
    part.add_argument("--one-way", action="store_true", help="cut only side_a → side_b")
    part.add_argument("--manager")
    part.set_defaults(run=_cmd_partition)
    heal = sub.add_parser("heal", help="remove every partition")
    heal.add_argument("--manager")
    heal.set_defaults(run=_cmd_heal)
    check = sub.add_parser("check", help="check a trace: nothing acknowledged was lost, ...")
    check.add_argument("trace")
    check.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9])
    check.set_defaults(run=_cmd_check)
    from occsim.cluster.stories import lesson
    les = sub.add_parser("lesson", help="predict, then reveal: a story's decisive moments as "
                         "questions, scored (or a worksheet)")
    lesson.add_arguments(les)
    les.set_defaults(run=lesson.command)
    ply = sub.add_parser("play", help="choose what the network does next, in the terminal")
    from occsim.cluster.stories import play
    play.add_arguments(ply)
    ply.set_defaults(run=play.command)
    from occsim.cluster.tools.bench import add_arguments as _add_bench_arguments
    bench = sub.add_parser("bench", help="measure writes/s, latency, memory and the "
                           "simulation's speed (or --soak SECONDS)")
    _add_bench_arguments(bench)
    bench.set_defaults(run=_cmd_bench)
    con = sub.add_parser("console", help="send a console file's requests (Kibana console "
                         "style) and print the answers, checked against pasted ones")
    con.add_argument("file", help="a console file (`-` reads standard input)")
    con.add_argument("--node", default="http://127.0.0.1:9200",
                     help="the running node to send to (default: %(default)s)")
    con.add_argument("--es-compat", type=int, choices=[5, 6, 7, 8, 9], default=5,
                     help="the profile of the --up cluster")
    con.add_argument("--up", action="store_true",
                     help="start a 1-node cluster just for the file, and stop it after "
                     "(its Lamport diagram follows the answers, as comments)")
    con.add_argument("--trace", metavar="FILE", help="with --up: write the run's trace")
    con.set_defaults(run=_cmd_console)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
