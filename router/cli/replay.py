"""``router replay DAY --network NET``: route a day of events in rolling batches and report
whether it copes (see :mod:`router.network.replay`)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from router.cli.main import EXIT_OK, add_solver_options, register_command, solver_options
from router.errors import InputError

log = logging.getLogger("router.replay")

BASELINES = (("real time, greedy", "greedy"), ("real time, nearest", "nearest"),
             ("real time, fewest-splits", "fewest-splits"))


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "replay", help="route a day of events in rolling batches; latency, cost, headroom",
        description="Replay a day (router generate --day) on a network: batches close every "
                    "WINDOW seconds of the simulated day and are routed and committed against "
                    "the ledger; store declines are drawn from the stores' acceptance "
                    "probabilities. Writes a Markdown report (stdout, or --report) and plots.")
    p.add_argument("day", help="the day's events (JSON Lines, router/day-v1)")
    p.add_argument("--network", required=True, metavar="NET",
                   help="an instance file (its nodes) or a ledger file from `router network "
                        "init` (the replay commits into it)")
    p.add_argument("--window", type=float, default=10.0, metavar="W",
                   help="seconds between batches; 0: each order routed at its arrival "
                        "(default 10)")
    p.add_argument("--solver", default=None,
                   help="solver per batch (default greedy; distributed with --ray)")
    add_solver_options(p, "route every batch")
    p.add_argument("--time-limit", type=float, default=None, metavar="T",
                   help="seconds per batch, compilation included (default: none)")
    p.add_argument("--work-limit", type=int, default=None, metavar="N",
                   help="work units per batch (the solver's, see `router solvers`): a replay "
                        "that stops by work repeats exactly for a seed")
    p.add_argument("--seed", type=int, default=0, help="solver seed and decline draws")
    p.add_argument("--pace", type=float, default=0.0, metavar="P",
                   help="0: as fast as possible (default); 1: real time; P: P times faster")
    p.add_argument("--capacity-window", type=float, default=3600.0, metavar="S",
                   help="seconds a node's capacity applies to (default 3600; instance files)")
    p.add_argument("--wait-limit", type=float, default=7200.0, metavar="S",
                   help="seconds units may wait in the backorder queue (default 7200)")
    p.add_argument("--no-declines", action="store_true",
                   help="stores accept every shipment (ignore acceptance probabilities)")
    p.add_argument("--ledger", metavar="FILE",
                   help="persist the replay in a new ledger file (with an instance NET)")
    g = p.add_argument_group("comparisons (on copies of the network's initial state)")
    g.add_argument("--baselines", action="store_true",
                   help="also replay real-time routing (window 0) with greedy, nearest and "
                        "fewest-splits")
    g.add_argument("--sweep", metavar="W,W,...",
                   help="also replay at these windows with the same solver, e.g. 0,1,10,60")
    g.add_argument("--headroom", action="store_true",
                   help="measure the highest arrival rate one core sustains per window")
    g.add_argument("--hindsight", choices=("lagrangian", "lp-bound"),
                   help="bound the day's cost by the whole day as one batch")
    g.add_argument("--hindsight-time-limit", type=float, default=120.0, metavar="S")
    o = p.add_argument_group("output")
    o.add_argument("--report", metavar="FILE.md", help="the Markdown report (default stdout)")
    o.add_argument("--plots", metavar="DIR",
                   help="directory for the PNG plots (default: beside --report)")
    o.add_argument("--json", metavar="FILE", help="every figure as JSON")


class _Progress:
    """A progress bar on a terminal, else a log line every 10 s."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, frac: float, info: dict[str, Any]) -> None:
        h = int(info["t"])
        clock = f"{h // 3600:02d}:{h % 3600 // 60:02d}:{h % 60:02d}"
        text = (f"{self.label}: {100 * frac:5.1f}% day {clock}, {info['orders']:,} orders, "
                f"{info['batches']:,} batches, p99 {info['p99_ms']:.1f} ms")
        if self.tty:
            width = 24
            done = int(width * min(frac, 1.0))
            sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {text}\x1b[K")
            sys.stderr.flush()
        elif time.monotonic() - self.last >= 10.0:
            self.last = time.monotonic()
            print(text, file=sys.stderr, flush=True)

    def done(self, seconds: float) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[K")
        print(f"{self.label}: done in {seconds:,.1f} s", file=sys.stderr, flush=True)


def _windows(text: str | None) -> list[float]:
    if not text:
        return []
    try:
        ws = [float(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise InputError([("--sweep", "must be a comma-separated list of seconds")],
                         "replay") from None
    if any(not w >= 0 for w in ws):
        raise InputError([("--sweep", "windows must be >= 0")], "replay")
    return ws


def cmd_replay(args: argparse.Namespace) -> int:
    from router.instance import Instance
    from router.io.read import load
    from router.network import Network
    from router.network.events import read_day
    from router.network.replay import (
        ReplayOptions,
        check_day,
        headroom,
        hindsight_bound,
        replay,
    )
    from router.network.report import markdown, plot
    from router.solvers.registry import get

    solver, options = solver_options(args.solver, args.param, args.ray, "greedy")
    get(solver)  # an unknown solver is reported before any work
    # ... and an unknown option (the error names the valid ones)
    opt = ReplayOptions(window=args.window, solver=solver, time_limit=args.time_limit,
                        work_limit=args.work_limit, seed=args.seed, pace=args.pace,
                        declines=not args.no_declines, solver_options=options)
    sweep_w = _windows(args.sweep)
    for path in (args.report, args.json):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if args.network.endswith(".db"):
        if args.ledger:
            raise InputError([("--ledger", "only with an instance file as --network")],
                             "replay")
        net = Network.open(args.network)
    else:
        inst = load(args.network)
        if not isinstance(inst, Instance):
            raise InputError([("", "a network must be a router/instance-v1 file")],
                             args.network)
        params = {"capacity_window": args.capacity_window, "wait_limit": args.wait_limit}
        net = (Network.create(inst, args.ledger, **params) if args.ledger
               else Network(inst, **params))
    with net:
        t0 = time.perf_counter()
        day = read_day(args.day, net.node_index, net.sku_index, net.ledger.s.pools_of)
        check_day(net, day)
        print(f"{args.day}: {day.n_orders:,} orders, {len(day.events):,} other events, "
              f"read in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        start = net.copy()
        runs: dict[tuple[str, float], Any] = {}

        def run(label: str, network: Network, o: ReplayOptions) -> Any:
            pr = _Progress(label)
            t = time.perf_counter()
            res = replay(network, day, o, progress=pr)
            pr.done(time.perf_counter() - t)
            runs[(o.solver, o.window)] = res
            return res

        main = run(f"replay ({opt.solver}, window {opt.window:g} s)", net, opt)
        main_metrics = main.metrics
        main.network_after = None
        baselines: dict[str, dict[str, Any]] = {}
        if args.baselines:
            for name, solver in BASELINES:
                key = (solver, 0.0)
                if key not in runs:
                    o = ReplayOptions(window=0.0, solver=solver, seed=opt.seed,
                                      declines=opt.declines)
                    run(name, start.copy(), o).network_after = None
                baselines[name] = runs[key].metrics
        sweep: list[dict[str, Any]] = []
        for w in sweep_w:
            key = (opt.solver, w)
            if key not in runs:
                o = ReplayOptions(window=w, solver=opt.solver, time_limit=opt.time_limit,
                                  work_limit=opt.work_limit, seed=opt.seed,
                                  declines=opt.declines, solver_options=opt.solver_options)
                run(f"sweep ({opt.solver}, window {w:g} s)", start.copy(), o).network_after = None
            sweep.append(runs[key].metrics)
        heads = []
        if args.headroom:
            for w in sweep_w or [opt.window]:
                t = time.perf_counter()
                heads.append(headroom(start, day, w, solver=opt.solver,
                                      time_limit=opt.time_limit, seed=opt.seed,
                                      solver_options=opt.solver_options))
                print(f"headroom at window {w:g} s: {heads[-1]['rate']:,.0f} orders/s "
                      f"({time.perf_counter() - t:.0f} s)", file=sys.stderr)
        hind = None
        if args.hindsight:
            hind = hindsight_bound(start, day, solver=args.hindsight,
                                   time_limit=args.hindsight_time_limit, seed=opt.seed)
            print(f"hindsight bound ({args.hindsight}): {hind['bound']}", file=sys.stderr)
        plots: dict[str, str] = {}
        plot_dir = args.plots or (str(Path(args.report).parent) if args.report else None)
        if plot_dir:
            try:
                stem = Path(args.report).stem if args.report else "replay"
                plots = plot(main, sweep, plot_dir, stem=stem)
                if args.report:
                    rel = os.path.relpath(plot_dir, Path(args.report).parent)
                    plots = {k: str(Path(rel) / v) for k, v in plots.items()}
            except ImportError:
                print("replay: matplotlib is not installed: no plots", file=sys.stderr)
        command = "router replay " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
            if len(sys.argv) > 1 and sys.argv[1] == "replay" else ""
        text = markdown(main, day_path=args.day, network_path=args.network,
                        baselines=baselines, sweep=sweep, hindsight=hind, headrooms=heads,
                        plots=plots, command=command)
        if args.report:
            Path(args.report).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"main": main_metrics, "baselines": baselines, "sweep": sweep,
                 "headroom": heads, "hindsight": hind}, indent=1, default=str) + "\n",
                encoding="utf-8")
        m = main_metrics
        print(f"replay: {m['orders']:,} orders in {m['batches']:,} batches; latency p50 "
              f"{1e3 * m['latency_p50']:.2f} ms, p99 {1e3 * m['latency_p99']:.2f} ms, max "
              f"{1e3 * m['latency_max']:.2f} ms (CPU); cost {m['cost']['total']:,.2f} "
              f"({m['cost_per_order']:.4f} per order); units "
              f"{'balanced' if m['units']['balanced'] else 'NOT BALANCED'}", file=sys.stderr)
    return EXIT_OK


register_command(add_parser, "replay", cmd_replay)
