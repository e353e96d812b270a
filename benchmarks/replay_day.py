"""The sale day at scale: replay a generated day on a generated network and report whether one
core copes (latency, headroom), what batching saves (window sweep) and how far from the
hindsight bound routing ends.

    python -m benchmarks.replay_day                        # 2,000,000 orders on xl
    python -m benchmarks.replay_day --orders 200000 --out /tmp/day  # a tenth, elsewhere
    python -m benchmarks.replay_day --runs "replay greedy 10" --runs "headroom 10" -o /tmp/day
    python -m benchmarks.replay_day --report-only -o /tmp/day   # assemble what has run
    python -m benchmarks.replay_day --update-results       # benchmarks/results/replay_day/

Runs: ``replay SOLVER WINDOW`` (the sweep's windows with the main solver and with ``--also``,
and the rules in real time), ``headroom WINDOW``, ``hindsight``. Each runs in its own process
(``--jobs`` at a time) on a copy of the network's opening state, and is saved under
``OUT/parts/`` as it ends (its per-batch arrays under ``WORK/arrays/``), so a
long benchmark can be run in parts and resumed (runs already saved are skipped). Latency is
CPU time of the run's process, so two runs side by side on two cores measure what one core
does. Writes ``replay_day.md`` (the report, the command, how long each run took),
``replay_day.json`` (every figure) and the plots to OUT: a new folder
``benchmarks/results/runs/replay_day-<UTC time>/``, ``-o DIR`` (give the same DIR again to
resume), or with ``--update-results`` the committed ``benchmarks/results/replay_day/``. Runs
saved under the committed ``replay_day/parts/`` for the same setting (day, solver, budgets,
probes) count as done for any OUT too (read there, never written there without
``--update-results``). Per-batch arrays are kept under ``WORK/arrays/<day>/``.
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

import numpy as np

import router
from benchmarks import output
from router.network import Network
from router.network.day import PEAK_2020, write_generated_day
from router.network.events import Day, read_day
from router.network.replay import (
    ReplayOptions,
    ReplayResult,
    headroom,
    hindsight_bound,
    replay,
)
from router.network.report import cores_for, machine, markdown, plot

SUB = "replay_day"  # the committed results: benchmarks/results/replay_day/

_STATE: dict[str, Any] = {}  # the network, the day and the options, shared with the workers


def _name(run: tuple[Any, ...]) -> str:
    return "-".join(str(x) for x in run)


def _setting(args: argparse.Namespace, run: tuple[Any, ...]) -> dict[str, Any]:
    """What a saved run depends on besides its name: a run saved under another setting (another
    day, budget or probe) is not reused."""
    out: dict[str, Any] = {"day": f"{args.preset}-{args.seed}-{args.orders}"}
    if run[0] == "replay":
        main = run[1] == args.solver
        out.update(time_limit=args.time_limit if main else None,
                   work_limit=args.work_limit if main else
                   args.also_work_limit if run[1] == args.also else None)
    elif run[0] == "headroom":
        out.update(solver=args.solver, time_limit=args.time_limit, max_orders=args.headroom_max)
    else:
        out.update(solver=args.hindsight, time_limit=args.hindsight_time_limit)
    return out


def _run(run: tuple[Any, ...]) -> tuple[tuple[Any, ...], float, float]:
    net: Network = _STATE["net"]
    day: Day = _STATE["day"]
    args = _STATE["args"]
    parts: Path = _STATE["parts"]
    w0, c0 = time.perf_counter(), time.process_time()
    out: dict[str, Any]
    if run[0] == "replay":
        _, solver, window = run
        main = solver == args.solver
        work = args.work_limit if main else args.also_work_limit if solver == args.also else None
        res = replay(net.copy(), day, ReplayOptions(
            window=float(window), solver=solver, time_limit=args.time_limit if main else None,
            work_limit=work, seed=args.seed))
        out = res.metrics
        np.savez_compressed(_STATE["arrays"] / f"{_name(run)}.npz",
                            order_routed=res.order_routed,
                            **{f"batch_{k}": v for k, v in res.batches.items()})
    elif run[0] == "headroom":
        out = headroom(net, day, float(run[1]), solver=args.solver, time_limit=args.time_limit,
                       seed=args.seed, max_orders=args.headroom_max)
    else:
        out = hindsight_bound(net, day, solver=args.hindsight,
                              time_limit=args.hindsight_time_limit, seed=args.seed)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    (parts / f"{_name(run)}.json").write_text(json.dumps(
        {"run": list(run), "setting": _setting(args, run), "result": out, "wall": wall,
         "cpu": cpu}, indent=1, default=str)
        + "\n", encoding="utf-8")
    return run, wall, cpu


def _load(parts: list[Path], run: tuple[Any, ...], args: argparse.Namespace
          ) -> dict[str, Any] | None:
    """The saved run of this setting: from the first of the ``parts`` folders that has it."""
    for folder in parts:
        p = folder / f"{_name(run)}.json"
        if p.exists():
            saved = json.loads(p.read_text(encoding="utf-8"))
            if saved.get("setting") == _setting(args, run):
                return saved
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.replay_day", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="xl")
    p.add_argument("--seed", type=int, default=1, help="network, day, solver and declines")
    p.add_argument("--orders", type=int, default=2_000_000, help="orders over the day")
    p.add_argument("--window", type=float, default=10.0, help="the main run's window")
    p.add_argument("--solver", default="greedy")
    p.add_argument("--time-limit", type=float, default=None)
    p.add_argument("--work-limit", type=int, default=None)
    p.add_argument("--sweep", default="0,1,10,60")
    p.add_argument("--also", default="auto",
                   help="another solver over the sweep's windows above 0 ('none': no other)")
    p.add_argument("--also-work-limit", type=int, default=100,
                   help="its work units per batch (a work budget repeats exactly)")
    p.add_argument("--baselines", default="nearest,fewest-splits",
                   help="rules routed in real time (window 0); greedy at 0 is in the sweep")
    p.add_argument("--hindsight", default="lagrangian", help="bound solver, or 'none'")
    p.add_argument("--hindsight-time-limit", type=float, default=600.0)
    p.add_argument("--headroom-max", type=int, default=500_000,
                   help="largest batch the headroom probe tries")
    p.add_argument("--runs", action="append", metavar="RUN",
                   help="only these runs, e.g. 'replay greedy 10' (repeatable)")
    p.add_argument("--report-only", action="store_true", help="assemble the saved runs")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--work", default="/tmp/router-replay-day", help="where the day is kept")
    output.add_arguments(p)
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    work, out = Path(args.work), output.output_dir(args, "replay_day", sub=SUB)
    parts = out / "parts"
    work.mkdir(parents=True, exist_ok=True)
    parts.mkdir(parents=True, exist_ok=True)
    saved = [parts]  # where saved runs are found: OUT's, then the committed ones
    if (out.resolve() != output.committed(SUB).resolve()
            and (output.committed(SUB) / "parts").is_dir()):
        saved.append(output.committed(SUB) / "parts")

    sweep = [float(w) for w in args.sweep.split(",") if w.strip()]
    rules = [s for s in args.baselines.split(",") if s.strip()]
    runs: list[tuple[Any, ...]] = [("replay", args.solver, w) for w in sweep]
    if args.window not in sweep:
        runs.append(("replay", args.solver, args.window))
    runs += [("replay", s, 0.0) for s in rules]
    also = [] if args.also == "none" else [("replay", args.also, w) for w in sweep if w > 0]
    runs += also
    runs += [("headroom", w) for w in sweep]
    if args.hindsight != "none":
        runs.append(("hindsight",))
    if args.runs:
        wanted = {tuple(r.split()) for r in args.runs}
        runs = [r for r in runs if tuple(str(x) if not isinstance(x, float) else f"{x:g}"
                                         for x in r) in wanted]
    day_path = work / f"day-{args.preset}-{args.seed}-{args.orders}.jsonl"
    # per-batch arrays, per day (large: a real-time day has 2 million batches)
    arrays = work / "arrays" / day_path.stem
    main_run = ("replay", args.solver, args.window)
    # the report plots the main run's batches: it is run again where they were not kept
    todo = [r for r in runs if _load(saved, r, args) is None
            or (r == main_run and not (arrays / f"{_name(r)}.npz").exists())
            ] if not args.report_only else []
    todo.sort(key=lambda r: (r[0] != "replay", r[0] == "replay" and r[2] != 0.0))

    network = router.generate(args.preset, seed=args.seed)
    if not day_path.exists():
        t = time.perf_counter()
        write_generated_day(day_path, network, seed=args.seed, orders=args.orders)
        print(f"{day_path}: generated in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    net = Network(network)
    t = time.perf_counter()
    day = read_day(day_path, net.node_index, net.sku_index, net.ledger.s.pools_of)
    read_s = time.perf_counter() - t
    print(f"{day_path}: {day.n_orders:,} orders, {len(day.events):,} other events, read in "
          f"{read_s:.0f} s; {len(todo)} runs to do", file=sys.stderr)
    arrays.mkdir(parents=True, exist_ok=True)
    _STATE.update(net=net, day=day, args=args, parts=parts, arrays=arrays)
    if todo:
        with mp.get_context("fork").Pool(args.jobs, maxtasksperchild=1) as pool:
            for run, wall, cpu in pool.imap_unordered(_run, todo):
                print(f"{_name(run)}: {wall:,.0f} s wall, {cpu:,.0f} s CPU "
                      f"({time.perf_counter() - t_start:,.0f} s since the start)",
                      file=sys.stderr, flush=True)
    return report(args, out, saved, arrays, network, day, sweep, rules, also, read_s)


def report(args: argparse.Namespace, out: Path, parts: list[Path], arrays_dir: Path,
           network: router.Instance, day: Day, sweep: list[float], rules: list[str],
           also: list[tuple[Any, ...]], read_s: float) -> int:
    main_run = ("replay", args.solver, args.window)
    got = {r: _load(parts, r, args) for r in
           [*(("replay", args.solver, w) for w in {*sweep, args.window}),
            *(("replay", s, 0.0) for s in rules), *also, *(("headroom", w) for w in sweep),
            ("hindsight",)]}
    if got[main_run] is None:
        print(f"the main run ({_name(main_run)}) has not run yet", file=sys.stderr)
        return 1
    arrays = np.load(arrays_dir / f"{_name(main_run)}.npz")
    batches = {k[len("batch_"):]: arrays[k] for k in arrays.files if k.startswith("batch_")}
    m = got[main_run]
    main_res = ReplayResult(
        ReplayOptions(window=args.window, solver=args.solver, time_limit=args.time_limit,
                      work_limit=args.work_limit, seed=args.seed),
        network.name, day.n_orders, day.duration, batches, day.order_t,
        arrays["order_routed"], m["result"], m["wall"], m["cpu"])
    sweep_m = [got[r]["result"] for r in [*(("replay", args.solver, w) for w in sweep), *also]
               if got[r] is not None]
    baselines = {}
    if args.solver == "greedy" and got.get(("replay", "greedy", 0.0)):
        baselines["real time, greedy"] = got[("replay", "greedy", 0.0)]["result"]
    for s in rules:
        if got[("replay", s, 0.0)] is not None:
            baselines[f"real time, {s}"] = got[("replay", s, 0.0)]["result"]
    heads = [got[("headroom", w)]["result"] for w in sweep
             if got[("headroom", w)] is not None]
    hind = got[("hindsight",)]["result"] if got[("hindsight",)] else None
    plots = plot(main_res, sweep_m, out, stem="replay_day")
    command = f"python -m benchmarks.replay_day --preset {args.preset} --seed {args.seed} " \
              f"--orders {args.orders} --window {args.window:g} --solver {args.solver} " \
              f"--sweep {shlex.quote(args.sweep)} --also {args.also} " \
              f"--also-work-limit {args.also_work_limit} --hindsight {args.hindsight} " \
              f"--hindsight-time-limit {args.hindsight_time_limit:g}" \
              + ("" if args.time_limit is None else f" --time-limit {args.time_limit:g}") \
              + ("" if args.work_limit is None else f" --work-limit {args.work_limit}") \
              + "".join(f" {shlex.quote(f)}" for f in output.flags(args))
    text = markdown(main_res, day_path=f"router generate --day --preset {args.preset} --seed "
                                       f"{args.seed} --day-orders {args.orders}",
                    network_path=f"router.generate({args.preset!r}, seed={args.seed})",
                    baselines=baselines, sweep=sweep_m, hindsight=hind, headrooms=heads,
                    plots=plots, command=command)
    done = [(k, v) for k, v in got.items() if v is not None]
    missing = [_name(k) for k, v in got.items() if v is None]
    lines = ["## Runs", "",
             f"{machine()}. Each run in its own process, {args.jobs} at a time, on a copy of "
             f"the opening state; reading the day took {read_s:,.0f} s.", "",
             "| run | wall s | CPU s |", "| --- | ---: | ---: |"]
    lines += [f"| {_name(k)} | {v['wall']:,.0f} | {v['cpu']:,.0f} |" for k, v in sorted(done)]
    total_cpu = sum(v["cpu"] for _, v in done)
    lines += ["", f"CPU time over all runs: {total_cpu / 3600:,.2f} h."]
    if missing:
        lines += ["", "Not run: " + ", ".join(missing) + "."]
    if heads:
        best = max(heads, key=lambda h: h["rate"])
        at = "at least " if best["capped"] else ""
        most = "at most " if best["capped"] else ""
        lines += ["", f"At the best measured headroom ({at}{best['rate']:,.0f} orders/s on one "
                      f"core, batches every {best['window']:g} s), the 583,000 orders/s peak of "
                      f"11/11 2020 is {most}{cores_for(best['rate'], PEAK_2020):,.0f} cores' "
                      f"worth of routing, if the network's orders split into independent "
                      f"shards."]
    (out / "replay_day.md").write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    (out / "replay_day.json").write_text(json.dumps({
        "command": command, "machine": machine(), "main": m["result"], "sweep": sweep_m,
        "baselines": baselines, "headroom": heads, "hindsight": hind,
        "runs": {_name(k): {"wall": v["wall"], "cpu": v["cpu"]} for k, v in done}},
        indent=1, default=str) + "\n", encoding="utf-8")
    print(f"{out / 'replay_day.md'}: written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
