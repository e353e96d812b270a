"""The sale day at scale: replay a generated day on a generated network and report whether one
core copes (latency, headroom), what batching saves (window sweep) and how far from the
hindsight bound routing ends.

    python -m benchmarks.replay_day                        # 2,000,000 orders on xl, 2 processes
    python -m benchmarks.replay_day --orders 200000 --out /tmp/day  # a tenth, elsewhere

Every replay runs in its own process (``--jobs`` at a time) on a copy of the network's opening
state; latency is CPU time of that process, so two replays side by side on two cores measure
what one core does. Writes ``replay_day.md`` (the report, its command and how long it took),
``replay_day.json`` (every figure) and the plots to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import router
from router.network import Network
from router.network.day import PEAK_2020, write_generated_day
from router.network.events import Day, read_day
from router.network.replay import ReplayOptions, headroom, hindsight_bound, replay
from router.network.report import cores_for, machine, markdown, plot

RESULTS = Path(__file__).resolve().parent / "results" / "replay_day"

_STATE: dict[str, Any] = {}  # the network and the day, shared with the forked workers


def _task(task: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any, float, float]:
    net: Network = _STATE["net"]
    day: Day = _STATE["day"]
    args = _STATE["args"]
    w0, c0 = time.perf_counter(), time.process_time()
    kind = task[0]
    if kind == "replay":
        _, solver, window = task
        res = replay(net.copy(), day, ReplayOptions(window=window, solver=solver,
                                                    time_limit=args.time_limit,
                                                    seed=args.seed))
        res.network_after = None
        out: Any = res if (solver, window) == (args.solver, args.window) else res.metrics
    elif kind == "headroom":
        out = headroom(net, day, task[1], solver=args.solver, time_limit=args.time_limit,
                       seed=args.seed, max_orders=args.headroom_max)
    else:
        out = hindsight_bound(net, day, solver=args.hindsight,
                              time_limit=args.hindsight_time_limit, seed=args.seed)
    return task, out, time.perf_counter() - w0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.replay_day", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="xl")
    p.add_argument("--seed", type=int, default=1, help="network, day, solver and declines")
    p.add_argument("--orders", type=int, default=2_000_000, help="orders over the day")
    p.add_argument("--window", type=float, default=10.0, help="the main run's window")
    p.add_argument("--solver", default="greedy")
    p.add_argument("--time-limit", type=float, default=None)
    p.add_argument("--sweep", default="0,1,10,60")
    p.add_argument("--baselines", default="nearest,fewest-splits",
                   help="rules routed in real time (window 0); greedy at 0 is in the sweep")
    p.add_argument("--hindsight", default="lagrangian", help="bound solver, or 'none'")
    p.add_argument("--hindsight-time-limit", type=float, default=600.0)
    p.add_argument("--headroom-max", type=int, default=500_000,
                   help="largest batch the headroom probe tries")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--work", default="/tmp/router-replay-day", help="where the day is kept")
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    network = router.generate(args.preset, seed=args.seed)
    day_path = work / f"day-{args.preset}-{args.seed}-{args.orders}.jsonl"
    if not day_path.exists():
        t = time.perf_counter()
        write_generated_day(day_path, network, seed=args.seed, orders=args.orders)
        print(f"{day_path}: generated in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    net = Network(network)
    t = time.perf_counter()
    day = read_day(day_path, net.node_index, net.sku_index, net.ledger.s.pools_of)
    read_s = time.perf_counter() - t
    print(f"{day_path}: {day.n_orders:,} orders, {len(day.events):,} other events, read in "
          f"{read_s:.0f} s", file=sys.stderr)
    _STATE.update(net=net, day=day, args=args)

    sweep = [float(w) for w in args.sweep.split(",") if w.strip()]
    tasks: list[tuple[Any, ...]] = [("replay", args.solver, w) for w in sweep]
    if args.window not in sweep:
        tasks.append(("replay", args.solver, args.window))
    tasks += [("replay", s, 0.0) for s in args.baselines.split(",") if s.strip()]
    tasks += [("headroom", w) for w in sweep]
    if args.hindsight != "none":
        tasks.append(("hindsight",))
    # the longest first: real-time replays route every order alone
    tasks.sort(key=lambda t: (t[0] != "replay", t[0] == "replay" and t[2] != 0.0))
    done: dict[tuple[Any, ...], Any] = {}
    seconds: dict[str, tuple[float, float]] = {}
    ctx = mp.get_context("fork")
    with ctx.Pool(args.jobs, maxtasksperchild=1) as pool:
        for task, res, wall, cpu in pool.imap_unordered(_task, tasks):
            done[task] = res
            name = " ".join(str(x) for x in task)
            seconds[name] = (wall, cpu)
            print(f"{name}: {wall:,.0f} s wall, {cpu:,.0f} s CPU "
                  f"({time.perf_counter() - t_start:,.0f} s since the start)", file=sys.stderr,
                  flush=True)
    main_res = done[("replay", args.solver, args.window)]
    metric = {k: (v.metrics if hasattr(v, "metrics") else v) for k, v in done.items()}
    sweep_m = [metric[("replay", args.solver, w)] for w in sweep]
    baselines = {f"real time, {s}": metric[("replay", s, 0.0)]
                 for s in args.baselines.split(",") if s.strip()}
    if args.solver == "greedy" and 0.0 in sweep:
        baselines = {"real time, greedy": metric[("replay", "greedy", 0.0)], **baselines}
    heads = [metric[("headroom", w)] for w in sweep]
    hind = metric.get(("hindsight",))
    plots = plot(main_res, sweep_m, out, stem="replay_day")
    total = time.perf_counter() - t_start
    command = "python -m benchmarks.replay_day " + " ".join(shlex.quote(a) for a in
                                                             (argv or sys.argv[1:]))
    text = markdown(main_res, day_path=f"router generate --day --preset {args.preset} --seed "
                                       f"{args.seed} --day-orders {args.orders}",
                    network_path=f"router.generate({args.preset!r}, seed={args.seed})",
                    baselines=baselines, sweep=sweep_m, hindsight=hind, headrooms=heads,
                    plots=plots, command=command)
    best = max(heads, key=lambda h: h["rate"]) if heads else None
    lines = ["", "## Runs", "",
             f"{machine()}; {args.jobs} replays at a time, each in its own process. The whole "
             f"benchmark took {total / 60:,.1f} min wall (the day read in {read_s:,.0f} s).", "",
             "| run | wall s | CPU s |", "| --- | ---: | ---: |"]
    lines += [f"| {k} | {w:,.0f} | {c:,.0f} |" for k, (w, c) in sorted(seconds.items())]
    if best is not None:
        lines += ["", f"At the best measured headroom ({best['rate']:,.0f} orders/s on one core "
                      f"with a {best['window']:g} s window), the 583,000 orders/s peak of 11/11 "
                      f"2020 needs {cores_for(best['rate'], PEAK_2020):,.0f} cores routing "
                      f"independent shards of the network."]
    (out / "replay_day.md").write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    (out / "replay_day.json").write_text(json.dumps({
        "command": command, "machine": machine(), "total_seconds": total,
        "main": main_res.metrics, "sweep": sweep_m, "baselines": baselines, "headroom": heads,
        "hindsight": hind, "seconds": seconds}, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"{out / 'replay_day.md'}: written; {total / 60:,.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
